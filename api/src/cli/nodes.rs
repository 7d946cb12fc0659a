//! `weft nodes [--json]`: the node catalogue.

use std::process::ExitCode;

use std::fmt::Write;

use clap::Args;

use super::common::{NodeOptions, engine};

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Print the catalogue as JSON (ports, types, config schemas).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub nodes: NodeOptions,
}

pub async fn run(args: NodesArgs) -> anyhow::Result<ExitCode> {
    let engine = engine(&args.nodes).await?;
    let catalog = engine.registry().catalog().await;
    if args.json {
        super::out(&format!("{}\n", serde_json::to_string_pretty(&catalog)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for entry in &catalog {
        let source = match entry.source {
            weft_editor_protocol::spec::NodeSource::Builtin => "",
            weft_editor_protocol::spec::NodeSource::Custom => " (custom)",
        };
        let _ = writeln!(
            text,
            "{}@{}{source}\n    {}",
            entry.info.type_name, entry.info.version, entry.info.summary
        );
        match &entry.spec {
            Some(spec) => {
                for p in &spec.inputs {
                    let req = if p.required { "" } else { "?" };
                    let multi = if p.multi { " (multi)" } else { "" };
                    let _ = writeln!(text, "    in  {}{req}: {}{multi}", p.name, p.ty);
                }
                for p in &spec.outputs {
                    let _ = writeln!(text, "    out {}: {}", p.name, p.ty);
                }
                if !spec.capabilities.is_empty() {
                    let caps: Vec<&str> = spec.capabilities.iter().map(|c| c.as_str()).collect();
                    let _ = writeln!(text, "    needs {}", caps.join(", "));
                }
            }
            None => {
                let _ = writeln!(
                    text,
                    "    ports depend on config ({})",
                    entry.needs_config.as_deref().unwrap_or("config required")
                );
            }
        }
        if let Some(props) = entry
            .config_schema
            .get("properties")
            .and_then(|p| p.as_object())
            && !props.is_empty()
        {
            let names: Vec<&str> = props.keys().map(String::as_str).collect();
            let _ = writeln!(text, "    config: {}", names.join(", "));
        }
    }
    super::out(&text)?;
    Ok(ExitCode::SUCCESS)
}
