//! Every example flow in `examples/` runs and produces exactly its expected
//! outputs.
//!
//! For each `examples/NAME.json` with an `examples/NAME.expected.json`, the
//! flow is compiled and run in-process through `weft_runtime::Engine` with
//! `NAME.input.json` (or no inputs), and its outputs must equal the expected
//! JSON exactly (same values, same key order). The `custom` example needs the
//! custom node in `examples/custom-node`, which this test builds for
//! `wasm32-wasip2` first. `fanout` is also checked for running its branches
//! concurrently.

// Helpers outside `#[test]` functions fail the test by panicking, too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{Map, Value};
use weft_editor_protocol::events::{EventBody, RunEvent, RunStatus};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig, RunOptions, VecSink};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// The cargo target directory this test was built in (`CARGO_TARGET_TMPDIR`
/// is `<target dir>/tmp`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .to_path_buf()
}

fn host_config() -> HostConfig {
    HostConfig {
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-component-cache")),
        ..HostConfig::default()
    }
}

/// Builds `examples/custom-node` and returns a fresh directory holding only
/// its component. (The build's output directory also holds the `nodes/`
/// workspace's guests, which `runtime/build.rs` builds into the same target
/// directory; loading those would register the built-in types twice.)
fn build_custom_node() -> tempfile::TempDir {
    let root = repo_root();
    let guests = target_dir().join("wasm-guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(root.join("examples/custom-node/Cargo.toml"))
        .arg("--target-dir")
        .arg(&guests)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo to build examples/custom-node");
    assert!(
        output.status.success(),
        "building examples/custom-node failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = guests.join("wasm32-wasip2/release/acme_slugify.wasm");
    let dir = tempfile::tempdir().expect("temporary nodes directory");
    std::fs::copy(&wasm, dir.path().join("acme_slugify.wasm"))
        .unwrap_or_else(|e| panic!("copy {}: {e}", wasm.display()));
    dir
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_inputs(path: &Path) -> Map<String, Value> {
    if !path.exists() {
        return Map::new();
    }
    match read_json(path) {
        Value::Object(map) => map,
        other => panic!("{}: expected an object, found {other}", path.display()),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

/// Names of the examples that have an `.expected.json`, sorted.
fn examples_with_expectations() -> Vec<String> {
    let dir = repo_root().join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read examples/")
        .map(|e| e.expect("directory entry").file_name())
        .filter_map(|n| n.to_str()?.strip_suffix(".expected.json").map(String::from))
        .collect();
    names.sort();
    names
}

/// Compiles and runs one example; returns its outputs as JSON, or why not.
async fn run_example(engine: &Engine, name: &str) -> Result<(Value, Vec<RunEvent>), String> {
    let dir = repo_root().join("examples");
    let flow = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&flow).map_err(|e| format!("cannot read: {e}"))?;
    let plan = engine.compile_text(&text).await.map_err(|e| match e {
        weft_runtime::EngineError::Invalid(diags) => {
            let lines: Vec<String> = diags.iter().map(|d| format!("  {d}")).collect();
            format!("does not validate:\n{}", lines.join("\n"))
        }
        other => format!("does not compile: {other}"),
    })?;
    let inputs = read_inputs(&dir.join(format!("{name}.input.json")));
    let sink = VecSink::new();
    let outcome = engine
        .run(
            plan,
            inputs,
            RunOptions::new(format!("example-{name}"), Arc::new(sink.clone())),
        )
        .await;
    if outcome.status != RunStatus::Succeeded {
        return Err(format!(
            "run {:?}: {:?}",
            outcome.status,
            outcome
                .error
                .map(|e| format!("{} [{}] node {:?}", e.message, e.code, e.node))
        ));
    }
    let outputs: Map<String, Value> = outcome.outputs.into_iter().collect();
    Ok((Value::Object(outputs), sink.events()))
}

/// Serves `examples/http-fanout/site` on 127.0.0.1:8765, the one origin
/// the `http-fanout` example is granted (what its README does with
/// `python3 -m http.server`).
async fn serve_fanout_site() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8765")
        .await
        .unwrap_or_else(|e| {
            panic!("cannot serve the http-fanout example on 127.0.0.1:8765 ({e}); is something else listening there?")
        });
    let site = repo_root().join("examples/http-fanout/site");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let site = site.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let file = (!path.contains(".."))
                    .then(|| std::fs::read(site.join(path.trim_start_matches('/'))).ok())
                    .flatten();
                let (status, body) = match file {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_produce_their_expected_outputs() {
    let names = examples_with_expectations();
    assert!(!names.is_empty(), "no examples/*.expected.json found");
    serve_fanout_site().await;

    let custom_nodes = build_custom_node();
    let engine = Engine::new(EngineConfig {
        host: host_config(),
        nodes_dirs: vec![custom_nodes.path().to_path_buf()],
        ..EngineConfig::default()
    })
    .await
    .expect("engine with the custom node");

    let dir = repo_root().join("examples");
    let mut failures = Vec::new();
    for name in &names {
        if !dir.join(format!("{name}.json")).exists() {
            failures.push(format!("{name}.expected.json: there is no {name}.json"));
            continue;
        }
        let expected = read_json(&dir.join(format!("{name}.expected.json")));
        match run_example(&engine, name).await {
            // Compare the compact text, so key order counts too (`Value`'s
            // `==` ignores the order of object keys).
            Ok((actual, _)) if compact(&actual) == compact(&expected) => {}
            Ok((actual, _)) => failures.push(format!(
                "{name}: outputs differ\n  expected: {expected}\n  actual:   {actual}"
            )),
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} example(s) failed:\n\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

/// The same property as [`fanout_branches_overlap`], with branches long
/// enough (`test.sleep`, 300 ms each) that it does not depend on how the OS
/// schedules sub-millisecond nodes: four independent sleeps must overlap,
/// and the run must take well under their sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_branches_run_concurrently() {
    let engine = Engine::new(EngineConfig {
        host: host_config(),
        test_guests: true,
        ..EngineConfig::default()
    })
    .await
    .expect("engine with test guests");
    let flow = r#"{
      "weft": 1, "name": "sleepers",
      "nodes": [
        { "id": "s0", "type": "test.sleep", "config": { "ms": 300 } },
        { "id": "s1", "type": "test.sleep", "config": { "ms": 300 } },
        { "id": "s2", "type": "test.sleep", "config": { "ms": 300 } },
        { "id": "s3", "type": "test.sleep", "config": { "ms": 300 } }
      ],
      "outputs": { "a": "s0.slept", "b": "s1.slept", "c": "s2.slept", "d": "s3.slept" }
    }"#;
    let plan = engine.compile_text(flow).await.expect("valid flow");
    let sink = VecSink::new();
    let outcome = engine
        .run(
            plan,
            Map::new(),
            RunOptions::new("sleepers", Arc::new(sink.clone())),
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let events = sink.events();
    let first_finish = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::NodeFinished(_)))
        .map(|e| e.seq)
        .min()
        .expect("a node finished");
    let started_before = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::NodeStarted(_)) && e.seq < first_finish)
        .count();
    assert_eq!(started_before, 4, "all four sleepers start before one ends");
    assert!(
        outcome.duration.as_millis() < 900,
        "four 300 ms sleeps in parallel took {:?}",
        outcome.duration
    );
}
