//! PostgreSQL going away and coming back, through a TCP proxy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Db, Options, Server, nodes_dir, pg_db_url, pg_upstream};
use crate::proxy::Proxy;

/// A 503 must come within this (the pool waits up to its acquire timeout
/// for a connection, 5 s by default, before giving up).
const PROMPT: Duration = Duration::from_secs(8);

/// A 503 `unavailable` naming the database.
fn assert_unavailable(what: &str, status: u16, v: &Value) {
    assert_eq!(status, 503, "{what}: {v}");
    assert_eq!(v["error"]["code"], "unavailable", "{what}: {v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("database is unavailable"), "{what}: {v}");
}

pub async fn postgres_outage_answers_503_and_recovers(db: Db) {
    let mut proxy = Proxy::start(&pg_upstream()).await;
    let nodes = nodes_dir();
    let mut opts = Options::new(&db, nodes.path());
    opts.database_url = Some(pg_db_url(db.pg_name.as_deref().unwrap(), Some(proxy.port)));
    let server = Server::start(&opts).await;
    server.setup(10).await;
    let run = json!({"inputs": {"name": "Ada"}});
    let hello = "/v1/projects/demo/flows/hello/runs";
    server.ok("POST", hello, Some(run.clone()), 200).await;

    proxy.cut().await;
    let cut = Instant::now();
    // Every kind of call: a read, a write, a run, the probe.
    let calls: [(&str, &str, Option<Value>); 4] = [
        ("GET", "/v1/projects/demo", None),
        ("POST", "/v1/projects", Some(json!({"slug": "other"}))),
        ("POST", hello, Some(run.clone())),
        ("GET", "/readyz", None),
    ];
    for (method, path, body) in calls.clone() {
        let start = Instant::now();
        let (status, v) = server.call(method, path, body).await;
        let took = start.elapsed();
        assert_unavailable(&format!("{method} {path}"), status, &v);
        assert!(took < PROMPT, "{method} {path}: 503 after {took:?}");
        eprintln!("outage: {method} {path} -> 503 in {took:?}");
    }
    // The process itself is alive.
    assert_eq!(server.call("GET", "/healthz", None).await.0, 200);
    eprintln!("outage: first 503s within {:?}", cut.elapsed());

    proxy.restore().await;
    let back = Instant::now();
    loop {
        let (status, v) = server.call("GET", "/readyz", None).await;
        if status == 200 {
            break;
        }
        assert_unavailable("GET /readyz", status, &v);
        assert!(back.elapsed() < Duration::from_secs(30), "no recovery: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("outage: ready again {:?} after the restore", back.elapsed());
    for (method, path, body) in calls {
        let (status, v) = server.call(method, path, body).await;
        assert!(
            status < 300,
            "{method} {path} after the restore: {status} {v}"
        );
    }
    let v = server.ok("POST", hello, Some(run), 200).await;
    assert_eq!(v["outputs"]["greeting"], "HELLO ADA!", "{v}");
    eprintln!(
        "outage: fully recovered {:?} after the restore",
        back.elapsed()
    );
    let log = server.sigkill();
    assert!(!log.contains("panicked"), "{log}");
}
