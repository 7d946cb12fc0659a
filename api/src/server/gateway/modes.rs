//! The three ways a published route answers ([`TriggerMode`]): `sync` (the
//! response waits for the run), `stream` (server-sent events while it
//! runs) and `async` (202 at once, with a status URL to poll or follow).
//!
//! - **Choosing**: `Prefer: respond-async` asks for `async`, `Accept:
//!   text/event-stream` for `stream`, anything else for `sync`; a mode the
//!   trigger does not list is 406 naming the ones it does.
//! - **Events** (stream, and following a run's status URL): `run` first
//!   (`{"run"}`), `token` for each token an `llm.chat` node streams
//!   (`{"node", "text"}`), with `x-weft-events: nodes` also `node` events
//!   (`{"type", "node", "seq"}`: started, finished, skipped, failed, with
//!   no values or messages, which are the owner's) and `emit` events of
//!   other ports (`{"node", "port", "value"}`), and last `done`
//!   (`{"run", "status": "succeeded", "outputs"}`) or `error` (`{"run",
//!   "code", "message"}`, nothing about why: the owner looks the run up).
//! - **Status** (`GET <stage>/_weft/runs/{run}`): the run's status and,
//!   once it succeeded, its outputs; the key rule of the route that started
//!   it applies. With `Accept: text/event-stream` the run is followed: its
//!   events so far, then live (from this process's memory when it runs
//!   here, else from the store every 100 ms).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use weft_editor_protocol::events::{EventBody, RunEvent, RunStatus};
use weft_editor_protocol::trigger::{HttpTrigger, TriggerMode};

use super::request::wants;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::hub::LiveRun;

/// Where a stage's run status URLs live, below the stage's base.
pub const STATUS_PREFIX: &str = "/_weft/runs/";
/// How often a run followed from the store (it runs in another process)
/// is read again.
const STORE_POLL: Duration = Duration::from_millis(100);
/// Events queued for a slow SSE client before the follower waits.
const QUEUE: usize = 256;

/// The mode `headers` ask for, if `trigger` allows it.
pub fn choose(
    headers: &HeaderMap,
    trigger: &HttpTrigger,
    route: &str,
) -> Result<TriggerMode, ApiError> {
    let asked = if wants(headers, HeaderName::from_static("prefer"), "respond-async") {
        TriggerMode::Async
    } else if wants(headers, axum::http::header::ACCEPT, "text/event-stream") {
        TriggerMode::Stream
    } else {
        TriggerMode::Sync
    };
    if trigger.modes.contains(&asked) {
        return Ok(asked);
    }
    let how = match asked {
        TriggerMode::Async => " (`Prefer: respond-async`)",
        TriggerMode::Stream => " (`Accept: text/event-stream`)",
        TriggerMode::Sync => "",
    };
    let allowed: Vec<&str> = trigger.modes.iter().map(|m| m.as_str()).collect();
    Err(ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "mode_not_allowed",
        format!(
            "route `{route}` answers {}; this request asks for {}{how}",
            allowed.join(", "),
            asked.as_str()
        ),
    ))
}

/// Whether the caller asked for node events too (`x-weft-events: nodes`).
pub fn wants_node_events(headers: &HeaderMap) -> bool {
    wants(headers, HeaderName::from_static("x-weft-events"), "nodes")
}

/// The SSE answer to a run started here: its events as they come.
pub fn stream(app: &AppState, run: String, live: Arc<LiveRun>, nodes: bool) -> Response {
    let (tx, rx) = mpsc::channel(QUEUE);
    let app = app.clone();
    tokio::spawn(async move {
        follow(&app, &run, Some(live), nodes, &tx).await;
    });
    sse(rx)
}

/// The SSE answer following a run that may be anywhere (here, another
/// process, finished).
pub fn follow_stored(app: &AppState, run: String, nodes: bool) -> Response {
    let (tx, rx) = mpsc::channel(QUEUE);
    let app = app.clone();
    tokio::spawn(async move {
        let live = app.hub.get(&run);
        follow(&app, &run, live, nodes, &tx).await;
    });
    sse(rx)
}

fn sse(rx: mpsc::Receiver<Event>) -> Response {
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|e| (Ok::<Event, std::convert::Infallible>(e), rx))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Proxies (nginx) must not hold the stream back.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// Sends `run`'s events to `tx` until its `run.finished` (then `done` or
/// `error`) or until the client goes away.
async fn follow(
    app: &AppState,
    run: &str,
    mut live: Option<Arc<LiveRun>>,
    nodes: bool,
    tx: &mpsc::Sender<Event>,
) {
    if tx
        .send(json_event("run", &json!({"run": run})))
        .await
        .is_err()
    {
        return;
    }
    let mut after = 0u64;
    loop {
        if let Some(current) = live.take() {
            // In memory: read what is new whenever the log grows.
            let mut head = current.watch();
            loop {
                let now = *head.borrow_and_update();
                for logged in current.events_after(after, usize::MAX) {
                    after = logged.event.seq;
                    if !send(tx, &logged.event, nodes).await {
                        return;
                    }
                    if matches!(logged.event.body, EventBody::RunFinished(_)) {
                        return;
                    }
                }
                if now.finished && after >= now.seq {
                    return;
                }
                if head.changed().await.is_err() {
                    break;
                }
            }
        }
        // In the store: the run is in another process, or over.
        let events = match app.store.events_after(run, after, 500).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(run, error = %e, "following a run's events");
                let _ = tx
                    .send(failure(
                        run,
                        "unavailable",
                        "the run's events cannot be read now; try again",
                    ))
                    .await;
                return;
            }
        };
        let read = events.len();
        for event in &events {
            after = event.seq;
            if !send(tx, event, nodes).await {
                return;
            }
            if matches!(event.body, EventBody::RunFinished(_)) {
                return;
            }
        }
        if read == 0 {
            match app.store.get_run(run).await {
                Ok(r) if r.status != crate::store::RunStatus::Running => {
                    // Over without a stored `run.finished` (interrupted).
                    let _ = tx
                        .send(failure(run, "run_failed", &owner_message(run)))
                        .await;
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(run, error = %e, "following a run");
                    let _ = tx
                        .send(failure(
                            run,
                            "unavailable",
                            "the run cannot be read now; try again",
                        ))
                        .await;
                    return;
                }
            }
            tokio::time::sleep(STORE_POLL).await;
            live = app.hub.get(run);
        }
    }
}

/// Sends what the caller sees of `event`; false once the client is gone.
async fn send(tx: &mpsc::Sender<Event>, event: &RunEvent, nodes: bool) -> bool {
    match caller_event(event, nodes) {
        Some(e) => tx.send(e).await.is_ok(),
        None => !tx.is_closed(),
    }
}

/// What a caller of a published route sees of a run event.
fn caller_event(event: &RunEvent, nodes: bool) -> Option<Event> {
    let node_event = |kind: &str, node: &str| {
        nodes.then(|| {
            json_event(
                "node",
                &json!({"type": kind, "node": node, "seq": event.seq}),
            )
        })
    };
    match &event.body {
        EventBody::NodeEmit(e) if e.port == "token" => Some(json_event(
            "token",
            &json!({"node": e.node, "text": e.value}),
        )),
        EventBody::NodeEmit(e) => nodes.then(|| {
            json_event(
                "emit",
                &json!({"node": e.node, "port": e.port, "value": e.value}),
            )
        }),
        EventBody::NodeStarted(e) => node_event("node.started", &e.node),
        EventBody::NodeFinished(e) => node_event("node.finished", &e.node),
        EventBody::NodeSkipped(e) => node_event("node.skipped", &e.node),
        EventBody::NodeFailed(e) => node_event("node.failed", &e.node),
        EventBody::RunFinished(f) if f.status == RunStatus::Succeeded => Some(json_event(
            "done",
            &json!({"run": event.run, "status": "succeeded", "outputs": f.outputs}),
        )),
        EventBody::RunFinished(_) => Some(failure(
            &event.run,
            "run_failed",
            &owner_message(&event.run),
        )),
        EventBody::RunStarted(_) | EventBody::NodeLog(_) => None,
    }
}

fn owner_message(run: &str) -> String {
    format!("the flow did not succeed; its owner can look up run `{run}`")
}

fn failure(run: &str, code: &str, message: &str) -> Event {
    json_event(
        "error",
        &json!({"run": run, "code": code, "message": message}),
    )
}

fn json_event(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// The 202 answer of an async request.
pub fn accepted(run: &str, base: &str) -> Response {
    let url = format!("{base}{STATUS_PREFIX}{run}");
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(json!({"run": run, "status": "running", "status_url": url})),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = axum::http::HeaderValue::from_str(&url) {
        headers.insert(axum::http::header::LOCATION, v);
    }
    headers.insert(
        HeaderName::from_static("preference-applied"),
        axum::http::HeaderValue::from_static("respond-async"),
    );
    response
}

/// The JSON status of a run, as its caller sees it.
pub fn status_body(run: &crate::store::Run) -> Value {
    use crate::store::RunStatus as S;
    match run.status {
        S::Running => json!({"run": run.id, "status": "running"}),
        S::Succeeded => json!({
            "run": run.id,
            "status": "succeeded",
            "outputs": run.outputs.clone().unwrap_or(Value::Null),
        }),
        _ => json!({
            "run": run.id,
            "status": "failed",
            "error": {"code": "run_failed", "message": owner_message(&run.id)},
        }),
    }
}
