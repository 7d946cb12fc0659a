//! What a connection's writer task is sent ([`Out`]) and how it writes:
//! each event once per connection ([`Delivered`]), replies and events fed
//! in order, one flush per batch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use weft_editor_protocol::ws::ServerMessage;

/// What the writer task sends.
pub(super) enum Out {
    Message(Box<ServerMessage>),
    /// A run's event, already encoded (shared by every subscriber).
    Event(Delivery),
    /// The client subscribed to a run again (see [`Delivered`]).
    Replay {
        run: Arc<str>,
        after: u64,
        generation: u64,
    },
    Close(u16, String),
}

/// One event for one connection.
pub(super) struct Delivery {
    pub(super) run: Arc<str>,
    pub(super) seq: u64,
    /// It is the run's `run.finished`.
    pub(super) last: bool,
    /// Of the forwarder that queued it (see [`Delivered`]).
    pub(super) generation: u64,
    pub(super) frame: Utf8Bytes,
}

/// How many finished runs a connection remembers sending (see
/// [`Delivered`]).
const REMEMBERED_RUNS: usize = 1024;

/// What this connection was sent of each run, so that a run covered by
/// two subscriptions (itself and its flow, say) reaches the client once:
/// the writer drops an event at or below the last `seq` sent.
///
/// An explicit `subscribe` to a run asks for its events after `after_seq`
/// whatever was sent before: it queues [`Out::Replay`] (on the control
/// queue, so before any event of its own forwarder), which sets the run's
/// last `seq` to `after_seq` and drops, from then on, the events of every
/// older forwarder of that run (each forwarder has a generation, numbered
/// per connection), leaving the run to the new one. A run is forgotten
/// [`REMEMBERED_RUNS`] finished runs after its own end.
#[derive(Default)]
pub(super) struct Delivered {
    runs: HashMap<Arc<str>, Sent>,
    finished: VecDeque<Arc<str>>,
}

#[derive(Default)]
struct Sent {
    pub(super) last: u64,
    /// Events of forwarders older than this are dropped.
    pub(super) generation: u64,
}

impl Delivered {
    fn replay(&mut self, run: Arc<str>, after: u64, generation: u64) {
        let sent = self.runs.entry(run).or_default();
        sent.last = after;
        sent.generation = generation;
    }

    /// True the first time this connection sees the event (and records it).
    fn first_time(&mut self, d: &Delivery) -> bool {
        let sent = self.runs.entry(d.run.clone()).or_default();
        if d.seq <= sent.last || d.generation < sent.generation {
            return false;
        }
        sent.last = d.seq;
        if d.last {
            self.finished.push_back(d.run.clone());
            if self.finished.len() > REMEMBERED_RUNS
                && let Some(old) = self.finished.pop_front()
            {
                self.runs.remove(&old);
            }
        }
        true
    }
}

/// Queues one message for the next flush (or sends the close frame);
/// false once the connection is done. An event the connection was already
/// sent is dropped.
pub(super) async fn feed(
    sink: &mut SplitSink<WebSocket, Message>,
    out: Out,
    delivered: &mut Delivered,
) -> bool {
    let frame = match out {
        Out::Message(msg) => match serde_json::to_string(&*msg) {
            Ok(text) => Message::Text(Utf8Bytes::from(text)),
            Err(_) => return true,
        },
        Out::Event(d) if d.frame.as_str().is_empty() || !delivered.first_time(&d) => return true,
        Out::Event(d) => Message::Text(d.frame),
        Out::Replay {
            run,
            after,
            generation,
        } => {
            delivered.replay(run, after, generation);
            return true;
        }
        Out::Close(code, reason) => {
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: Utf8Bytes::from(reason),
                })))
                .await;
            return false;
        }
    };
    sink.feed(frame).await.is_ok()
}
