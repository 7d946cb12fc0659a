//! SIGTERM: in-flight runs drain up to `--drain-secs`, then are cancelled.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::harness::{ADMIN, Db, Options, Server, assert_gap_free, nodes_dir};

/// Logged once SIGTERM has been taken and the drain has begun.
const DRAINING: &str = "shutting down: draining runs";

/// A new run while draining: 503 `unavailable`, saying why.
async fn refused_while_draining(server: &Server) {
    let body = json!({"wait": false});
    let (status, v) = server
        .call("POST", "/v1/projects/demo/flows/slow/runs", Some(body))
        .await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("shutting down"), "{v}");
}

pub async fn sigterm_lets_runs_finish(db: Db) {
    let nodes = nodes_dir();
    let mut opts = Options::new(&db, nodes.path());
    opts.drain_secs = Some(30);
    let mut server = Server::start(&opts).await;
    let nap = Duration::from_millis(3000);
    server.setup(nap.as_millis() as u64).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(server.start_async("slow", json!({})).await);
    }
    server.wait_started(&ids).await;
    let term = Instant::now();
    server.sigterm();
    server.wait_log(DRAINING, Duration::from_secs(5)).await;
    refused_while_draining(&server).await;
    // Reads still work while draining.
    server.run(&ids[0]).await;
    let (status, took) = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(
        term.elapsed() < nap + Duration::from_secs(10),
        "exit took {took:?}"
    );
    let log = server.log();
    assert!(log.contains("weft: stopped"), "{log}");
    assert!(!log.contains("cancelling runs"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    let server = Server::start(&opts).await;
    assert!(!server.log().contains("interrupted"), "{}", server.log());
    for id in &ids {
        let v = server.run(id).await;
        assert_eq!(v["run"]["status"], "succeeded", "{v}");
        assert_eq!(v["run"]["outputs"]["slept"], 3000, "{v}");
        assert_eq!(v["nodes"][0]["status"], "succeeded", "{v}");
        assert_eq!(
            assert_gap_free(id, &server.events(id).await),
            "run.finished"
        );
    }
}

pub async fn sigterm_cancels_runs_past_the_deadline(db: Db) {
    let nodes = nodes_dir();
    let mut opts = Options::new(&db, nodes.path());
    opts.drain_secs = Some(1);
    let mut server = Server::start(&opts).await;
    server.setup(600_000).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(server.start_async("slow", json!({})).await);
    }
    server.wait_started(&ids).await;
    // An editor watching one of them.
    let url = format!("ws://{}/v1/editor", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(
        json!({"type": "hello", "protocol": 1, "token": ADMIN}),
    ))
    .await
    .unwrap();
    let topic = json!({"kind": "run", "run": ids[0]});
    ws.send(send(
        json!({"type": "subscribe", "id": "s", "topic": topic}),
    ))
    .await
    .unwrap();

    let term = Instant::now();
    server.sigterm();
    server.wait_log(DRAINING, Duration::from_secs(5)).await;
    refused_while_draining(&server).await;
    // The editor sees the run end (cancelled), then a 1001 close.
    let mut seen = Vec::new();
    let close = loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the editor socket closes within 10 s")
            .expect("a close frame before the end")
            .unwrap_or_else(|e| panic!("the editor socket failed: {e}\n{}", server.log()));
        match msg {
            Message::Text(t) => seen.push(serde_json::from_str::<Value>(&t).unwrap()),
            Message::Close(frame) => break frame,
            _ => {}
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    assert!(
        seen.iter()
            .any(|m| m["event"]["type"] == "run.finished" && m["event"]["status"] == "cancelled"),
        "{seen:?}"
    );
    let (status, took) = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}\n{}", server.log());
    let elapsed = term.elapsed();
    assert!(
        elapsed < Duration::from_secs(8),
        "exit took {elapsed:?} ({took:?} after the close)"
    );
    let log = server.log();
    assert!(log.contains("cancelling runs"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    let server = Server::start(&opts).await;
    assert!(!server.log().contains("interrupted"), "{}", server.log());
    for id in &ids {
        let v = server.run(id).await;
        assert_eq!(v["run"]["status"], "cancelled", "{v}");
        assert_eq!(v["nodes"][0]["status"], "cancelled", "{v}");
        let events = server.events(id).await;
        assert_eq!(assert_gap_free(id, &events), "run.finished");
        assert_eq!(events.last().unwrap()["status"], "cancelled", "{events:?}");
    }
}
