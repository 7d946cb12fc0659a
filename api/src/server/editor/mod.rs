//! `GET /v1/editor`: the editor websocket (messages in
//! [`weft_editor_protocol::ws`]).
//!
//! One session per connection:
//!
//! - **Handshake.** The first frame must be `hello` (within
//!   [`HELLO_TIMEOUT`]) with a protocol version this server speaks and a
//!   token (or `Authorization: Bearer` on the upgrade request). Anything
//!   else gets an `error` and the connection is closed.
//! - **Commands** are handled one at a time, each answered by exactly one
//!   `ack` or `error` with its id. A frame that is not a command (bad JSON,
//!   unknown type, missing field) gets an `error` naming the problem and
//!   the connection stays open. A frame over the size limit closes the
//!   connection with code 1009 and a reason.
//! - **Subscriptions.** Each subscribed run has a forwarder task: a cursor
//!   over the run's log in the [`Hub`] (or, for runs no longer in memory,
//!   over the stored events) that pushes events into the connection's
//!   bounded queue. The executor never waits for it (it only appends to the
//!   log); a client that reads slowly slows only its own forwarders. When
//!   the queue stays full for [`ServerConfig::ws_stall`](super::ServerConfig)
//!   the forwarder gives up and the client gets `lagged {run, after_seq,
//!   missed}` (through a separate, unbounded control queue); it may
//!   subscribe again with that `after_seq`. Flow and project subscriptions start a
//!   forwarder for each new matching run. The ack of `subscribe` (like that
//!   of `run.start`) is sent before the first event it brings: forwarders
//!   start after it, and the writer sends replies queued before an event
//!   ahead of it.
//! - **Cost per client.** An event from a live run is encoded once, for
//!   every subscriber (the frame is kept with the event in the hub's log);
//!   the writer feeds everything already queued (up to `WRITE_BATCH`, 64
//!   frames) before one flush, so a burst of events costs a connection one
//!   write, not one per event.
//! - **Once per connection.** Subscriptions overlap (a run and its flow, a
//!   flow and its project); the writer remembers the last `seq` it sent of
//!   each run ([`Delivered`]) and drops what the connection already has, so
//!   each event reaches a client once, in `seq` order. An explicit
//!   `subscribe` to a run replays it from `after_seq` all the same.
//!
//! ## Layout
//! - this module: the upgrade, the handshake and the session's commands.
//! - `delivery`: what the writer is sent, and each event once per
//!   connection.
//! - `forward`: the per-run forwarders and `lagged`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weft_editor_protocol::ws::{
    ClientMessage, PROTOCOL_VERSION, RunStart, ServerMessage, Topic, WsError,
};

mod delivery;
mod forward;

use super::AppState;
use super::auth::{Access, Caller};
use super::error::ApiError;
use super::launch;
use delivery::{Delivered, Out, feed};
use forward::{Outlet, forward_run};

/// How long a client has to send `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read from the log or the store per step.
const PAGE: usize = 256;
/// Frames written per flush at most.
const WRITE_BATCH: usize = 64;

pub async fn upgrade(
    State(app): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header_token = super::auth::bearer(&headers).map(str::to_owned);
    let limit = app.config.max_frame_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            let metrics = app.metrics.clone();
            metrics.ws_opened();
            let background = app
                .editor_background
                .then(super::background::editor_runtime)
                .flatten();
            match background {
                Some(rt) => {
                    let _ = rt.spawn(Session::run(app, socket, header_token)).await;
                }
                None => Session::run(app, socket, header_token).await,
            }
            metrics.ws_closed();
        })
}

struct Session {
    app: AppState,
    caller: Caller,
    /// Events (bounded: a slow client loses them, see the module docs).
    events: mpsc::Sender<Out>,
    /// Replies and `lagged` notices (never dropped; one per command or
    /// dropped subscription, so small).
    control: mpsc::UnboundedSender<Out>,
    subscriptions: HashMap<Topic, JoinHandle<()>>,
    /// Numbers this connection's forwarders (see [`Delivered`]).
    generations: Arc<AtomicU64>,
}

impl Session {
    async fn run(app: AppState, socket: WebSocket, header_token: Option<String>) {
        let (mut sink, mut stream) = socket.split();
        let (events_tx, mut events_rx) = mpsc::channel::<Out>(app.config.ws_queue);
        let (control_tx, mut control_rx) = mpsc::unbounded_channel::<Out>();
        // The writer: control first, then events.
        let writer = tokio::spawn(async move {
            let mut delivered = Delivered::default();
            'write: loop {
                let (mut out, mut is_event) = tokio::select! {
                    biased;
                    Some(out) = control_rx.recv() => (out, false),
                    Some(out) = events_rx.recv() => (out, true),
                    else => break,
                };
                // Let the other forwarders of this connection queue what
                // they have too: one flush (one write) for all of it.
                if is_event {
                    tokio::task::yield_now().await;
                }
                // This message and whatever else is already queued, then
                // one flush.
                let mut fed = 0;
                loop {
                    if is_event {
                        // Replies queued before this event was taken still
                        // go first: the control queue may have been found
                        // empty just before the ack of the subscription
                        // that produced this event arrived.
                        while let Ok(reply) = control_rx.try_recv() {
                            if !feed(&mut sink, reply, &mut delivered).await {
                                break 'write;
                            }
                        }
                    }
                    if !feed(&mut sink, out, &mut delivered).await {
                        break 'write;
                    }
                    fed += 1;
                    if fed >= WRITE_BATCH {
                        break;
                    }
                    (out, is_event) = match control_rx.try_recv() {
                        Ok(reply) => (reply, false),
                        Err(_) => match events_rx.try_recv() {
                            Ok(event) => (event, true),
                            Err(_) => break,
                        },
                    };
                }
                if sink.flush().await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let reply = |msg: ServerMessage| {
            let _ = control_tx.send(Out::Message(Box::new(msg)));
        };
        // Handshake.
        let caller = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                match hello(&app, &text, header_token.as_deref()).await {
                    Ok(caller) => {
                        reply(ServerMessage::Welcome {
                            protocol: PROTOCOL_VERSION,
                            server: format!("weft {}", env!("CARGO_PKG_VERSION")),
                        });
                        Some(caller)
                    }
                    Err(e) => {
                        reply(error(None, &e));
                        None
                    }
                }
            }
            Ok(Some(Ok(_))) => {
                reply(error(
                    None,
                    &ApiError::bad_request("the first message must be a `hello` text frame"),
                ));
                None
            }
            Ok(_) => None,
            Err(_) => {
                reply(error(
                    None,
                    &ApiError::bad_request(format!(
                        "no `hello` within {} s",
                        HELLO_TIMEOUT.as_secs()
                    )),
                ));
                None
            }
        };
        let Some(caller) = caller else {
            let _ = control_tx.send(Out::Close(1008, "handshake failed".into()));
            drop(control_tx);
            drop(events_tx);
            let _ = writer.await;
            return;
        };

        let mut session = Session {
            app,
            caller,
            events: events_tx,
            control: control_tx,
            subscriptions: HashMap::new(),
            generations: Arc::new(AtomicU64::new(1)),
        };
        loop {
            let frame = tokio::select! {
                frame = stream.next() => frame,
                () = session.app.closing.cancelled() => {
                    let _ = session.control.send(Out::Close(1001, "the server is shutting down".into()));
                    break;
                }
            };
            let Some(frame) = frame else { break };
            match frame {
                Ok(Message::Text(text)) => session.command(&text).await,
                Ok(Message::Binary(_)) => session.reply(error(
                    None,
                    &ApiError::bad_request(
                        "binary frames are not part of the protocol; send JSON text",
                    ),
                )),
                Ok(Message::Close(_)) => break,
                Ok(_) => {} // ping/pong frames: tungstenite answers pings
                Err(e) => {
                    let text = e.to_string();
                    if text.contains("too long")
                        || text.contains("Space limit")
                        || text.contains("size")
                    {
                        let limit = session.app.config.max_frame_bytes;
                        let _ = session
                            .control
                            .send(Out::Close(1009, format!("frame larger than {limit} bytes")));
                    }
                    break;
                }
            }
        }
        for (_, task) in session.subscriptions.drain() {
            task.abort();
        }
        drop(session);
        let _ = writer.await;
    }

    fn reply(&self, msg: ServerMessage) {
        let _ = self.control.send(Out::Message(Box::new(msg)));
    }

    async fn command(&mut self, text: &str) {
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(msg) => msg,
            Err(e) => {
                // Keep the id if the frame had one, so the client can match it.
                let id = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned));
                return self.reply(ServerMessage::Error {
                    id,
                    error: WsError {
                        code: "bad_message".into(),
                        message: format!("not a valid message: {e}"),
                        details: None,
                    },
                });
            }
        };
        let id = msg.id().map(str::to_owned);
        let result = match msg {
            ClientMessage::Hello { .. } => Err(ApiError::bad_request("already said hello")),
            ClientMessage::Ping { id } => {
                self.reply(ServerMessage::Pong { id });
                return;
            }
            ClientMessage::Subscribe {
                id,
                topic,
                after_seq,
            } => {
                if let Err(e) = self.subscribe(&id, topic, after_seq.unwrap_or(0)).await {
                    self.reply(error(Some(id), &e));
                }
                return;
            }
            ClientMessage::Unsubscribe { id, topic } => match self.subscriptions.remove(&topic) {
                Some(task) => {
                    task.abort();
                    Ok((id, None))
                }
                None => Err(ApiError::not_found("not subscribed to that topic")),
            },
            ClientMessage::RunStart(start) => return self.start(*start).await,
            ClientMessage::RunCancel { id, run } => match self.app.store.get_run(&run).await {
                Ok(r) => match self.caller.check(&r.project, Access::Write) {
                    Ok(()) => match self.app.runner.cancel_token(&run) {
                        // The ack goes first: the events the cancel causes
                        // (on the runs' own threads) come after it.
                        Some(token) => {
                            self.reply(ServerMessage::Ack { id, run: None });
                            token.cancel();
                            return;
                        }
                        None => Err(ApiError::new(
                            axum::http::StatusCode::CONFLICT,
                            "not_running",
                            format!("run `{run}` is not running"),
                        )),
                    },
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            },
        };
        match result {
            Ok((id, run)) => self.reply(ServerMessage::Ack { id, run }),
            Err(e) => self.reply(error(id, &e)),
        }
    }

    /// Starts a run, acks it, then subscribes to it (so the ack comes
    /// before the run's first event, and no event is missed).
    async fn start(&mut self, start: RunStart) {
        let id = start.id.clone();
        if let Err(e) = self.caller.check(&start.project, Access::Write) {
            return self.reply(error(Some(id), &e));
        }
        match launch::from_editor(&self.app, start).await {
            Ok(started) => {
                let run = started.id;
                self.reply(ServerMessage::Ack {
                    id,
                    run: Some(run.clone()),
                });
                let task = self.forward(run.clone(), 0, false);
                self.subscriptions.insert(Topic::Run { run }, task);
            }
            Err(e) => self.reply(error(Some(id), &e)),
        }
    }

    /// Checks a subscription, acks it, then starts following (so the ack
    /// comes before the first replayed or live event).
    async fn subscribe(&mut self, id: &str, topic: Topic, after: u64) -> Result<(), ApiError> {
        let ack = |session: &Self| {
            session.reply(ServerMessage::Ack {
                id: id.to_owned(),
                run: None,
            });
        };
        let task = match &topic {
            Topic::Run { run } => {
                let project = match self.app.hub.get(run) {
                    Some(live) => live.project.clone(),
                    None => self.app.store.get_run(run).await?.project,
                };
                self.caller.check(&project, Access::Read)?;
                // The forwarder reads the run's log from `after`: starting
                // it after the ack loses nothing.
                ack(self);
                self.forward(run.clone(), after, true)
            }
            Topic::Flow { project, .. } | Topic::Project { project } => {
                self.caller.check(project, Access::Read)?;
                self.app.store.get_project(project).await?;
                // Listening before the ack: every run started after it is seen.
                let flow = match &topic {
                    Topic::Flow { flow, .. } => Some(flow.as_str()),
                    _ => None,
                };
                let started = self.app.hub.watch_started(project, flow);
                ack(self);
                self.follow(started)
            }
        };
        if let Some(old) = self.subscriptions.insert(topic, task) {
            old.abort();
        }
        Ok(())
    }

    /// A forwarder for one run from `after`; a `replay` one takes the run
    /// over from any older forwarder (see [`Delivered`]).
    fn forward(&self, run: String, after: u64, replay: bool) -> JoinHandle<()> {
        let app = self.app.clone();
        let events = self.events.clone();
        let control = self.control.clone();
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        if replay {
            let _ = control.send(Out::Replay {
                run: Arc::from(run.as_str()),
                after,
                generation,
            });
        }
        let out = Outlet {
            events,
            control,
            generation,
        };
        tokio::spawn(forward_run(app, run, after, out))
    }

    /// Forwards the new runs of a flow or project topic (the hub sends
    /// only those that match): each run's forwarder is a future polled by
    /// this one task (not a task of its own), so a run seen by many
    /// connections costs no task spawns and no extra wake-up hops.
    fn follow(&self, mut started: super::hub::StartedRuns) -> JoinHandle<()> {
        let app = self.app.clone();
        let events = self.events.clone();
        let control = self.control.clone();
        let generations = self.generations.clone();
        tokio::spawn(async move {
            // Dropped (and so every forwarder with it) with this task.
            let mut forwarders = FuturesUnordered::new();
            loop {
                let live = tokio::select! {
                    got = started.recv() => match got {
                        Some(live) => live,
                        None => break,
                    },
                    Some(()) = forwarders.next(), if !forwarders.is_empty() => continue,
                };
                let out = Outlet {
                    events: events.clone(),
                    control: control.clone(),
                    generation: generations.fetch_add(1, Ordering::Relaxed),
                };
                forwarders.push(forward_run(app.clone(), live.id.clone(), 0, out));
            }
        })
    }
}

/// Authenticates a `hello`.
async fn hello(app: &AppState, text: &str, header_token: Option<&str>) -> Result<Caller, ApiError> {
    let msg: ClientMessage = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("not a valid `hello`: {e}")))?;
    let ClientMessage::Hello { protocol, token } = msg else {
        return Err(ApiError::bad_request("the first message must be `hello`"));
    };
    if protocol != PROTOCOL_VERSION {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            format!("this server speaks protocol {PROTOCOL_VERSION}, not {protocol}"),
        ));
    }
    let token = token.as_deref().or(header_token).ok_or_else(|| {
        ApiError::unauthorized("no token: put it in `hello.token` or send `Authorization: Bearer`")
    })?;
    super::auth::verify(app, token).await
}

fn error(id: Option<String>, e: &ApiError) -> ServerMessage {
    ServerMessage::Error {
        id,
        error: WsError {
            code: e.code.to_string(),
            message: e.message.clone(),
            details: e.details.clone(),
        },
    }
}
