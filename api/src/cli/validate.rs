//! `weft validate FLOW.json [--format json]`: every problem at once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use weft_editor_protocol::Diagnostic;

use super::common::{NodeOptions, engine, read_flow};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The flow document.
    pub flow: PathBuf,
    /// `text`: one line per problem; `json`: `{"valid": bool, "errors": [...]}`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub nodes: NodeOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// One line per diagnostic: `FILE:LINE:COL: POINTER: [node `N` [port `P`]:] MESSAGE [code]`.
pub fn render_text(file: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        if d.line.is_some() {
            out.push_str(&format!("{file}:{d}\n"));
        } else {
            out.push_str(&format!("{file}: {d}\n"));
        }
    }
    out
}

pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let text = read_flow(&args.flow)?;
    let engine = engine(&args.nodes).await?;
    let file = args.flow.display().to_string();
    let result = engine.validate_text(&text).await;
    match args.format {
        Format::Json => {
            let errors = result.as_ref().err().cloned().unwrap_or_default();
            let body =
                serde_json::json!({ "valid": result.is_ok(), "file": file, "errors": errors });
            super::out(&format!("{}\n", serde_json::to_string_pretty(&body)?))?;
        }
        Format::Text => match &result {
            Ok(flow) => super::out(&format!(
                "{file}: ok ({} node{}, {} edge{})\n",
                flow.doc.nodes.len(),
                plural(flow.doc.nodes.len()),
                flow.doc.edges.len(),
                plural(flow.doc.edges.len())
            ))?,
            Err(diags) => {
                super::out(&render_text(&file, diags))?;
                eprintln!("{file}: {} problem{}", diags.len(), plural(diags.len()));
            }
        },
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
