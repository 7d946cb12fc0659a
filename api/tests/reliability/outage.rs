//! PostgreSQL going away and coming back, through a TCP proxy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Db, Options, Server, assert_gap_free, nodes_dir};
use crate::pg;
use crate::proxy::Proxy;

/// The first 503 must come within this (the pool waits up to its acquire
/// timeout for a connection, 5 s by default, before giving up).
const PROMPT: Duration = Duration::from_secs(8);
/// Once one request found the database away, the next ones are refused at
/// once (the server's database guard).
const FAST: Duration = Duration::from_millis(500);
/// How long the database stays away.
const OUTAGE: Duration = Duration::from_secs(35);

/// A 503 `unavailable` naming the database.
fn assert_unavailable(what: &str, status: u16, v: &Value) {
    assert_eq!(status, 503, "{what}: {v}");
    assert_eq!(v["error"]["code"], "unavailable", "{what}: {v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("database is unavailable"), "{what}: {v}");
}

pub async fn postgres_outage_answers_503_and_recovers(db: Db) {
    let mut proxy = Proxy::start(&pg::upstream()).await;
    let nodes = nodes_dir();
    let mut opts = Options::new(&db, nodes.path());
    opts.database_url = Some(pg::url_via(db.pg_name.as_deref().unwrap(), proxy.port));
    let server = Server::start(&opts).await;
    server.setup(3000).await;
    let run = json!({"inputs": {"name": "Ada"}});
    let hello = "/v1/projects/demo/flows/hello/runs";
    server.ok("POST", hello, Some(run.clone()), 200).await;
    // A run that ends during the outage.
    let spanning = server.start_async("slow", json!({})).await;
    server.wait_started(std::slice::from_ref(&spanning)).await;

    proxy.cut().await;
    let cut = Instant::now();
    // Every kind of call: a read, a write, a run, the probe.
    let calls: [(&str, &str, Option<Value>); 4] = [
        ("GET", "/v1/projects/demo", None),
        ("POST", "/v1/projects", Some(json!({"slug": "other"}))),
        ("POST", hello, Some(run.clone())),
        ("GET", "/readyz", None),
    ];
    for (i, (method, path, body)) in calls.clone().into_iter().enumerate() {
        let start = Instant::now();
        let (status, v) = server.call(method, path, body).await;
        let took = start.elapsed();
        assert_unavailable(&format!("{method} {path}"), status, &v);
        let limit = if i == 0 { PROMPT } else { FAST };
        assert!(took < limit, "{method} {path}: 503 after {took:?}");
        eprintln!("outage: {method} {path} -> 503 in {took:?}: {v}");
    }
    // The process itself is alive.
    assert_eq!(server.call("GET", "/healthz", None).await.0, 200);
    eprintln!("outage: first 503s within {:?}", cut.elapsed());
    // A long outage: the run's end waits for the database however long.
    tokio::time::sleep_until((cut + OUTAGE).into()).await;

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
    // The run that ended during the outage is stored whole once it is back.
    let v = wait_finished(&server, &spanning).await;
    assert_eq!(v["run"]["status"], "succeeded", "{v}");
    assert_eq!(v["nodes"][0]["status"], "succeeded", "{v}");
    let events = server.events(&spanning).await;
    assert_eq!(assert_gap_free(&spanning, &events), "run.finished");
    let log = server.sigkill();
    assert!(!log.contains("panicked"), "{log}");
}

/// The run once it is no longer `running` (within 60 s).
async fn wait_finished(server: &Server, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = server.run(id).await;
        if v["run"]["status"] != "running" {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still running: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM while the database is away: the drain deadline still holds, and
/// the runs whose end could not be stored are `interrupted` on restart.
pub async fn postgres_outage_during_shutdown(db: Db) {
    let mut proxy = Proxy::start(&pg::upstream()).await;
    let nodes = nodes_dir();
    let mut opts = Options::new(&db, nodes.path());
    opts.database_url = Some(pg::url_via(db.pg_name.as_deref().unwrap(), proxy.port));
    opts.drain_secs = Some(1);
    let mut server = Server::start(&opts).await;
    server.setup(600_000).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(server.start_async("slow", json!({})).await);
    }
    server.wait_started(&ids).await;
    proxy.cut().await;
    let term = Instant::now();
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(120)).await;
    let took = term.elapsed();
    eprintln!("outage: SIGTERM with the database away: exit after {took:?}");
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(took < Duration::from_secs(15), "exit took {took:?}");
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");

    proxy.restore().await;
    let server = Server::start(&opts).await;
    for id in &ids {
        let v = server.run(id).await;
        assert_eq!(v["run"]["status"], "failed", "{v}");
        assert_eq!(v["run"]["error"]["code"], "interrupted", "{v}");
        let events = server.events(id).await;
        assert_ne!(assert_gap_free(id, &events), "run.finished");
    }
}
