//! Golden tests for `weft validate`'s text output.
//!
//! Every `tests/golden/validate/NAME.json` is a broken flow; next to it,
//! `NAME.expected.txt` holds exactly the lines `weft validate NAME.json`
//! prints for it (`api/src/cli/validate.rs::render_text`, with the file shown
//! as `NAME.json`). The flows are validated in-process through
//! `weft_runtime::Engine` (with the test guests, so `test.grant` exists).
//!
//! `WEFT_BLESS=1 cargo test -p weft-tests --test golden` (re)writes the
//! expected files; review them with `git diff` before committing.

// Helpers outside `#[test]` functions fail the test by panicking, too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../support/line_diff.rs"]
mod line_diff;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use line_diff::line_diff;

use serde_json::Value;
use weft_editor_protocol::{Diagnostic, DiagnosticCode};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/validate")
}

async fn engine() -> Engine {
    let config = EngineConfig {
        host: HostConfig {
            cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-component-cache")),
            ..HostConfig::default()
        },
        test_guests: true,
        ..EngineConfig::default()
    };
    Engine::new(config).await.expect("engine with test guests")
}

/// The same lines as `render_text` in `api/src/cli/validate.rs`.
fn render_text(file: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        if d.line.is_some() {
            writeln!(out, "{file}:{d}").expect("write to string");
        } else {
            writeln!(out, "{file}: {d}").expect("write to string");
        }
    }
    out
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the golden directory")
        .map(|e| e.expect("directory entry").file_name())
        .filter_map(|n| n.to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(suffix).map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn validate_output_matches_golden_files() {
    let dir = golden_dir();
    let bless = std::env::var_os("WEFT_BLESS").is_some_and(|v| v == "1");
    let engine = engine().await;

    let cases: Vec<String> = files_with_suffix(&dir, ".json")
        .into_iter()
        // `NAME.expected.json` would be an expected-output file, not a case.
        .filter(|n| !n.ends_with(".expected"))
        .collect();
    assert!(!cases.is_empty(), "no golden cases in {}", dir.display());

    let mut failures = Vec::new();
    for name in &cases {
        let file = format!("{name}.json");
        let text = std::fs::read_to_string(dir.join(&file)).expect("read golden case");
        let actual = match engine.validate_text(&text).await {
            Ok(_) => {
                failures.push(format!(
                    "{file}: the flow is valid, but golden cases must be broken flows"
                ));
                continue;
            }
            Err(diags) => render_text(&file, &diags),
        };
        let expected_path = dir.join(format!("{name}.expected.txt"));
        if bless {
            std::fs::write(&expected_path, &actual).expect("write expected file");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{file}: output differs from {name}.expected.txt (- expected, + actual):\n{}",
                line_diff(&expected, &actual)
            )),
            Err(_) => failures.push(format!(
                "{file}: no {name}.expected.txt; it would contain:\n{actual}"
            )),
        }
    }

    // An expected file without its case is a leftover from a renamed case.
    for name in files_with_suffix(&dir, ".expected.txt") {
        if !cases.contains(&name) {
            failures.push(format!("{name}.expected.txt: there is no {name}.json"));
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {} golden case(s) failed (run with WEFT_BLESS=1 to accept the new output):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every diagnostic code (read from `DiagnosticCode`'s JSON schema, so a new
/// code shows up here) is produced by at least one golden case.
#[test]
fn every_diagnostic_code_has_a_golden_case() {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("const", Value::String(s)) => out.push(s.clone()),
                        ("enum", Value::Array(items)) => {
                            out.extend(items.iter().filter_map(|i| i.as_str().map(String::from)))
                        }
                        _ => strings(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            _ => {}
        }
    }
    let schema = serde_json::to_value(schemars::schema_for!(DiagnosticCode)).expect("schema");
    let mut codes = Vec::new();
    strings(&schema, &mut codes);
    assert!(codes.len() >= 18, "codes read from the schema: {codes:?}");

    let dir = golden_dir();
    let mut all = String::new();
    for name in files_with_suffix(&dir, ".expected.txt") {
        all += &std::fs::read_to_string(dir.join(format!("{name}.expected.txt")))
            .expect("read expected file");
    }
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| !all.contains(&format!(" [{c}]\n")))
        .collect();
    assert!(
        missing.is_empty(),
        "no golden case produces these codes: {missing:?}"
    );
}

/// The did-you-mean hint for an unknown node id must not depend on hash-map
/// iteration order when several ids are equally close.
#[tokio::test]
async fn unknown_node_hint_is_deterministic() {
    let engine = engine().await;
    let flow = r#"{
      "weft": 1, "name": "tie", "inputs": { "x": "string" },
      "nodes": [
        { "id": "cat", "type": "text.upper" },
        { "id": "car", "type": "text.upper" },
        { "id": "cab", "type": "text.upper" }
      ],
      "edges": [
        { "from": "input.x", "to": "cat.text" },
        { "from": "input.x", "to": "car.text" },
        { "from": "cax.text", "to": "cab.text" }
      ]
    }"#;
    let mut messages = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let diags = engine.validate_text(flow).await.expect_err("invalid");
        messages.insert(render_text("tie.json", &diags));
    }
    assert_eq!(messages.len(), 1, "different outputs: {messages:#?}");
}

/// `Diagnostic::column` counts characters (and every other diagnostic's
/// column does), but a syntax error's column comes from `serde_json`, which
/// counts bytes.
#[tokio::test]
async fn syntax_error_column_counts_characters() {
    let engine = engine().await;
    // The second `"` of `"weft"` is character 20 but byte 25.
    let diags = engine
        .validate_text("{\"name\": \"Wörld€€\" \"weft\": 1}")
        .await
        .expect_err("not JSON");
    assert_eq!((diags[0].line, diags[0].column), (Some(1), Some(20)));
}

/// A valid flow with triggers validates, and the validated document holds
/// exactly what serde reads from the text (defaults filled in alike).
#[tokio::test]
async fn valid_triggers_are_kept_as_serde_reads_them() {
    let engine = engine().await;
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-http.json"),
    )
    .expect("read examples/hello-http.json");
    let defaults = r#"{
      "weft": 1, "name": "defaults", "inputs": { "x": "string" },
      "nodes": [ { "id": "up", "type": "text.upper" } ],
      "edges": [ { "from": "input.x", "to": "up.text" } ],
      "triggers": [
        { "kind": "http", "path": "/users/{id:int}" },
        { "kind": "http", "path": "/users/{id:int}", "methods": ["GET", "HEAD"] },
        { "kind": "http", "id": "files", "path": "/files/{*rest}", "methods": ["GET"],
          "auth": "public", "modes": ["stream", "async"],
          "cors": { "origins": ["*"], "headers": ["content-type"], "max_age_secs": 600 } }
      ]
    }"#;
    for text in [example.as_str(), defaults] {
        let validated = match engine.validate_text(text).await {
            Ok(v) => v,
            Err(diags) => panic!("invalid: {}", render_text("flow.json", &diags)),
        };
        let read: weft_editor_protocol::FlowDocument = serde_json::from_str(text).unwrap();
        assert!(!read.triggers.is_empty());
        assert_eq!(validated.doc, read);
    }
}
