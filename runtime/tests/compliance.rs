//! A compliance test every built-in node passes, through the real host:
//! it describes itself (valid type name, version, summary, config schema),
//! its schema rejects unknown config fields, it has a catalogue entry, and
//! a sample run produces the expected outputs with well-formed
//! `node.started` → `node.finished` events.

mod common;

use serde_json::{Value, json};
use weft_editor_protocol::events::{EventBody, RunStatus};
use weft_editor_protocol::spec::NodeSource;

/// Nodes whose runs need a capability provider; their behaviour is tested
/// against real servers in `http.rs` (and the LLM/vector suites).
const NEED_PROVIDERS: &[&str] = &[
    "http.request",
    "llm.chat",
    "llm.embed",
    "vector.upsert",
    "vector.search",
];

/// (type, config, inputs by port, expected outputs by port)
fn samples() -> Vec<(&'static str, Value, Value, Value)> {
    vec![
        (
            "text.template",
            json!({"template": "{{ a }}-{{ b.c }}-{{ d }}"}),
            json!({"a": "x", "b": {"c": 2}, "d": null}),
            json!({"text": "x-2-"}),
        ),
        (
            "text.upper",
            json!({}),
            json!({"text": "abc"}),
            json!({"text": "ABC"}),
        ),
        (
            "text.split",
            json!({"chunk_size": 5, "overlap": 0}),
            json!({"text": "ab cd ef"}),
            json!({"chunks": ["ab", "cd ef"], "count": 2}),
        ),
        (
            "json.get",
            json!({"path": "/a/1"}),
            json!({"value": {"a": [1, 2]}}),
            json!({"value": 2}),
        ),
        (
            "json.build",
            json!({"fields": {"n": "int", "s?": "string"}}),
            json!({"n": 1}),
            json!({"value": {"n": 1}}),
        ),
        (
            "logic.if",
            json!({"op": "contains", "operand": "b"}),
            json!({"value": "abc"}),
            json!({"true": "abc"}),
        ),
        (
            "logic.switch",
            json!({"path": "k", "cases": [{"name": "one", "equals": 1}]}),
            json!({"value": {"k": 2}}),
            json!({"default": {"k": 2}}),
        ),
        (
            "flow.merge",
            json!({}),
            json!({"values": [7]}),
            json!({"value": 7}),
        ),
        (
            "debug.log",
            json!({"label": "x"}),
            json!({"value": [1]}),
            json!({"value": [1]}),
        ),
        (
            "debug.fail",
            json!({"message": "m", "fail_attempts": 0}),
            json!({"value": 3}),
            json!({"value": 3}),
        ),
        (
            "http.respond",
            json!({"status": 201, "headers": {"X-A": "1"}}),
            json!({"body": {"ok": true}}),
            json!({"response": {"status": 201, "headers": {"x-a": "1"}, "body": {"ok": true}}}),
        ),
    ]
}

#[tokio::test]
async fn every_builtin_describes_itself_and_rejects_unknown_config() {
    let engine = common::engine().await;
    let builtins: Vec<_> = engine
        .registry()
        .all()
        .filter(|r| r.source == NodeSource::Builtin)
        .collect();
    assert!(builtins.len() >= 10, "{} built-ins", builtins.len());
    let sampled: Vec<&str> = samples().iter().map(|s| s.0).collect();
    for r in &builtins {
        let c = &r.component;
        let name = &c.info.type_name;
        assert!(
            sampled.contains(&name.as_str()) || NEED_PROVIDERS.contains(&name.as_str()),
            "{name} has no sample in this test"
        );
        assert!(!c.info.summary.is_empty(), "{name}: empty summary");
        assert!(
            c.config_schema.is_object(),
            "{name}: schema is not an object"
        );
        let problems = c.check_config(&json!({"surely_not_a_field": 1}));
        assert!(
            !problems.is_empty(),
            "{name}: schema accepts unknown fields"
        );
        assert!(
            c.check_config(&json!([])).len() == 1,
            "{name}: a non-object config must be refused"
        );
    }
    let catalog = engine.registry().catalog().await;
    for r in &builtins {
        assert!(
            catalog.iter().any(|e| e.info == r.component.info),
            "{} missing from the catalogue",
            r.component.info.type_name
        );
    }
}

#[tokio::test]
async fn every_builtin_runs_its_sample() {
    let engine = common::engine().await;
    let mut failures = Vec::new();
    for (node_type, config, inputs, expected) in samples() {
        let mut flow_inputs = serde_json::Map::new();
        let mut edges = Vec::new();
        for (port, value) in inputs.as_object().into_iter().flatten() {
            flow_inputs.insert(port.clone(), json!({"type": "any", "required": false}));
            edges.push(json!({"from": format!("input.{port}"), "to": format!("n.{port}")}));
            let _ = value;
        }
        let outputs: serde_json::Map<String, Value> = expected
            .as_object()
            .into_iter()
            .flatten()
            .map(|(port, _)| (port.clone(), json!(format!("n.{port}"))))
            .collect();
        // `multi` ports take one edge per element: feed flow.merge's list.
        if node_type == "flow.merge" {
            flow_inputs.clear();
            flow_inputs.insert("v".into(), json!("int"));
            edges = vec![json!({"from": "input.v", "to": "n.values"})];
        }
        let flow = json!({
            "weft": 1, "name": "sample", "inputs": flow_inputs,
            "nodes": [{"id": "n", "type": node_type, "config": config}],
            "edges": edges, "outputs": outputs,
        });
        let run_inputs = if node_type == "flow.merge" {
            json!({"v": 7})
        } else {
            inputs
        };
        let (outcome, events) = common::run(&engine, flow, run_inputs).await;
        common::assert_well_formed(&events);
        if outcome.status != RunStatus::Succeeded {
            failures.push(format!("{node_type}: {:?}", outcome.error));
            continue;
        }
        let got = Value::Object(outcome.outputs.into_iter().collect());
        if got != expected {
            failures.push(format!("{node_type}: got {got}, expected {expected}"));
        }
        let kinds: Vec<&str> = common::kinds_for(&events, "n")
            .into_iter()
            .filter(|k| *k != "node.log")
            .collect();
        if kinds != ["node.started", "node.finished"] {
            failures.push(format!("{node_type}: events {kinds:?}"));
        }
        let started = events.iter().find_map(|e| match &e.body {
            EventBody::NodeStarted(s) => Some(s.node_type.clone()),
            _ => None,
        });
        if started.as_deref().is_none_or(|t| !t.starts_with(node_type)) {
            failures.push(format!("{node_type}: node.started says {started:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
