//! `weft run FLOW.json [--input JSON|@file] [--events jsonl]`: runs a flow,
//! prints its outputs on stdout and its progress on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};
use weft_editor_protocol::events::RunStatus;
use weft_runtime::executor::new_run_id;
use weft_runtime::{EngineError, RunOptions};

use super::common::{NodeOptions, engine, read_flow};
use super::progress::Printer;
use super::validate::{plural, render_text};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The flow document.
    pub flow: PathBuf,
    /// The flow's inputs: a JSON object, or `@path` to read one from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub input: Option<String>,
    /// Write every run event to stderr as one JSON line, instead of the
    /// human-readable progress.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventsFormat>,
    #[command(flatten)]
    pub nodes: NodeOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    Jsonl,
}

fn parse_inputs(arg: Option<&str>) -> anyhow::Result<Map<String, Value>> {
    let Some(arg) = arg else {
        return Ok(Map::new());
    };
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("--input: cannot read {path}"))?,
            path.to_string(),
        ),
        None => (arg.to_string(), "--input".to_string()),
    };
    let hint = if arg.starts_with('@') {
        ""
    } else {
        " (to read the inputs from a file, pass `--input @path`)"
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{origin}: not valid JSON{hint}"))?;
    match value {
        Value::Object(map) => Ok(map),
        other => anyhow::bail!(
            "{origin}: expected a JSON object of inputs, found {}",
            weft_editor_protocol::types::json_kind(&other)
        ),
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let inputs = parse_inputs(args.input.as_deref())?;
    let text = read_flow(&args.flow)?;
    let engine = engine(&args.nodes).await?;
    let file = args.flow.display().to_string();
    let plan = match engine.compile_text(&text).await {
        Ok(plan) => plan,
        Err(EngineError::Invalid(diags)) => {
            eprint!("{}", render_text(&file, &diags));
            anyhow::bail!(
                "{file}: {} problem{}; not running it",
                diags.len(),
                plural(diags.len())
            );
        }
        Err(e) => return Err(e.into()),
    };

    // Bad inputs are the caller's mistake, reported before anything runs.
    if let Err(errors) = weft_runtime::executor::values::prepare_inputs(&plan, &inputs) {
        anyhow::bail!("--input: {}", errors.join("; "));
    }

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = Printer::spawn(rx, args.events == Some(EventsFormat::Jsonl));
    let mut opts = RunOptions::new(new_run_id(), Arc::new(tx));
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    opts.preview_limit = weft_runtime::executor::DEFAULT_PREVIEW_LIMIT;
    let outcome = engine.run(plan, inputs, opts).await;
    printer.finish().await;

    match outcome.status {
        RunStatus::Succeeded => {
            super::out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&outcome.outputs)?
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        status => {
            let error = outcome.error.map(|e| match e.node {
                Some(node) => format!("node `{node}`: {} [{}]", e.message, e.code),
                None => format!("{} [{}]", e.message, e.code),
            });
            let verb = if status == RunStatus::Cancelled {
                "cancelled"
            } else {
                "failed"
            };
            anyhow::bail!("run {verb}: {}", error.unwrap_or_default())
        }
    }
}
