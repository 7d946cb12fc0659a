//! Editor runs: pinned node outputs, runs restricted to a set of nodes
//! (stop at a node), and full node values kept for run history (their
//! redaction is checked in `http.rs`).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use weft_editor_protocol::events::{EventBody, RunStatus};
use weft_runtime::{RunOptions, VecSink};

/// `input.name` → greet (template) → shout (upper) → log (debug.log).
fn chain() -> Value {
    json!({"weft": 1, "name": "chain", "inputs": {"name": "string"},
           "nodes": [
             {"id": "greet", "type": "text.template", "config": {"template": "hello {{ name }}"}},
             {"id": "shout", "type": "text.upper"},
             {"id": "log", "type": "debug.log"}
           ],
           "edges": [
             {"from": "input.name", "to": "greet.name"},
             {"from": "greet.text", "to": "shout.text"},
             {"from": "shout.text", "to": "log.value"}
           ],
           "outputs": {"greeting": "greet.text", "out": "log.value"}})
}

async fn run_with(
    flow: Value,
    inputs: Value,
    tweak: impl FnOnce(&mut RunOptions),
) -> (
    weft_runtime::RunOutcome,
    Vec<weft_editor_protocol::RunEvent>,
) {
    let engine = common::engine().await;
    let plan = common::plan(&engine, flow).await;
    let sink = VecSink::new();
    let mut opts = RunOptions::new("partial", Arc::new(sink.clone()));
    tweak(&mut opts);
    let inputs: Map<String, Value> = inputs.as_object().cloned().unwrap_or_default();
    let outcome = engine.run(plan, inputs, opts).await;
    let events = sink.events();
    common::assert_well_formed(&events);
    (outcome, events)
}

#[tokio::test]
async fn pinned_nodes_do_not_run_and_feed_their_consumers() {
    let (outcome, events) = run_with(chain(), json!({"name": "ada"}), |o| {
        o.pinned = HashMap::from([(
            "greet".to_string(),
            json!({"text": "pinned text"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )]);
        o.record_values = true;
    })
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["greeting"], json!("pinned text"));
    assert_eq!(outcome.outputs["out"], json!("PINNED TEXT"));
    // `greet` never started; it finished as pinned.
    assert_eq!(common::kinds_for(&events, "greet"), vec!["node.finished"]);
    let pinned = events.iter().any(|e| {
        matches!(&e.body, EventBody::NodeFinished(f) if f.node == "greet" && f.pinned && f.attempts == 0)
    });
    assert!(pinned, "{events:?}");
    // Recorded values: pinned first, then the nodes that ran.
    let ids: Vec<&str> = outcome.nodes.keys().map(String::as_str).collect();
    assert_eq!(ids, ["greet", "shout", "log"]);
    assert!(outcome.nodes["greet"].pinned);
    assert_eq!(outcome.nodes["shout"].inputs["text"], json!("pinned text"));
    assert_eq!(outcome.nodes["shout"].outputs["text"], json!("PINNED TEXT"));
}

#[tokio::test]
async fn bad_pins_fail_the_run_naming_every_problem() {
    let (outcome, events) = run_with(chain(), json!({"name": "ada"}), |o| {
        o.pinned = HashMap::from([
            ("nope".to_string(), Map::new()),
            (
                "greet".to_string(),
                json!({"text": 5, "other": "x"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        ]);
    })
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "pinned");
    for part in [
        "`nope` is not in the flow",
        "`greet.text` (string)",
        "no output `other`",
    ] {
        assert!(error.message.contains(part), "{part}: {}", error.message);
    }
    // No node started.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.body, EventBody::NodeStarted(_)))
    );
}

#[tokio::test]
async fn only_runs_the_chosen_nodes() {
    // Stop at `shout`: `greet` and `shout` run, `log` is skipped.
    let (outcome, events) = run_with(chain(), json!({"name": "ada"}), |o| {
        o.only = Some(HashSet::from(["greet".to_string(), "shout".to_string()]));
    })
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["greeting"], json!("hello ada"));
    assert_eq!(outcome.outputs.get("out"), None);
    assert_eq!(common::kinds_for(&events, "log"), vec!["node.skipped"]);
    assert_eq!(
        common::kinds_for(&events, "shout"),
        vec!["node.started", "node.finished"]
    );
    // Nothing recorded unless asked.
    assert!(outcome.nodes.is_empty());
}
