//! SIGKILL during runs, then a restart on the same data.

use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

use crate::harness::{Db, Options, Server, assert_gap_free, nodes_dir};

/// Runs cut off by the kill.
const IN_FLIGHT: usize = 4;
/// Runs finished before the kill.
const FINISHED: usize = 3;

pub async fn sigkill_during_runs(db: Db) {
    let nodes = nodes_dir();
    let opts = Options::new(&db, nodes.path());
    let server = Server::start(&opts).await;
    server.setup(600_000).await;

    let mut finished = Vec::new();
    for i in 0..FINISHED {
        let body = json!({"inputs": {"name": format!("n{i}")}});
        let v = server
            .ok(
                "POST",
                "/v1/projects/demo/flows/hello/runs",
                Some(body),
                200,
            )
            .await;
        assert_eq!(v["status"], "succeeded", "{v}");
        finished.push(v["run"].as_str().unwrap().to_string());
    }
    let mut in_flight = Vec::new();
    for _ in 0..IN_FLIGHT {
        in_flight.push(server.start_async("slow", json!({})).await);
    }
    server.wait_started(&in_flight).await;
    // What the finished runs look like before the kill.
    let mut before = Vec::new();
    for id in &finished {
        before.push((server.run(id).await, server.events(id).await));
    }

    server.sigkill();
    let server = Server::start(&opts).await;
    server
        .wait_log(
            "marked failed: interrupted",
            std::time::Duration::from_secs(5),
        )
        .await;

    for id in &in_flight {
        let v = server.run(id).await;
        let run = &v["run"];
        assert_eq!(run["status"], "failed", "{v}");
        assert_eq!(run["error"]["code"], "interrupted", "{v}");
        assert!(run["finished_at"].is_i64(), "{v}");
        // Node records written so far are not left `running`.
        for node in v["nodes"].as_array().unwrap() {
            assert_ne!(node["status"], "running", "{v}");
        }
        // Whatever events were written form a prefix 1..k, no end.
        let events = server.events(id).await;
        let last = assert_gap_free(id, &events);
        assert_ne!(last, "run.finished", "{events:?}");
        assert!(
            events.iter().any(|e| e["type"] == "node.started"),
            "{events:?}"
        );
    }
    for (id, (run_before, events_before)) in finished.iter().zip(&before) {
        let v = server.run(id).await;
        assert_eq!(&v, run_before, "run {id} changed across the kill");
        assert_eq!(v["run"]["status"], "succeeded");
        assert!(v["run"]["outputs"]["greeting"].is_string(), "{v}");
        let nodes: Vec<&Value> = v["nodes"].as_array().unwrap().iter().collect();
        assert_eq!(nodes.len(), 2, "{v}");
        for node in nodes {
            assert_eq!(node["status"], "succeeded", "{v}");
            assert!(node["outputs"].is_object(), "{v}");
        }
        let events = server.events(id).await;
        assert_eq!(&events, events_before, "run {id}: events changed");
        assert_eq!(assert_gap_free(id, &events), "run.finished");
    }
    // Every run is accounted for and none is left running.
    let list = server.ok("GET", "/v1/projects/demo/runs", None, 200).await;
    let runs = list["runs"].as_array().unwrap();
    assert_eq!(runs.len(), IN_FLIGHT + FINISHED, "{list}");
    assert!(runs.iter().all(|r| r["status"] != "running"), "{list}");
    // The restarted server works.
    let body = json!({"inputs": {"name": "again"}});
    let v = server
        .ok(
            "POST",
            "/v1/projects/demo/flows/hello/runs",
            Some(body),
            200,
        )
        .await;
    assert_eq!(v["outputs"]["greeting"], "HELLO AGAIN!", "{v}");
    let log = server.sigkill();
    assert!(!log.contains("panicked"), "{log}");

    if db.pg_name.is_none() {
        // The SQLite file itself is sound.
        let url = format!("sqlite://{}", db.sqlite_file().display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }
}
