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

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weft_editor_protocol::events::{EventBody, Preview, RunEvent};
use weft_editor_protocol::ws::{
    ClientMessage, PROTOCOL_VERSION, RunStart, ServerMessage, Topic, WsError,
};

use super::AppState;
use super::auth::{Access, Caller};
use super::error::ApiError;
use super::launch;

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

/// What the writer task sends.
enum Out {
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
struct Delivery {
    run: Arc<str>,
    seq: u64,
    /// It is the run's `run.finished`.
    last: bool,
    /// Of the forwarder that queued it (see [`Delivered`]).
    generation: u64,
    frame: Utf8Bytes,
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
struct Delivered {
    runs: HashMap<Arc<str>, Sent>,
    finished: VecDeque<Arc<str>>,
}

#[derive(Default)]
struct Sent {
    last: u64,
    /// Events of forwarders older than this are dropped.
    generation: u64,
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
                let started = self.app.hub.subscribe_started();
                ack(self);
                self.follow(topic.clone(), started)
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

    /// Starts forwarders for new runs matching a flow or project topic.
    fn follow(
        &self,
        topic: Topic,
        mut started: tokio::sync::broadcast::Receiver<super::hub::Started>,
    ) -> JoinHandle<()> {
        let app = self.app.clone();
        let events = self.events.clone();
        let control = self.control.clone();
        let generations = self.generations.clone();
        tokio::spawn(async move {
            // Dropped (and so aborting every child) with this task.
            let mut children = tokio::task::JoinSet::new();
            loop {
                let live = match started.recv().await {
                    Ok(s) => s.0,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let matches = match &topic {
                    Topic::Flow { project, flow } => &live.project == project && &live.flow == flow,
                    Topic::Project { project } => &live.project == project,
                    Topic::Run { .. } => false,
                };
                if matches {
                    while children.try_join_next().is_some() {}
                    let out = Outlet {
                        events: events.clone(),
                        control: control.clone(),
                        generation: generations.fetch_add(1, Ordering::Relaxed),
                    };
                    children.spawn(forward_run(app.clone(), live.id.clone(), 0, out));
                }
            }
        })
    }
}

/// Queues one message for the next flush (or sends the close frame);
/// false once the connection is done. An event the connection was already
/// sent is dropped.
async fn feed(
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

/// Where a forwarder sends: the connection's queues, and its generation.
struct Outlet {
    events: mpsc::Sender<Out>,
    control: mpsc::UnboundedSender<Out>,
    generation: u64,
}

/// Pushes one run's events after `after` to a connection until the run
/// ends, the connection goes away, or the queue is full (then `lagged`).
async fn forward_run(app: AppState, run: String, after: u64, out: Outlet) {
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
