//! Outbound HTTP through `http.request` against a real local server
//! started by the test: allowed targets work, loopback is refused unless
//! named explicitly (also after DNS resolution and on redirects), responses
//! are capped, and a secret used in a header never appears in any event or
//! output of the run.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weft_editor_protocol::events::RunStatus;
use weft_runtime::capabilities::{HttpClients, HttpSettings, Secrets, Services};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig};

/// A tiny HTTP/1.1 server: `/json` echoes the request headers as JSON,
/// `/text` answers plain text, `/redirect?to=URL` redirects, `/big` sends
/// 2 MiB. Returns its port.
async fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let mut lines = head.lines();
                let target = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or("/")
                    .to_string();
                let headers: serde_json::Map<String, Value> = lines
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), json!(v.trim())))
                    .collect();
                let (status, extra, content_type, body) = if target.starts_with("/json") {
                    let body = json!({"ok": true, "path": target, "headers": headers}).to_string();
                    (
                        "200 OK",
                        String::new(),
                        "application/json",
                        body.into_bytes(),
                    )
                } else if let Some(to) = target.strip_prefix("/redirect?to=") {
                    (
                        "302 Found",
                        format!("location: {to}\r\n"),
                        "text/plain",
                        Vec::new(),
                    )
                } else if target == "/big" {
                    (
                        "200 OK",
                        String::new(),
                        "text/plain",
                        vec![b'x'; 2 * 1024 * 1024],
                    )
                } else {
                    ("200 OK", String::new(), "text/plain", b"hello".to_vec())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    port
}

async fn engine_with(services: Services) -> Engine {
    Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(common::cache_dir()),
            ..HostConfig::default()
        },
        services,
        test_guests: true,
        ..EngineConfig::default()
    })
    .await
    .expect("engine")
}

fn fetch(url: &str, allow: &[&str]) -> Value {
    json!({
        "weft": 1, "name": "fetch",
        "capabilities": {"http": allow},
        "nodes": [{"id": "get", "type": "http.request", "config": {"url": url}}],
        "outputs": {"status": "get.status", "body": "get.body"}
    })
}

#[tokio::test]
async fn an_allowed_target_answers() {
    let port = serve().await;
    let engine = engine_with(Services::default()).await;
    let base = format!("http://127.0.0.1:{port}");
    let (outcome, events) = common::run(
        &engine,
        fetch(&format!("{base}/json?x=1"), &[&base]),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["status"], json!(200));
    assert_eq!(
        outcome.outputs["body"]["ok"],
        json!(true),
        "JSON bodies are parsed"
    );
    assert_eq!(outcome.outputs["body"]["path"], json!("/json?x=1"));
    common::assert_well_formed(&events);

    let (outcome, _) =
        common::run(&engine, fetch(&format!("{base}/text"), &[&base]), json!({})).await;
    assert_eq!(outcome.outputs["body"], json!("hello"));
}

fn denied_message(outcome: &weft_runtime::RunOutcome) -> String {
    let error = outcome.error.clone().expect("an error");
    assert_eq!(error.node.as_deref(), Some("get"));
    assert!(error.code.contains("denied"), "{error:?}");
    error.message
}

#[tokio::test]
async fn loopback_is_refused_unless_named() {
    let port = serve().await;
    let engine = engine_with(Services::default()).await;

    // A wildcard does not open internal addresses, given as a literal...
    let (outcome, _) = common::run(
        &engine,
        fetch(&format!("http://127.0.0.1:{port}/json"), &["http://*:*"]),
        json!({}),
    )
    .await;
    assert!(denied_message(&outcome).contains("127.0.0.1"));

    // ...or as a name that resolves to one (checked on the resolved address).
    let (outcome, _) = common::run(
        &engine,
        fetch(&format!("http://localhost:{port}/json"), &["http://*:*"]),
        json!({}),
    )
    .await;
    assert!(denied_message(&outcome).contains("refusing to connect to localhost"));

    // Not in the allow list at all.
    let (outcome, _) = common::run(
        &engine,
        fetch(
            &format!("http://127.0.0.1:{port}/json"),
            &["https://api.example.com"],
        ),
        json!({}),
    )
    .await;
    assert!(denied_message(&outcome).contains("not in the flow's allowed HTTP targets"));

    // Metadata addresses, even with a wildcard.
    let (outcome, _) = common::run(
        &engine,
        fetch("http://169.254.169.254/latest/meta-data", &["http://*"]),
        json!({}),
    )
    .await;
    denied_message(&outcome);

    // Named explicitly: allowed.
    let (outcome, _) = common::run(
        &engine,
        fetch(
            &format!("http://localhost:{port}/json"),
            &["http://localhost:*"],
        ),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
}

#[tokio::test]
async fn every_redirect_is_checked() {
    let port = serve().await;
    let engine = engine_with(Services::default()).await;
    let base = format!("http://127.0.0.1:{port}");
    let (outcome, _) = common::run(
        &engine,
        fetch(&format!("{base}/redirect?to={base}/json"), &[&base]),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["body"]["path"], json!("/json"), "followed");

    let (outcome, _) = common::run(
        &engine,
        fetch(
            &format!("{base}/redirect?to=http://169.254.169.254/latest/meta-data"),
            &[&base, "http://*"],
        ),
        json!({}),
    )
    .await;
    assert!(denied_message(&outcome).contains("redirect refused"));
}

#[tokio::test]
async fn responses_are_capped() {
    let port = serve().await;
    let services = Services {
        http: Arc::new(HttpClients::new(HttpSettings {
            max_response_bytes: 1024 * 1024,
            ..HttpSettings::default()
        })),
        ..Services::default()
    };
    let engine = engine_with(services).await;
    let base = format!("http://127.0.0.1:{port}");
    let (outcome, _) =
        common::run(&engine, fetch(&format!("{base}/big"), &[&base]), json!({})).await;
    let error = outcome.error.expect("an error");
    assert!(
        error.message.contains("larger than the 1 MiB limit"),
        "{error:?}"
    );
}

#[tokio::test]
async fn secrets_never_appear_in_events_or_outputs() {
    const SECRET: &str = "s3cr3t-v4lue-7f1e";
    let port = serve().await;
    let services = Services {
        secrets: Arc::new(Secrets::none().with("API_TOKEN", SECRET)),
        ..Services::default()
    };
    let engine = engine_with(services).await;
    let base = format!("http://127.0.0.1:{port}");
    let flow = json!({
        "weft": 1, "name": "secret",
        "capabilities": {"http": [base], "secrets": ["API_TOKEN"]},
        "nodes": [
            {"id": "get", "type": "http.request", "config": {
                "url": format!("{base}/json"),
                "headers": {"authorization": "Bearer {{ secret.API_TOKEN }}"}}},
            {"id": "log", "type": "debug.log"},
            {"id": "fail", "type": "debug.fail", "config": {"message": "boom"},
             "policy": {"on_error": "continue"}}
        ],
        "edges": [
            {"from": "get.body", "to": "log.value"},
            {"from": "get.body.headers.authorization", "to": "fail.value"}
        ],
        "outputs": {"auth": "get.body.headers.authorization", "logged": "log.value"}
    });
    // With full node values recorded (as the server stores them).
    let plan = common::plan(&engine, flow).await;
    let sink = weft_runtime::VecSink::new();
    let mut opts = weft_runtime::RunOptions::new("secret", Arc::new(sink.clone()));
    opts.record_values = true;
    let outcome = engine.run(plan, Default::default(), opts).await;
    let events = sink.events();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // The server did receive it...
    assert_eq!(outcome.outputs["auth"], json!("Bearer [redacted]"));
    assert!(!outcome.nodes.is_empty());
    // ...and nothing the run reports contains it.
    let everything = format!(
        "{}{}{:?}{:?}",
        serde_json::to_string(&events).expect("events"),
        serde_json::to_string(&outcome.outputs).expect("outputs"),
        outcome.error,
        outcome.nodes
    );
    assert!(!everything.contains(SECRET), "the secret leaked");
    assert!(everything.contains("[redacted]"));

    // Not granted: refused, and the value is not revealed.
    let flow = json!({
        "weft": 1, "name": "ungranted",
        "capabilities": {"http": [base], "secrets": ["OTHER"]},
        "nodes": [{"id": "get", "type": "http.request", "config": {
            "url": format!("{base}/json"),
            "headers": {"authorization": "Bearer {{ secret.API_TOKEN }}"}}}],
        "outputs": {}
    });
    let (outcome, events) = common::run(&engine, flow, json!({})).await;
    let error = outcome.error.expect("an error");
    assert!(error.message.contains("API_TOKEN"), "{error:?}");
    assert!(
        !serde_json::to_string(&events)
            .expect("events")
            .contains(SECRET)
    );
}
