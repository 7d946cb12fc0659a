//! `weft nodes [--json]`: the node catalogue.

use std::process::ExitCode;

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
        println!("{}", serde_json::to_string_pretty(&catalog)?);
        return Ok(ExitCode::SUCCESS);
    }
    for entry in &catalog {
        let source = match entry.source {
            weft_editor_protocol::spec::NodeSource::Builtin => "",
            weft_editor_protocol::spec::NodeSource::Custom => " (custom)",
        };
        println!(
            "{}@{}{source}\n    {}",
            entry.info.type_name, entry.info.version, entry.info.summary
        );
        match &entry.spec {
            Some(spec) => {
                for p in &spec.inputs {
                    let req = if p.required { "" } else { "?" };
                    let multi = if p.multi { " (multi)" } else { "" };
                    println!("    in  {}{req}: {}{multi}", p.name, p.ty);
                }
                for p in &spec.outputs {
                    println!("    out {}: {}", p.name, p.ty);
                }
                if !spec.capabilities.is_empty() {
                    let caps: Vec<&str> = spec.capabilities.iter().map(|c| c.as_str()).collect();
                    println!("    needs {}", caps.join(", "));
                }
            }
            None => println!(
                "    ports depend on config ({})",
                entry.needs_config.as_deref().unwrap_or("config required")
            ),
        }
        if let Some(props) = entry
            .config_schema
            .get("properties")
            .and_then(|p| p.as_object())
            && !props.is_empty()
        {
            let names: Vec<&str> = props.keys().map(String::as_str).collect();
            println!("    config: {}", names.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
