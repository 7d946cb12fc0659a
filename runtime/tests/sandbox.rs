//! The sandbox against hostile guests: an infinite loop ends as `deadline
//! exceeded`, a memory bomb as `memory limit exceeded`, a panic as a trap
//! naming the node; guests see no environment, files or network; their
//! stdout/stderr become log events; compiled components come back from the
//! disk cache without recompiling.

mod common;

use serde_json::json;
use weft_editor_protocol::events::{EventBody, LogSource, RunStatus};
use weft_runtime::host::{CacheOutcome, Host, HostConfig};

fn one_node(node: serde_json::Value) -> serde_json::Value {
    json!({
        "weft": 1, "name": "hostile",
        "nodes": [node],
        "outputs": {}
    })
}

#[tokio::test]
async fn infinite_loop_ends_as_deadline_exceeded_and_the_host_survives() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        one_node(json!({"id": "spin", "type": "test.loop", "policy": {"timeout_ms": 200}})),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "deadline_exceeded");
    assert_eq!(error.node.as_deref(), Some("spin"));
    assert!(error.message.contains("200 ms"), "{}", error.message);
    common::assert_well_formed(&events);

    // The same engine keeps working.
    let (ok, _) = common::run(
        &engine,
        json!({"weft": 1, "name": "after", "inputs": {"t": "string"},
               "nodes": [{"id": "u", "type": "text.upper"}],
               "edges": [{"from": "input.t", "to": "u.text"}],
               "outputs": {"t": "u.text"}}),
        json!({"t": "still here"}),
    )
    .await;
    assert_eq!(ok.outputs["t"], json!("STILL HERE"));
}

#[tokio::test]
async fn memory_bomb_ends_as_memory_limit_exceeded() {
    let engine = common::engine().await;
    let (outcome, _) = common::run(
        &engine,
        one_node(json!({"id": "bomb", "type": "test.memory-bomb"})),
        json!({}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "memory_limit_exceeded", "{error:?}");
    assert!(error.message.contains("64 MiB"), "{}", error.message);

    // A per-node cap from the policy.
    let (outcome, _) = common::run(
        &engine,
        one_node(json!({"id": "bomb", "type": "test.memory-bomb",
                        "config": {"mib_per_step": 1}, "policy": {"memory_mib": 16}})),
        json!({}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "memory_limit_exceeded", "{error:?}");
    assert!(error.message.contains("16 MiB"), "{}", error.message);
}

#[tokio::test]
async fn a_trap_is_an_error_naming_the_node_and_the_panic() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        one_node(json!({"id": "boom", "type": "test.trap", "config": {"message": "kaboom"}})),
        json!({}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "trap");
    assert_eq!(error.node.as_deref(), Some("boom"));
    assert!(error.message.contains("kaboom"), "{}", error.message);
    let failed = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::NodeFailed(f) => Some(f.clone()),
            _ => None,
        })
        .expect("node.failed");
    assert_eq!(failed.node, "boom");
    assert!(!failed.handled);
}

#[tokio::test]
async fn guests_get_no_environment_files_or_network() {
    // The test process has plenty of environment variables, files and a
    // PostgreSQL on 127.0.0.1:5432; the guest must see none of them.
    let engine = common::engine().await;
    let (outcome, _) = common::run(
        &engine,
        json!({"weft": 1, "name": "probe",
               "nodes": [{"id": "p", "type": "test.sandbox-probe"}],
               "outputs": {"report": "p.report"}}),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let report = &outcome.outputs["report"];
    assert_eq!(report["env"], json!(0), "{report}");
    assert_ne!(
        report["files"].as_str().map(|s| s.starts_with("ok")),
        Some(true),
        "{report}"
    );
    assert_ne!(report["connect"], json!("ok"), "{report}");
}

#[tokio::test]
async fn stdout_and_stderr_become_node_logs() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        one_node(json!({"id": "io", "type": "test.stdio",
                        "config": {"stdout": "to stdout", "stderr": "to stderr"}})),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let logs: Vec<(LogSource, String)> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::NodeLog(l) if l.node == "io" => Some((l.source, l.message.clone())),
            _ => None,
        })
        .collect();
    assert!(
        logs.contains(&(LogSource::Stdout, "to stdout".into())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&(LogSource::Stderr, "to stderr".into())),
        "{logs:?}"
    );
    // Logs come between the node's start and finish.
    assert_eq!(
        common::kinds_for(&events, "io"),
        vec!["node.started", "node.log", "node.log", "node.finished"]
    );
}

#[tokio::test]
async fn emitted_values_stream_in_order_before_the_node_finishes() {
    let engine = common::engine().await;
    let (outcome, events) = common::run(
        &engine,
        one_node(json!({"id": "gen", "type": "test.emit", "config": {"count": 5}})),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let emitted: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::NodeEmit(x) => Some(x.value.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        emitted,
        vec![
            json!("t1"),
            json!("t2"),
            json!("t3"),
            json!("t4"),
            json!("t5")
        ]
    );
}

/// A host configuration caching compiled components in `dir`.
fn cached_in(dir: &tempfile::TempDir) -> HostConfig {
    HostConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..HostConfig::default()
    }
}

/// The embedded `text.upper` component.
#[allow(clippy::expect_used)] // a test helper: a missing built-in fails the test
fn text_upper_bytes() -> &'static [u8] {
    weft_runtime::registry::builtin_components()
        .iter()
        .find(|(name, _)| *name == "text-upper")
        .map(|(_, bytes)| *bytes)
        .expect("text.upper is built in")
}

#[tokio::test]
async fn a_cached_component_is_not_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = cached_in(&dir);
    let bytes = text_upper_bytes();

    let host = Host::new(config.clone()).expect("host");
    let first = host.load("text.upper", bytes).await.expect("load");
    assert_eq!(first.cache, CacheOutcome::Compiled);
    drop((first, host));

    // A new host (as after a restart) finds it on disk.
    let host = Host::new(config).expect("host");
    let second = host.load("text.upper", bytes).await.expect("load");
    assert_eq!(second.cache, CacheOutcome::Hit);
    assert_eq!(second.info.type_name, "text.upper");

    // A corrupt cache entry is discarded and rebuilt, not trusted.
    for entry in std::fs::read_dir(dir.path()).expect("cache dir") {
        let path = entry.expect("entry").path();
        std::fs::write(&path, b"not a compiled component").expect("corrupt");
    }
    let third = host.load("text.upper", bytes).await.expect("load");
    assert_eq!(third.cache, CacheOutcome::Compiled);
}

#[tokio::test]
async fn a_builtin_with_cached_info_is_loaded_on_first_use() {
    use sha2::{Digest, Sha256};

    let dir = tempfile::tempdir().expect("tempdir");
    let config = cached_in(&dir);
    let bytes = text_upper_bytes();
    let hash: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let files = |suffix: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect()
    };

    // Cold: compiled now, and its info kept beside the compiled form.
    let host = Host::new(config.clone()).expect("host");
    let first = host
        .load_builtin("built-in text-upper", bytes, &hash)
        .await
        .expect("load");
    assert_eq!(first.cache, CacheOutcome::Compiled);
    assert!(first.is_linked());
    assert_eq!(files(".info.json").len(), 1, "one info sidecar");
    drop(host);

    // Warm: registered from the sidecar, no code in memory until used.
    let host = Host::new(config).expect("host");
    let second = host
        .load_builtin("built-in text-upper", bytes, &hash)
        .await
        .expect("load");
    assert_eq!(second.cache, CacheOutcome::Deferred);
    assert!(
        !second.is_linked(),
        "code is read on first use, not at start"
    );
    assert_eq!(second.info, first.info);
    assert_eq!(second.config_schema, first.config_schema);
    assert!(second.describe("{}").await.expect("describe").is_ok());
    assert!(second.is_linked());

    // The compiled form is lost after registration: the first use compiles
    // the built-in's own bytes instead of failing.
    let third = host
        .load_builtin("built-in text-upper", bytes, &hash)
        .await
        .expect("load");
    assert_eq!(third.cache, CacheOutcome::Deferred);
    for path in files(".cwasm") {
        std::fs::write(&path, b"not a compiled component").expect("corrupt");
    }
    assert!(third.describe("{}").await.expect("describe").is_ok());

    // A sidecar that does not parse is ignored: a full load, then a fresh
    // sidecar.
    for path in files(".info.json") {
        std::fs::write(&path, b"{not json").expect("corrupt");
    }
    let fourth = host
        .load_builtin("built-in text-upper", bytes, &hash)
        .await
        .expect("load");
    assert!(fourth.is_linked());
    assert_eq!(fourth.info.type_name, "text.upper");
    let again = host
        .load_builtin("built-in text-upper", bytes, &hash)
        .await
        .expect("load");
    assert_eq!(again.cache, CacheOutcome::Deferred);
}

#[tokio::test]
async fn a_non_component_is_refused_with_its_name() {
    let host = Host::new(HostConfig {
        cache_dir: None,
        ..HostConfig::default()
    })
    .expect("host");
    let err = host
        .load("junk.wasm", b"\0asm\x01\0\0\0")
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("junk.wasm"), "{text}");
}
