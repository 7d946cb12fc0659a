//! The executor: retries with backoff, non-retryable errors, per-attempt
//! deadlines, `on_error: continue`, dead-branch skips and their
//! propagation, cancellation, run deadlines, bounded concurrency, flow
//! input checks, run-time type checks on loosely typed edges, and the
//! shape of the event stream.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, json};
use weft_editor_protocol::events::{EventBody, NodeFailed, RunStatus};
use weft_runtime::{RunOptions, VecSink};

fn failures(events: &[weft_editor_protocol::RunEvent], node: &str) -> Vec<NodeFailed> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::NodeFailed(f) if f.node == node => Some(f.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn retries_with_backoff_until_success() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        json!({"weft": 1, "name": "retry",
               "nodes": [{"id": "f", "type": "test.flaky", "config": {"fail_attempts": 2},
                          "policy": {"retry": {"max_attempts": 3, "backoff_ms": 5, "multiplier": 3}}}],
               "outputs": {"attempt": "f.attempt"}}),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["attempt"], json!(3));
    let failed = failures(&events, "f");
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|f| f.will_retry));
    assert_eq!(failed[0].retry_in_ms, Some(5));
    assert_eq!(failed[1].retry_in_ms, Some(15));
    common::assert_well_formed(&events);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_fail_the_run() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        json!({"weft": 1, "name": "retry",
               "nodes": [{"id": "f", "type": "test.flaky", "config": {"fail_attempts": 5},
                          "policy": {"retry": {"max_attempts": 2, "backoff_ms": 1}}}],
               "outputs": {}}),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.expect("error");
    assert_eq!(error.code, "test.flaky");
    assert_eq!(error.node.as_deref(), Some("f"));
    let failed = failures(&events, "f");
    assert_eq!(
        failed.iter().map(|f| f.will_retry).collect::<Vec<_>>(),
        vec![true, false]
    );
}

#[tokio::test]
async fn non_retryable_errors_are_not_retried() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        json!({"weft": 1, "name": "fatal",
               "nodes": [{"id": "f", "type": "test.fail",
                          "config": {"code": "bad.input", "message": "no", "retryable": false},
                          "policy": {"retry": {"max_attempts": 5, "backoff_ms": 1}}}],
               "outputs": {}}),
        json!({}),
    )
    .await;
    assert_eq!(outcome.error.expect("error").code, "bad.input");
    assert_eq!(
        common::kinds_for(&events, "f"),
        vec!["node.started", "node.failed"]
    );
}

#[tokio::test]
async fn each_attempt_has_its_own_deadline() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        json!({"weft": 1, "name": "slow",
               "nodes": [{"id": "s", "type": "test.sleep", "config": {"ms": 5000},
                          "policy": {"timeout_ms": 50, "retry": {"max_attempts": 2, "backoff_ms": 1}}}],
               "outputs": {}}),
        json!({}),
    )
    .await;
    let error = outcome.error.expect("error");
    assert_eq!(error.code, "deadline_exceeded");
    assert_eq!(
        failures(&events, "s").len(),
        2,
        "deadline failures are retried"
    );
}

#[tokio::test]
async fn on_error_continue_routes_the_error_and_skips_the_success_path() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        json!({"weft": 1, "name": "continue",
               "nodes": [
                 {"id": "f", "type": "test.fail", "config": {"code": "x.y", "message": "broken"},
                  "policy": {"on_error": "continue"}},
                 {"id": "ok", "type": "text.template", "config": {"template": "ok {{ v }}"}},
                 {"id": "why", "type": "json.get", "config": {"path": "message"}}
               ],
               "edges": [
                 {"from": "f.value", "to": "ok.v"},
                 {"from": "f.error", "to": "why.value"}
               ],
               "outputs": {"ok": "ok.text", "why": "why.value", "code": "f.error.code"}}),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs.get("ok"), None, "the success path is dead");
    assert_eq!(outcome.outputs["why"], json!("broken"));
    assert_eq!(outcome.outputs["code"], json!("x.y"));
    assert!(failures(&events, "f")[0].handled);
    assert_eq!(common::kinds_for(&events, "ok"), vec!["node.skipped"]);
}

#[tokio::test]
async fn skips_propagate_down_a_dead_branch() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        json!({"weft": 1, "name": "branch", "inputs": {"n": "int"},
               "nodes": [
                 {"id": "check", "type": "logic.if", "config": {"op": "gt", "operand": 10}},
                 {"id": "a", "type": "text.template", "config": {"template": "big {{ n }}"}},
                 {"id": "b", "type": "text.upper"},
                 {"id": "c", "type": "debug.log"},
                 {"id": "small", "type": "text.template", "config": {"template": "small {{ n }}"}}
               ],
               "edges": [
                 {"from": "input.n", "to": "check.value"},
                 {"from": "check.true", "to": "a.n"},
                 {"from": "a.text", "to": "b.text"},
                 {"from": "b.text", "to": "c.value"},
                 {"from": "check.false", "to": "small.n"}
               ],
               "outputs": {"big": "c.value", "small": "small.text"}}),
        json!({"n": 3}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs.get("big"), None);
    assert_eq!(outcome.outputs["small"], json!("small 3"));
    for node in ["a", "b", "c"] {
        assert_eq!(
            common::kinds_for(&events, node),
            vec!["node.skipped"],
            "{node}"
        );
    }
    let reason = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::NodeSkipped(s) if s.node == "b" => Some(s.reason.clone()),
            _ => None,
        })
        .expect("b skipped");
    assert!(reason.contains("`a` was skipped"), "{reason}");
}

#[tokio::test]
async fn cancelling_a_run_stops_its_running_nodes() {
    let engine = common::engine().await;
    let plan = common::plan(
        &engine,
        json!({"weft": 1, "name": "spin",
               "nodes": [{"id": "spin", "type": "test.loop", "policy": {"timeout_ms": 600000}},
                         {"id": "nap", "type": "test.sleep", "config": {"ms": 600000},
                          "policy": {"timeout_ms": 600000}}],
               "outputs": {}}),
    )
    .await;
    let sink = VecSink::new();
    let opts = RunOptions::new("cancel-me", Arc::new(sink.clone()));
    let cancel = opts.cancel.clone();
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run(plan, Map::new(), opts).await }
    });
    // Wait until both nodes are running, then cancel.
    for _ in 0..1000 {
        let started = sink
            .events()
            .iter()
            .filter(|e| matches!(e.body, EventBody::NodeStarted(_)))
            .count();
        if started == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    // Without prompt cancellation this would wait ten minutes; the guard
    // only turns a hang into a failure.
    let outcome = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run stops after cancel")
        .expect("run task");
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let events = sink.events();
    common::assert_well_formed(&events);
    for node in ["spin", "nap"] {
        let f = failures(&events, node);
        assert_eq!(f.len(), 1, "{node}: {f:?}");
        assert_eq!(f[0].error.code, "cancelled");
    }
}

#[tokio::test]
async fn a_run_deadline_stops_the_run() {
    let engine = common::engine().await;
    let (outcome, _) = common::run(
        &engine,
        json!({"weft": 1, "name": "slow", "settings": {"run_timeout_ms": 100},
               "nodes": [{"id": "nap", "type": "test.sleep", "config": {"ms": 600000},
                          "policy": {"timeout_ms": 600000}}],
               "outputs": {}}),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error.expect("error").code, "run_timeout");
}

/// Start and finish sequence numbers of the given nodes.
fn spans(events: &[weft_editor_protocol::RunEvent], prefix: &str) -> Vec<(u64, u64)> {
    let mut starts = std::collections::HashMap::new();
    let mut spans = Vec::new();
    for e in events {
        match &e.body {
            EventBody::NodeStarted(s) if s.node.starts_with(prefix) => {
                starts.insert(s.node.clone(), e.seq);
            }
            EventBody::NodeFinished(f) if f.node.starts_with(prefix) => {
                spans.push((starts[&f.node], e.seq));
            }
            _ => {}
        }
    }
    spans
}

fn sleepers(n: usize, max_concurrency: u32) -> serde_json::Value {
    let nodes: Vec<_> = (0..n)
        .map(|i| json!({"id": format!("s{i}"), "type": "test.sleep", "config": {"ms": 100}}))
        .collect();
    json!({"weft": 1, "name": "sleepers", "settings": {"max_concurrency": max_concurrency},
           "nodes": nodes, "outputs": {}})
}

#[tokio::test]
async fn independent_branches_overlap_in_time() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(&engine, sleepers(4, 16), json!({})).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let spans = spans(&events, "s");
    let first_finish = spans.iter().map(|s| s.1).min().expect("spans");
    assert!(
        spans.iter().all(|s| s.0 < first_finish),
        "all four start before any finishes: {spans:?}"
    );
}

#[tokio::test]
async fn max_concurrency_bounds_a_run() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(&engine, sleepers(3, 1), json!({})).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let mut spans = spans(&events, "s");
    spans.sort();
    assert!(
        spans.windows(2).all(|w| w[0].1 < w[1].0),
        "one at a time: {spans:?}"
    );
}

#[tokio::test]
async fn bad_flow_inputs_fail_the_run_with_every_problem() {
    let engine = common::engine().await;
    let flow = json!({"weft": 1, "name": "typed",
                      "inputs": {"a": "string", "b": "int", "c": {"type": "int", "default": 1}},
                      "nodes": [], "outputs": {"c": "input.c"}});
    let (outcome, _) = common::run(&engine, flow.clone(), json!({"b": "x", "zz": 1})).await;
    let error = outcome.error.expect("error");
    assert_eq!(error.code, "input");
    for part in [
        "missing required input `a`",
        "input `b`: expected int, got string",
        "unknown input `zz`",
    ] {
        assert!(error.message.contains(part), "{part}: {}", error.message);
    }
    let (outcome, _) = common::run(&engine, flow, json!({"a": "x", "b": 2})).await;
    assert_eq!(outcome.outputs["c"], json!(1), "defaults apply");
}

#[tokio::test]
async fn loosely_typed_edges_are_checked_when_values_arrive() {
    let engine = common::engine().await;
    let flow = json!({"weft": 1, "name": "loose", "inputs": {"doc": "json"},
                      "nodes": [{"id": "get", "type": "json.get", "config": {"path": "title"}},
                                {"id": "up", "type": "text.upper"}],
                      "edges": [{"from": "input.doc", "to": "get.value"},
                                {"from": "get.value", "to": "up.text"}],
                      "outputs": {"title": "up.text"}});
    let (ok, _) = common::run(&engine, flow.clone(), json!({"doc": {"title": "yes"}})).await;
    assert_eq!(ok.outputs["title"], json!("YES"));
    let (bad, _) = common::run(&engine, flow, json!({"doc": {"title": 42}})).await;
    let error = bad.error.expect("error");
    assert_eq!(error.code, "input.type");
    assert_eq!(error.node.as_deref(), Some("up"));
    assert!(
        error.message.contains("expected string, got int"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn events_carry_typed_previews_capped_in_size() {
    let engine = common::engine().await;
    let plan = common::plan(
        &engine,
        json!({"weft": 1, "name": "big", "inputs": {"t": "string"},
               "nodes": [{"id": "u", "type": "text.upper"}],
               "edges": [{"from": "input.t", "to": "u.text"}],
               "outputs": {"t": "u.text"}}),
    )
    .await;
    let sink = VecSink::new();
    let mut opts = RunOptions::new("preview", Arc::new(sink.clone()));
    opts.preview_limit = 64;
    let mut inputs = Map::new();
    inputs.insert("t".into(), json!("é".repeat(100)));
    let outcome = engine.run(plan, inputs, opts).await;
    assert_eq!(
        outcome.outputs["t"],
        json!("É".repeat(100)),
        "outputs are whole"
    );
    let finished = sink
        .events()
        .into_iter()
        .find_map(|e| match e.body {
            EventBody::NodeFinished(f) => Some(f),
            _ => None,
        })
        .expect("node.finished");
    match &finished.outputs["text"] {
        weft_editor_protocol::events::Preview::Truncated { bytes, head, .. } => {
            assert_eq!(*bytes, 202);
            assert!(head.len() <= 64 && head.starts_with("\"É"), "{head}");
        }
        other => panic!("expected a truncated preview, got {other:?}"),
    }
}
