//! The editor websocket over a real listener, with tokio-tungstenite.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Bed;
use super::rest::hello;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves `bed` on a free port; the `ws://` URL of the editor socket.
async fn listen(bed: &Bed) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = bed.state.clone();
    tokio::spawn(weft::server::serve(state, listener, std::future::pending()));
    format!("ws://{addr}/v1/editor")
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON text message (skipping pings), within 10 s.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection is open")
            .expect("a frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Connected and welcomed as admin.
async fn session(bed: &Bed, url: &str) -> Ws {
    let mut ws = connect(url).await;
    send(
        &mut ws,
        json!({"type": "hello", "protocol": 1, "token": bed.admin}),
    )
    .await;
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws
}

async fn project(bed: &Bed) {
    bed.admin("POST", "/v1/projects", Some(json!({"slug": "demo"})))
        .await;
}

/// Messages until (and with) the `run.finished` event of `run`.
async fn until_finished(ws: &mut Ws, run: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let msg = recv(ws).await;
        let done = msg["type"] == "event"
            && msg["event"]["run"] == run
            && msg["event"]["type"] == "run.finished";
        out.push(msg);
        if done {
            return out;
        }
    }
}

fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter()
        .filter(|m| m["type"] == "event")
        .map(|m| m["event"]["seq"].as_u64().unwrap())
        .collect()
}

pub async fn handshake(bed: Bed) {
    let url = listen(&bed).await;
    // Wrong protocol version.
    let mut ws = connect(&url).await;
    send(
        &mut ws,
        json!({"type": "hello", "protocol": 99, "token": bed.admin}),
    )
    .await;
    let e = recv(&mut ws).await;
    assert_eq!(e["error"]["code"], "unsupported_protocol", "{e}");
    // Bad token.
    let mut ws = connect(&url).await;
    send(
        &mut ws,
        json!({"type": "hello", "protocol": 1, "token": "wft_nope"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["error"]["code"], "unauthorized");
    // A command before hello.
    let mut ws = connect(&url).await;
    send(&mut ws, json!({"type": "ping", "id": "1"})).await;
    assert_eq!(recv(&mut ws).await["type"], "error");
    // The token on the upgrade request instead of in hello.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )
    .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", bed.admin).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    send(&mut ws, json!({"type": "hello", "protocol": 1})).await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    send(&mut ws, json!({"type": "ping", "id": "p1"})).await;
    assert_eq!(recv(&mut ws).await, json!({"type": "pong", "id": "p1"}));
}

pub async fn draft_run_streams_every_event_in_order(bed: Bed) {
    project(&bed).await;
    let url = listen(&bed).await;
    let mut ws = session(&bed, &url).await;
    send(
        &mut ws,
        json!({"type": "run.start", "id": "c1", "project": "demo", "flow": "hello",
        "source": {"kind": "draft", "document": hello()}, "inputs": {"name": "Ada"}}),
    )
    .await;
    let ack = recv(&mut ws).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["id"], "c1");
    let run = ack["run"].as_str().unwrap().to_string();
    let msgs = until_finished(&mut ws, &run).await;
    let seq = seqs(&msgs);
    assert_eq!(seq, (1..=seq.len() as u64).collect::<Vec<_>>());
    let kinds: Vec<&str> = msgs
        .iter()
        .map(|m| m["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run.started"));
    assert!(kinds.contains(&"node.finished"));
    let last = &msgs[msgs.len() - 1]["event"];
    assert_eq!(last["outputs"]["greeting"], "HELLO ADA!");
    // The draft run is in the history, as a draft.
    let (_, record) = bed.admin("GET", &format!("/v1/runs/{run}"), None).await;
    assert_eq!(record["run"]["draft"], true);
    assert_eq!(record["run"]["trigger"], "editor");
    // An invalid draft: an error with every diagnostic, no run.
    send(&mut ws, json!({"type": "run.start", "id": "c2", "project": "demo", "flow": "hello",
        "source": {"kind": "draft", "document": {"weft": 1, "name": "x", "nodes": [{"id": "a", "type": "nope"}]}}})).await;
    let e = recv(&mut ws).await;
    assert_eq!(e["id"], "c2");
    assert_eq!(e["error"]["code"], "invalid_flow");
    assert!(e["error"]["details"]["diagnostics"].is_array());
}

pub async fn reconnect_with_after_seq_has_no_gaps_or_duplicates(bed: Bed) {
    project(&bed).await;
    let url = listen(&bed).await;
    // A run that emits 40 tokens, 5 ms apart.
    let flow = json!({"weft": 1, "name": "tokens",
        "nodes": [{"id": "gen", "type": "test.emit", "config": {"count": 40, "delay_ms": 5}}],
        "outputs": {"text": "gen.text"}});
    let mut ws = session(&bed, &url).await;
    send(
        &mut ws,
        json!({"type": "run.start", "id": "c1", "project": "demo", "flow": "tokens",
        "source": {"kind": "draft", "document": flow}}),
    )
    .await;
    let run = recv(&mut ws).await["run"].as_str().unwrap().to_string();
    // Read a few events, then drop the connection mid-run.
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let m = recv(&mut ws).await;
        if m["type"] == "event" {
            seen.push(m["event"]["seq"].as_u64().unwrap());
        }
    }
    drop(ws);
    let last = *seen.last().unwrap();
    // Reconnect and resume after the last seen seq.
    let mut ws = session(&bed, &url).await;
    send(&mut ws, json!({"type": "subscribe", "id": "s1", "topic": {"kind": "run", "run": run}, "after_seq": last})).await;
    let ack = recv(&mut ws).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let rest = seqs(&until_finished(&mut ws, &run).await);
    assert_eq!(rest.first(), Some(&(last + 1)), "{rest:?}");
    seen.extend(rest);
    assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>());
    // After the run: a full replay (from the log or the store) is the same.
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s2", "topic": {"kind": "run", "run": run}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    let replay = seqs(&until_finished(&mut ws, &run).await);
    assert_eq!(replay, seen);
    // Unknown runs are not found.
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s3", "topic": {"kind": "run", "run": "r-nope"}}),
    )
    .await;
    let e = recv(&mut ws).await;
    assert_eq!(e["error"]["code"], "not_found", "{e}");
}

pub async fn bad_frames_get_errors_and_keep_the_connection(bed: Bed) {
    let url = listen(&bed).await;
    let mut ws = session(&bed, &url).await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    let e = recv(&mut ws).await;
    assert_eq!(e["error"]["code"], "bad_message", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("column"),
        "{e}"
    );
    send(&mut ws, json!({"type": "dance", "id": "d1"})).await;
    let e = recv(&mut ws).await;
    assert_eq!(e["id"], "d1");
    assert_eq!(e["error"]["code"], "bad_message");
    send(&mut ws, json!({"type": "subscribe", "id": "s1"})).await;
    let e = recv(&mut ws).await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("topic"),
        "{e}"
    );
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(recv(&mut ws).await["type"], "error");
    // Still alive.
    send(&mut ws, json!({"type": "ping", "id": "p"})).await;
    assert_eq!(recv(&mut ws).await["type"], "pong");
    // Subscribing to another project needs its scope.
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s2", "topic": {"kind": "project", "project": "ghost"}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["error"]["code"], "not_found");
}

pub async fn oversize_frames_close_with_a_reason(bed: Bed) {
    let url = listen(&bed).await;
    let mut ws = session(&bed, &url).await;
    let big = "x".repeat(10_000);
    let _ = ws
        .send(Message::Text(
            json!({"type": "ping", "id": big}).to_string().into(),
        ))
        .await;
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer");
    match frame {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), 1009);
            assert!(close.reason.contains("4096"), "{}", close.reason);
        }
        other => panic!("expected a close frame with a reason, got {other:?}"),
    }
}

pub async fn pinned_start_from_and_stop_at(bed: Bed) {
    project(&bed).await;
    let url = listen(&bed).await;
    let mut ws = session(&bed, &url).await;
    let start = |id: &str, extra: Value| {
        let mut m = json!({"type": "run.start", "id": id, "project": "demo", "flow": "hello",
            "source": {"kind": "draft", "document": hello()}, "inputs": {"name": "Ada"}});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    // Pinned: `greet` does not run.
    send(
        &mut ws,
        start("c1", json!({"pinned": {"greet": {"text": "pinned"}}})),
    )
    .await;
    let run1 = recv(&mut ws).await["run"].as_str().unwrap().to_string();
    let msgs = until_finished(&mut ws, &run1).await;
    let last = &msgs[msgs.len() - 1]["event"];
    assert_eq!(last["outputs"]["greeting"], "PINNED", "{last}");
    assert!(msgs.iter().any(|m| m["event"]["type"] == "node.finished"
        && m["event"]["node"] == "greet"
        && m["event"]["pinned"] == true));
    // Stop at `greet`: `shout` is skipped.
    send(&mut ws, start("c2", json!({"stop_at": "greet"}))).await;
    let run2 = recv(&mut ws).await["run"].as_str().unwrap().to_string();
    let msgs = until_finished(&mut ws, &run2).await;
    assert!(
        msgs.iter()
            .any(|m| m["event"]["type"] == "node.skipped" && m["event"]["node"] == "shout")
    );
    // Start from `shout`, reusing run 1's `greet` output.
    send(
        &mut ws,
        start("c3", json!({"start_from": {"node": "shout", "run": run1}})),
    )
    .await;
    let run3 = recv(&mut ws).await["run"].as_str().unwrap().to_string();
    let msgs = until_finished(&mut ws, &run3).await;
    let last = &msgs[msgs.len() - 1]["event"];
    assert_eq!(last["outputs"]["greeting"], "PINNED", "{last}");
    assert!(
        !msgs
            .iter()
            .any(|m| m["event"]["type"] == "node.started" && m["event"]["node"] == "greet")
    );
    // Errors name the field.
    send(&mut ws, start("c4", json!({"stop_at": "ghost"}))).await;
    let e = recv(&mut ws).await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("stop_at"),
        "{e}"
    );
    // Bad pins and inputs are refused before any run exists, all at once.
    let mut bad = start(
        "c5",
        json!({"pinned": {"greet": {"text": 7, "ghost": 1}, "nobody": {"x": 1}}}),
    );
    bad["inputs"] = json!({"name": 3, "nmae": "Ada"});
    send(&mut ws, bad).await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (&e["type"], &e["id"]),
        (&json!("error"), &json!("c5")),
        "{e}"
    );
    assert_eq!(e["error"]["code"], "invalid_inputs", "{e}");
    let details = &e["error"]["details"];
    let listed = |field: &str| -> Vec<String> {
        details[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let pinned = listed("pinned");
    assert_eq!(pinned.len(), 3, "{e}");
    assert!(pinned[0].contains("`greet.ghost`"), "{e}");
    assert!(pinned[1].contains("`greet.text`"), "{e}");
    assert!(pinned[2].contains("`nobody`"), "{e}");
    let inputs = listed("inputs");
    assert_eq!(inputs.len(), 2, "{e}");
    assert!(inputs.iter().any(|m| m.contains("`nmae`")), "{e}");
    assert!(inputs.iter().any(|m| m.contains("input `name`")), "{e}");
    // The connection is fine, and no run was made.
    send(&mut ws, json!({"type": "ping", "id": "p"})).await;
    assert_eq!(recv(&mut ws).await["type"], "pong");
}

pub async fn slow_clients_get_lagged_and_resync(bed: Bed) {
    project(&bed).await;
    let url = listen(&bed).await;
    let flow = json!({"weft": 1, "name": "burst",
        "nodes": [{"id": "gen", "type": "test.emit", "config": {"count": 100000, "delay_ms": 0}}],
        "outputs": {"text": "gen.text"}});
    let mut ws = session(&bed, &url).await;
    send(
        &mut ws,
        json!({"type": "run.start", "id": "c1", "project": "demo", "flow": "burst",
        "source": {"kind": "draft", "document": flow}}),
    )
    .await;
    // Do not read until the run is over: the queue (4) stays full.
    let ack = recv(&mut ws).await;
    let run = ack["run"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let (_, r) = bed.admin("GET", &format!("/v1/runs/{run}"), None).await;
        if r["run"]["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than the stall limit (200 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Read; on `lagged`, resubscribe from its `after_seq` (a slow machine
    // may lag again during the resync: a client just repeats).
    let mut all: Vec<u64> = Vec::new();
    let mut lags = 0;
    let mut resyncs = 0;
    loop {
        let m = recv(&mut ws).await;
        match m["type"].as_str() {
            Some("ack") => continue,
            Some("event") => {
                let seq = m["event"]["seq"].as_u64().unwrap();
                // Events queued before a lag may arrive after it.
                if all.last().is_none_or(|last| seq == last + 1) {
                    all.push(seq);
                }
                if m["event"]["type"] == "run.finished" && all.last() == Some(&seq) {
                    break;
                }
            }
            Some("lagged") => {
                lags += 1;
                assert_eq!(m["run"], run.as_str());
                assert!(m["missed"].as_u64().unwrap() > 0, "{m}");
                let after = m["after_seq"].as_u64().unwrap();
                assert!(after <= all.last().copied().unwrap_or(0) + 4, "{m}");
                all.truncate(after as usize);
                resyncs += 1;
                assert!(resyncs < 50, "too many resyncs");
                send(
                    &mut ws,
                    json!({"type": "subscribe", "id": format!("s{resyncs}"),
                    "topic": {"kind": "run", "run": run}, "after_seq": after}),
                )
                .await;
            }
            _ => panic!("unexpected {m}"),
        }
    }
    assert!(
        lags >= 1,
        "a client that read nothing for 600 ms was not told it lagged"
    );
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    assert!(all.len() > 100_000);
}

pub async fn flow_and_project_topics_follow_new_runs(bed: Bed) {
    project(&bed).await;
    bed.admin("PUT", "/v1/projects/demo/flows/hello", Some(hello()))
        .await;
    let url = listen(&bed).await;
    let mut by_flow = session(&bed, &url).await;
    send(&mut by_flow, json!({"type": "subscribe", "id": "s1", "topic": {"kind": "flow", "project": "demo", "flow": "hello"}})).await;
    assert_eq!(recv(&mut by_flow).await["type"], "ack");
    let mut by_project = session(&bed, &url).await;
    send(
        &mut by_project,
        json!({"type": "subscribe", "id": "s1", "topic": {"kind": "project", "project": "demo"}}),
    )
    .await;
    assert_eq!(recv(&mut by_project).await["type"], "ack");
    // A run started over REST shows up on both sockets, whole.
    let (_, run) = bed
        .admin(
            "POST",
            "/v1/projects/demo/flows/hello/runs",
            Some(json!({"inputs": {"name": "Ada"}})),
        )
        .await;
    let id = run["run"].as_str().unwrap();
    for ws in [&mut by_flow, &mut by_project] {
        let seq = seqs(&until_finished(ws, id).await);
        assert_eq!(seq, (1..=seq.len() as u64).collect::<Vec<_>>());
    }
    // A read-only token of another project may not follow this one.
    let other = bed
        .token(&[weft::store::Scope::ProjectRead("other".into())])
        .await;
    let mut ws = connect(&url).await;
    send(
        &mut ws,
        json!({"type": "hello", "protocol": 1, "token": other}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s2", "topic": {"kind": "project", "project": "demo"}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["error"]["code"], "forbidden");
    // Unsubscribing stops the flow: a second unsubscribe is an error.
    send(&mut by_flow, json!({"type": "unsubscribe", "id": "u1", "topic": {"kind": "flow", "project": "demo", "flow": "hello"}})).await;
    assert_eq!(recv(&mut by_flow).await["type"], "ack");
    send(&mut by_flow, json!({"type": "unsubscribe", "id": "u2", "topic": {"kind": "flow", "project": "demo", "flow": "hello"}})).await;
    assert_eq!(recv(&mut by_flow).await["error"]["code"], "not_found");
}

pub async fn overlapping_subscriptions_send_each_event_once(bed: Bed) {
    project(&bed).await;
    let url = listen(&bed).await;
    let mut ws = session(&bed, &url).await;
    // The run is covered three times: by its project, its flow and itself.
    for (id, topic) in [
        ("s1", json!({"kind": "project", "project": "demo"})),
        (
            "s2",
            json!({"kind": "flow", "project": "demo", "flow": "hello"}),
        ),
    ] {
        send(
            &mut ws,
            json!({"type": "subscribe", "id": id, "topic": topic}),
        )
        .await;
        assert_eq!(recv(&mut ws).await["type"], "ack");
    }
    let start = json!({"type": "run.start", "id": "c1", "project": "demo", "flow": "hello",
        "source": {"kind": "draft", "document": hello()}, "inputs": {"name": "Ada"}});
    send(&mut ws, start).await;
    let ack = recv(&mut ws).await;
    let run = ack["run"].as_str().unwrap().to_string();
    let live = until_finished(&mut ws, &run).await;
    let n = live.len() as u64;
    assert_eq!(seqs(&live), (1..=n).collect::<Vec<_>>(), "{live:?}");
    // Nothing trails it: the next message answers a ping.
    nothing_more(&mut ws, "p1").await;
    // Subscribing to the run again asks for a replay: it comes, once.
    let again = |id: &str, after: Option<u64>| {
        let mut m = json!({"type": "subscribe", "id": id, "topic": {"kind": "run", "run": run}});
        if let Some(after) = after {
            m["after_seq"] = json!(after);
        }
        m
    };
    send(&mut ws, again("s3", None)).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    let replay = until_finished(&mut ws, &run).await;
    assert_eq!(replay, live);
    nothing_more(&mut ws, "p2").await;
    send(&mut ws, again("s4", Some(2))).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    let rest = until_finished(&mut ws, &run).await;
    assert_eq!(seqs(&rest), (3..=n).collect::<Vec<_>>());
    nothing_more(&mut ws, "p3").await;
}

/// The next message answers a ping: nothing else was queued.
async fn nothing_more(ws: &mut Ws, id: &str) {
    send(ws, json!({"type": "ping", "id": id})).await;
    let next = recv(ws).await;
    assert_eq!(
        (&next["type"], &next["id"]),
        (&json!("pong"), &json!(id)),
        "{next}"
    );
}
