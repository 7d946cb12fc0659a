//! Shared setup for the runtime's integration tests.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use weft_editor_protocol::events::{EventBody, RunEvent};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig, RunOptions, RunOutcome, VecSink};

/// A component cache shared by all test runs (under the target dir).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("weft-component-cache")
}

pub async fn engine() -> Engine {
    engine_with(HostConfig {
        cache_dir: Some(cache_dir()),
        ..HostConfig::default()
    })
    .await
}

pub async fn engine_with(host: HostConfig) -> Engine {
    Engine::new(EngineConfig {
        host,
        test_guests: true,
        ..EngineConfig::default()
    })
    .await
    .expect("engine with built-ins and test guests")
}

/// Compiles a flow given as a JSON value, panicking with every diagnostic.
pub async fn plan(engine: &Engine, flow: Value) -> Arc<weft_runtime::plan::Plan> {
    let text = flow.to_string();
    match engine.compile_text(&text).await {
        Ok(plan) => plan,
        Err(weft_runtime::EngineError::Invalid(diags)) => {
            let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("flow is invalid:\n{}", lines.join("\n"))
        }
        Err(e) => panic!("{e}"),
    }
}

/// Runs a flow and returns its outcome and every event.
pub async fn run(engine: &Engine, flow: Value, inputs: Value) -> (RunOutcome, Vec<RunEvent>) {
    let plan = plan(engine, flow).await;
    let sink = VecSink::new();
    let inputs: Map<String, Value> = inputs.as_object().cloned().unwrap_or_default();
    let outcome = engine
        .run(
            plan,
            inputs,
            RunOptions::new("test-run", Arc::new(sink.clone())),
        )
        .await;
    (outcome, sink.events())
}

/// The events about one node, as `type` strings.
pub fn kinds_for(events: &[RunEvent], node: &str) -> Vec<&'static str> {
    events
        .iter()
        .filter(|e| e.body.node() == Some(node))
        .map(|e| e.body.kind())
        .collect()
}

/// Checks the invariants every run's events satisfy: seq 1..=N without
/// gaps, `run.started` first, `run.finished` last and only once.
pub fn assert_well_formed(events: &[RunEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "sequence gap at event {i}: {e:?}");
    }
    assert!(matches!(
        events.first().map(|e| &e.body),
        Some(EventBody::RunStarted(_))
    ));
    assert!(matches!(
        events.last().map(|e| &e.body),
        Some(EventBody::RunFinished(_))
    ));
    let finished = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::RunFinished(_)))
        .count();
    assert_eq!(finished, 1, "exactly one run.finished");
}
