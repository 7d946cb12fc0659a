//! Forwarders: one task per subscribed run, a cursor over its log in the
//! hub (or over the stored events) that pushes encoded events into the
//! connection's bounded queue, and `lagged` when the client stalls.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use weft_editor_protocol::events::{EventBody, Preview, RunEvent};
use weft_editor_protocol::ws::ServerMessage;

use super::delivery::{Delivery, Out};
use super::{PAGE, error};
use crate::server::AppState;

/// Where a forwarder sends: the connection's queues, and its generation.
pub(super) struct Outlet {
    pub(super) events: mpsc::Sender<Out>,
    pub(super) control: mpsc::UnboundedSender<Out>,
    pub(super) generation: u64,
}

/// Pushes one run's events after `after` to a connection until the run
/// ends, the connection goes away, or the queue is full (then `lagged`).
pub(super) async fn forward_run(app: AppState, run: String, after: u64, out: Outlet) {
    let Outlet {
        events,
        control,
        generation,
    } = out;
    let mut cursor = after;
    let stall = app.config.ws_stall;
    let id: Arc<str> = Arc::from(run.as_str());
    let delivery = |event: &RunEvent, frame: Utf8Bytes| Delivery {
        run: id.clone(),
        seq: event.seq,
        last: matches!(event.body, EventBody::RunFinished(_)),
        generation,
        frame,
    };
    let lagged = |cursor: u64, head: u64| {
        let _ = control.send(Out::Message(Box::new(ServerMessage::Lagged {
            run: run.clone(),
            after_seq: cursor,
            missed: head.saturating_sub(cursor),
        })));
    };
    if let Some(live) = app.hub.get(&run) {
        let mut watch = live.watch();
        loop {
            let head = *watch.borrow_and_update();
            while cursor < head.seq {
                for logged in live.events_after(cursor, PAGE) {
                    let d = delivery(&logged.event, logged.frame(frame));
                    match push(&events, d, stall).await {
                        Pushed::Sent => cursor = logged.event.seq,
                        Pushed::Stalled => {
                            app.metrics.ws_lagged();
                            return lagged(cursor, live.head().seq);
                        }
                        Pushed::Gone => return,
                    }
                }
            }
            if head.finished {
                return;
            }
            if watch.changed().await.is_err() {
                return;
            }
            // A run's events come in bursts (a node's end, the next one's
            // start): let the burst finish and take it in one pass rather
            // than wake once per event.
            tokio::task::yield_now().await;
        }
    }
    // Not in memory: the stored events.
    loop {
        let page = match app.store.events_after(&run, cursor, PAGE as u32).await {
            Ok(page) => page,
            Err(e) => {
                let _ = control.send(Out::Message(Box::new(error(None, &e.into()))));
                return;
            }
        };
        if page.is_empty() {
            return;
        }
        for event in page {
            match push(&events, delivery(&event, frame(&event)), stall).await {
                Pushed::Sent => cursor = event.seq,
                Pushed::Stalled => {
                    app.metrics.ws_lagged();
                    let head = app.store.last_event_seq(&run).await.unwrap_or(cursor);
                    return lagged(cursor, head);
                }
                Pushed::Gone => return,
            }
        }
    }
}

enum Pushed {
    Sent,
    /// The queue stayed full for the stall limit.
    Stalled,
    /// The connection is gone.
    Gone,
}

/// Queues one event's frame for the connection, waiting at most `stall`.
async fn push(events: &mpsc::Sender<Out>, delivery: Delivery, stall: Duration) -> Pushed {
    match events.send_timeout(Out::Event(delivery), stall).await {
        Ok(()) => Pushed::Sent,
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => Pushed::Stalled,
        Err(mpsc::error::SendTimeoutError::Closed(_)) => Pushed::Gone,
    }
}

/// An event's `event` message as a text frame (empty if it cannot be
/// encoded, which the writer skips).
fn frame(event: &RunEvent) -> Utf8Bytes {
    let msg = ServerMessage::Event {
        event: with_links(event),
    };
    Utf8Bytes::from(serde_json::to_string(&msg).unwrap_or_default())
}

/// The event with REST links on truncated output previews.
fn with_links(event: &RunEvent) -> RunEvent {
    let mut event = event.clone();
    if let EventBody::NodeFinished(f) = &mut event.body {
        for (port, preview) in f.outputs.iter_mut() {
            if let Preview::Truncated { href, .. } = preview {
                *href = Some(format!(
                    "/v1/runs/{}/nodes/{}/outputs/{}",
                    event.run, f.node, port
                ));
            }
        }
    }
    event
}
