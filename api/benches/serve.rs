//! `weft serve` benchmarks (issue 4 §6): figures for BENCHMARKS.md
//! section 9. Nothing here asserts on a timing.
//!
//! 1. **Event → websocket client latency**, on one in-process clock, with
//!    1 and with `WEFT_BENCH_CLIENTS` (100) clients subscribed to the
//!    project. *Sink → client*: the bench plays the executor's sink for a
//!    live run (`Hub::begin`, `LiveRun::push`: what the runner's sink does),
//!    50 `node.emit` events 2 ms apart, and times each push to each
//!    client's receipt (forwarder, queue, JSON, websocket write, loopback
//!    TCP, the client's read). *End to end*: a real run (`Runner::start`)
//!    of `llm.chat` streaming 50 chunks 2 ms apart from a local SSE server;
//!    from the chunk's write to the client's receipt of its `node.emit`
//!    (adds HTTP, SSE parsing, the guest and the emitter).
//! 2. **Throughput**: runs/s of `examples/hello.json` (a stored version,
//!    through `Runner::start` as `POST .../runs` does), 1 and 4 runs in
//!    flight, with 0 clients, with 100 clients subscribed to the project
//!    reading every event ("watching"), and with 100 clients each
//!    subscribed to another flow of the project ("elsewhere": editors open
//!    on other flows), alternating round by round. A round ends when every run
//!    is stored and every client has every event; "runs alone" is the rate
//!    until every run is stored (the clients may still be reading). Also
//!    the CPU time per run of the server and of the clients
//!    (`/proc/self/task/*/schedstat`).
//! 3. **RSS** of the real binary (`weft serve`, this package's build) on a
//!    fresh SQLite data directory: idle, then after runs through REST with
//!    a websocket client subscribed.
//!
//! The server runs on a runtime like `weft serve`'s (a worker per CPU); the
//! clients and the SSE server on a one-worker runtime of their own, in the
//! same process and so on the same CPUs.
//!
//! `cargo bench -p weft --bench serve`; `WEFT_BENCH_ROUNDS` (default 5,
//! at least 3), `WEFT_BENCH_SCALE` (0.1 for a smoke run),
//! `WEFT_BENCH_CLIENTS` (default 100), `WEFT_BENCH_ONLY` (any of
//! `latency,throughput,rss`), `WEFT_BENCH_EDITOR_BACKGROUND` (1, the
//! default, runs editor sessions on their lower-priority runtime as `weft
//! serve` does; 0 on the run workers), `WEFT_BENCH_CLIENT_NICE` (the
//! clients' threads' nice value, default 0; 19 stands in for clients on
//! other machines, using only CPU the server leaves idle).

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use weft::server::runner::{RunRequest, Runner};
use weft::server::{AppState, ServerConfig};
use weft::store::{Scope, SecretKey, Store};
use weft_editor_protocol::events::{EventBody, NodeEmit, RunEvent, RunFinished, RunStatus};
use weft_runtime::capabilities::{Provider, Providers, Services};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PROJECT: &str = "bench";
const TOKENS: usize = 50;
const GAP: Duration = Duration::from_millis(2);

// ---- statistics (as in runtime/benches/common) ----

/// Median, p90, p99 and minimum of a round's samples, and their number.
#[derive(Debug, Clone, Copy, Default)]
struct Stats([Duration; 4], usize);

impl Stats {
    fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| samples[((n as f64 - 1.0) * q).round() as usize];
        match n {
            0 => Stats::default(),
            _ => Stats([at(0.5), at(0.9), at(0.99), samples[0]], n),
        }
    }
}

fn fmt(d: Duration) -> String {
    match d.as_secs_f64() * 1e6 {
        us if us < 1e3 => format!("{us:.1} µs"),
        us => format!("{:.3} ms", us / 1e3),
    }
}

/// Prints the median over the rounds of each statistic (of the minimum:
/// the smallest), then each round's median.
fn report(name: &str, rounds: &[Stats]) {
    let over = |i: usize| {
        let mut v: Vec<Duration> = rounds.iter().map(|s| s.0[i]).collect();
        v.sort_unstable();
        if i == 3 { v[0] } else { v[v.len() / 2] }
    };
    let n: usize = rounds.iter().map(|s| s.1).sum();
    let [median, p90, p99, min] = [0, 1, 2, 3].map(|i| fmt(over(i)));
    println!("{name:<42} median {median:>9}  p90 {p90:>9}  p99 {p99:>9}  min {min:>9}  (n={n})");
    let medians: Vec<String> = rounds.iter().map(|s| fmt(s.0[0])).collect();
    println!("{:<42}   round medians: {}", "", medians.join(", "));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    let value = std::env::var(name).ok().and_then(|v| v.parse().ok());
    value.unwrap_or(default)
}

fn rounds() -> usize {
    env_or("WEFT_BENCH_ROUNDS", 5usize).max(3)
}

fn scaled(n: usize) -> usize {
    ((n as f64 * env_or("WEFT_BENCH_SCALE", 1.0f64)).round() as usize).max(2)
}

fn wanted(section: &str) -> bool {
    std::env::var("WEFT_BENCH_ONLY").map_or(true, |v| v.split(',').any(|s| s.trim() == section))
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The component cache the runtime benchmarks use too.
fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("weft-bench-cache")
}

// ---- the server and its clients ----

struct Server {
    state: AppState,
    url: String,
    admin: String,
    _dir: tempfile::TempDir,
}

/// A server on a fresh SQLite file and a free port, with project `bench`.
async fn server(services: Services) -> Res<Server> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("weft.db").display());
    let store = Store::open(&url).await?;
    let store = store.with_secret_key(SecretKey::generate()?);
    let (_, admin) = store.create_token("admin", &[Scope::Admin]).await?;
    store.create_project(PROJECT, None).await?;
    let host = HostConfig {
        cache_dir: Some(cache_dir()),
        ..HostConfig::default()
    };
    let config = EngineConfig {
        host,
        services,
        test_guests: true,
        ..EngineConfig::default()
    };
    let mut state = AppState::new(Engine::new(config).await?, store, ServerConfig::default());
    // As `weft serve`: editor sessions on their own lower-priority threads.
    state.editor_background = env_or("WEFT_BENCH_EDITOR_BACKGROUND", 1u8) == 1;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/v1/editor", listener.local_addr()?);
    let forever = std::future::pending();
    tokio::spawn(weft::server::serve(state.clone(), listener, forever));
    Ok(Server {
        state,
        url,
        admin,
        _dir: dir,
    })
}

/// Sends `message`, then expects a reply of type `kind`.
async fn exchange(ws: &mut Ws, message: Value, kind: &str) -> Res<()> {
    ws.send(Message::Text(message.to_string().into())).await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    match reply {
        Ok(Some(Ok(Message::Text(t)))) if serde_json::from_str::<Value>(&t)?["type"] == kind => {
            Ok(())
        }
        other => Err(format!("expected `{kind}`, got {other:?}").into()),
    }
}

/// What one client has read: a frame count and, if kept, every frame with
/// its arrival.
#[derive(Default)]
struct Seen {
    frames: AtomicU64,
    log: Option<Mutex<Vec<(Instant, Utf8Bytes)>>>,
}

struct Clients {
    seen: Vec<Arc<Seen>>,
    readers: Vec<JoinHandle<()>>,
    lagged: Arc<AtomicU64>,
}

impl Clients {
    /// `n` clients subscribed to the project, each read by a task on the
    /// current (client) runtime.
    async fn connect(n: usize, url: &str, token: &str, keep: bool) -> Res<Clients> {
        Clients::connect_to(n, url, token, keep, false).await
    }

    /// `n` clients subscribed to the project, or (`elsewhere`) each to a
    /// flow of its own that no run of the bench belongs to: editors open
    /// on other flows of the same project.
    async fn connect_to(
        n: usize,
        url: &str,
        token: &str,
        keep: bool,
        elsewhere: bool,
    ) -> Res<Clients> {
        let (mut seen, mut readers) = (Vec::new(), Vec::new());
        let lagged = Arc::new(AtomicU64::new(0));
        for i in 0..n {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
            let hello = json!({"type": "hello", "protocol": 1, "token": token});
            exchange(&mut ws, hello, "welcome").await?;
            let topic = if elsewhere {
                json!({"kind": "flow", "project": PROJECT, "flow": format!("draft-{i}")})
            } else {
                json!({"kind": "project", "project": PROJECT})
            };
            let subscribe = json!({"type": "subscribe", "id": "s", "topic": topic});
            exchange(&mut ws, subscribe, "ack").await?;
            let log = keep.then(Mutex::default);
            let s = Arc::new(Seen {
                log,
                ..Seen::default()
            });
            let lagged = lagged.clone();
            seen.push(s.clone());
            readers.push(tokio::spawn(async move {
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let at = Instant::now();
                    if text.as_str().starts_with(r#"{"type":"lagged""#) {
                        lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(Ok(mut log)) = s.log.as_ref().map(Mutex::lock) {
                        log.push((at, text));
                    }
                    s.frames.fetch_add(1, Ordering::Release);
                }
            }));
        }
        Ok(Clients {
            seen,
            readers,
            lagged,
        })
    }

    /// Waits until every client has read `frames` frames (up to 60 s).
    async fn wait_for(&self, frames: u64) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let done = || {
            self.seen
                .iter()
                .all(|s| s.frames.load(Ordering::Acquire) >= frames)
        };
        while !done() {
            match self.lagged.load(Ordering::Relaxed) {
                0 if Instant::now() < deadline => {}
                0 => return Err(format!("clients did not get {frames} events in 60 s").into()),
                n => return Err(format!("{n} subscriptions lagged").into()),
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        Ok(())
    }

    fn close(self) {
        self.readers.iter().for_each(JoinHandle::abort);
    }
}

// ---- 1. latency ----

/// Per run, when each token left its source (in `node.emit` order).
type Sent = HashMap<String, Vec<Instant>>;

/// The latency of every (client, token), and per token the latency to the
/// last client that got it.
fn latencies(sent: &Sent, clients: &Clients) -> Res<(Vec<Duration>, Vec<Duration>)> {
    let mut all = Vec::new();
    let mut last: HashMap<(&str, usize), Duration> = HashMap::new();
    for seen in &clients.seen {
        let log = seen.log.as_ref().ok_or("frames not kept")?;
        let log = std::mem::take(&mut *log.lock().map_err(|_| "poisoned")?);
        let mut index: HashMap<String, usize> = HashMap::new();
        for (at, text) in log {
            let v: Value = serde_json::from_str(text.as_str())?;
            let (run, kind) = (&v["event"]["run"], &v["event"]["type"]);
            let Some((run, times)) = run.as_str().and_then(|r| sent.get_key_value(r)) else {
                continue;
            };
            if kind == "node.emit" {
                let k = index.entry(run.clone()).or_default();
                let from = times.get(*k).ok_or("more node.emit events than tokens")?;
                let d = at.saturating_duration_since(*from);
                all.push(d);
                let worst = last.entry((run.as_str(), *k)).or_default();
                *worst = (*worst).max(d);
                *k += 1;
            }
        }
    }
    let expected = sent.values().map(Vec::len).sum::<usize>() * clients.seen.len();
    if all.len() != expected {
        return Err(format!("{} node.emit frames, {expected} expected", all.len()).into());
    }
    Ok((all, last.into_values().collect()))
}

/// Plays a run's sink: [`TOKENS`] `node.emit` events [`GAP`] apart, then
/// `run.finished`. Returns when each token was pushed.
async fn play(state: AppState, id: String) -> Vec<Instant> {
    let live = state.hub.begin(&id, PROJECT, "synthetic");
    // Let the project subscriptions attach their forwarders first.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let event = |seq: usize, body: EventBody| {
        let (run, ts_ms) = (id.clone(), weft::store::now_ms() as u64);
        let (seq, frame) = (seq as u64, None);
        Arc::new(RunEvent {
            run,
            seq,
            ts_ms,
            frame,
            body,
        })
    };
    let mut sent = Vec::with_capacity(TOKENS);
    for i in 0..TOKENS {
        tokio::time::sleep(GAP).await;
        let (node, port, value) = ("c".into(), "token".into(), json!(format!("t{i} ")));
        let e = event(i + 1, EventBody::NodeEmit(NodeEmit { node, port, value }));
        sent.push(Instant::now());
        live.push(e);
    }
    let (status, outputs) = (RunStatus::Succeeded, indexmap::IndexMap::new());
    let end = RunFinished {
        status,
        outputs,
        error: None,
        duration_ms: 0.0,
    };
    live.push(event(TOKENS + 1, EventBody::RunFinished(end)));
    state.hub.retire(&id);
    sent
}

/// When each token of the current run left the SSE server.
type Tokens = Mutex<Vec<Instant>>;

fn take(tokens: &Tokens) -> Vec<Instant> {
    tokens
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default()
}

/// An OpenAI-style SSE chat server: each request gets [`TOKENS`] chunks
/// [`GAP`] apart; the instant of each write goes to `sent`.
async fn sse_server(sent: Arc<Tokens>) -> Res<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let _ = socket.read(&mut [0u8; 16384]).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                            connection: close\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                for i in 0..TOKENS {
                    tokio::time::sleep(GAP).await;
                    let delta = json!({"content": format!("t{i} ")});
                    let chunk = json!({"choices": [{"index": 0, "delta": delta}]});
                    if let Ok(mut s) = sent.lock() {
                        s.push(Instant::now());
                    }
                    let _ = socket
                        .write_all(format!("data: {chunk}\n\n").as_bytes())
                        .await;
                }
                let _ = socket.write_all(b"data: [DONE]\n\n").await;
            });
        }
    });
    Ok(port)
}

fn latency(srv: &Server, server_rt: &Runtime, client_rt: &Runtime, sse: &Tokens) -> Res<()> {
    println!("-- 1. event → websocket client latency ({TOKENS} tokens 2 ms apart per run)");
    let runs = scaled(10);
    let chat = json!({"weft": 1, "name": "stream", "capabilities": {"llm": ["sse"]},
        "nodes": [{"id": "p", "type": "text.template", "config": {"template": "hi"}},
                  {"id": "c", "type": "llm.chat",
                   "config": {"provider": "sse", "model": "m", "stream": true}}],
        "edges": [{"from": "p.text", "to": "c.prompt"}], "outputs": {"text": "c.text"}});
    let request = RunRequest {
        project: PROJECT.into(),
        flow: "stream".into(),
        document: chat.into(),
        trigger: "api".into(),
        ..RunRequest::default()
    };
    for n in [1, env_or("WEFT_BENCH_CLIENTS", 100usize)] {
        let clients = client_rt.block_on(Clients::connect(n, &srv.url, &srv.admin, true))?;
        // Every client's frame count since it connected.
        let mut frames = 0;
        for end_to_end in [false, true] {
            let (mut all, mut last) = (Vec::new(), Vec::new());
            for round in 0..=rounds() {
                let mut sent = Sent::new();
                for r in 0..runs {
                    let (id, times, events) = if end_to_end {
                        take(sse);
                        let started = server_rt.block_on(srv.state.runner.start(request.clone()));
                        let started = started.map_err(|e| format!("{e:?}"))?;
                        if let Some(e) = server_rt.block_on(started.done)?.error {
                            return Err(format!("streaming run failed: {e:?}").into());
                        }
                        (started.id, take(sse), started.live.head().seq)
                    } else {
                        // Pushed from a worker, as the executor's sink is.
                        let id = format!("synthetic-{n}-{round}-{r}");
                        let play = server_rt.spawn(play(srv.state.clone(), id.clone()));
                        (id, server_rt.block_on(play)?, TOKENS as u64 + 1)
                    };
                    if times.len() != TOKENS {
                        return Err(format!("{} tokens, {TOKENS} expected", times.len()).into());
                    }
                    sent.insert(id, times);
                    frames += events;
                }
                client_rt.block_on(clients.wait_for(frames))?;
                let (mut a, mut l) = latencies(&sent, &clients)?;
                // Round 0 warms up.
                if round > 0 {
                    all.push(Stats::of(&mut a));
                    last.push(Stats::of(&mut l));
                }
            }
            let what = match end_to_end {
                true => "SSE chunk written → client (real run)",
                false => "sink push → client",
            };
            report(&format!("{what}, {n} client(s)"), &all);
            if n > 1 {
                report(&format!("{what}, the last of {n}"), &last);
            }
        }
        clients.close();
    }
    Ok(())
}

// ---- 2. throughput ----

/// `runs` runs, `in_flight` at a time; how many events they emitted.
async fn burst(runner: &Runner, request: &RunRequest, runs: usize, in_flight: usize) -> Res<u64> {
    let mut set = tokio::task::JoinSet::new();
    for w in 0..in_flight {
        let (runner, request) = (runner.clone(), request.clone());
        let n = runs / in_flight + usize::from(w < runs % in_flight);
        set.spawn(async move {
            let mut events = 0;
            for _ in 0..n {
                let started = runner.start(request.clone()).await;
                let started = started.map_err(|e| format!("{e:?}"))?;
                if let Some(e) = started.done.await?.error {
                    return Err(format!("run failed: {e:?}").into());
                }
                events += started.live.head().seq;
            }
            Res::Ok(events)
        });
    }
    let mut events = 0;
    while let Some(r) = set.join_next().await {
        events += r??;
    }
    Ok(events)
}

/// CPU time used so far (`/proc/self/task/*/schedstat`), in ns: by every
/// thread but the clients', and by the clients' (`bench-clients`).
fn cpu_ns() -> (u64, u64) {
    let (mut server, mut clients) = (0, 0);
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let read = |f: &str| std::fs::read_to_string(task.path().join(f)).unwrap_or_default();
        let stat = read("schedstat");
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match read("comm").trim() {
            "bench-clients" => clients += ns,
            _ => server += ns,
        }
    }
    (server, clients)
}

fn throughput(srv: &Server, server_rt: &Runtime, client_rt: &Runtime) -> Res<()> {
    let many = env_or("WEFT_BENCH_CLIENTS", 100usize);
    println!("-- 2. throughput: examples/hello.json, 0 vs {many} subscribed clients");
    let doc: Value = serde_json::from_str(include_str!("../../examples/hello.json"))?;
    let saved = server_rt.block_on(srv.state.store.save_version(PROJECT, "hello", &doc))?;
    let request = RunRequest {
        project: PROJECT.into(),
        flow: "hello".into(),
        version: Some(saved.0.id),
        document: doc.into(),
        trigger: "api".into(),
        inputs: [("name".to_string(), json!("Ada"))].into_iter().collect(),
        ..RunRequest::default()
    };
    let runs = scaled(200);
    // 0 clients; `many` reading every event of these runs (subscribed to
    // the project); `many` subscribed to other flows of the project.
    let setups = [(0, false), (many, false), (many, true)];
    let label = |slot: usize| match slot {
        0 => "0 clients".to_string(),
        1 => format!("{many} watching"),
        _ => format!("{many} elsewhere"),
    };
    for in_flight in [1, 4] {
        // Per round and setup: runs/s (every client has every event), CPU
        // µs per run of the server and of the clients, and runs/s counting
        // only the runs (all stored). Round 0 warms up.
        let mut rows: [Vec<[f64; 4]>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..=rounds() {
            for (slot, (n, elsewhere)) in setups.into_iter().enumerate() {
                let clients = client_rt.block_on(Clients::connect_to(
                    n, &srv.url, &srv.admin, false, elsewhere,
                ))?;
                let (cpu, t) = (cpu_ns(), Instant::now());
                let events =
                    server_rt.block_on(burst(&srv.state.runner, &request, runs, in_flight))?;
                let stored = t.elapsed();
                client_rt.block_on(clients.wait_for(if elsewhere { 0 } else { events }))?;
                let (elapsed, used) = (t.elapsed(), cpu_ns());
                clients.close();
                // Let the closed sessions end before the next round.
                std::thread::sleep(Duration::from_millis(200));
                let per_run = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e3 / runs as f64;
                let rate = runs as f64 / elapsed.as_secs_f64();
                let runs_only = runs as f64 / stored.as_secs_f64();
                if round > 0 {
                    rows[slot].push([
                        rate,
                        per_run(used.0, cpu.0),
                        per_run(used.1, cpu.1),
                        runs_only,
                    ]);
                }
            }
        }
        let col = |slot: usize, i: usize| median(rows[slot].iter().map(|r| r[i]).collect());
        for (slot, row) in rows.iter().enumerate() {
            let rates: Vec<String> = row.iter().map(|r| format!("{:.0}", r[0])).collect();
            let (rate, rates, server, clients, stored) = (
                col(slot, 0),
                rates.join(", "),
                col(slot, 1),
                col(slot, 2),
                col(slot, 3),
            );
            println!(
                "{in_flight} in flight, {:>14}: {rate:>5.0} runs/s ({rates}); \
                 runs alone {stored:.0} runs/s; CPU per run: server {server:.0} µs, \
                 clients {clients:.0} µs",
                label(slot)
            );
        }
        for slot in 1..setups.len() {
            let ratios: Vec<f64> = rows[slot]
                .iter()
                .zip(&rows[0])
                .map(|(w, z)| w[0] / z[0])
                .collect();
            let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            let stored: Vec<f64> = rows[slot]
                .iter()
                .zip(&rows[0])
                .map(|(w, z)| w[3] / z[3])
                .collect();
            println!(
                "   {} / 0 clients: {:.3} (round by round: {}); runs alone {:.3}; \
                 server CPU {:+.0} µs per run",
                label(slot),
                median(ratios),
                shown.join(", "),
                median(stored),
                col(slot, 1) - col(0, 1)
            );
        }
    }
    Ok(())
}

// ---- 3. RSS of the real binary ----

fn proc_status(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let wanted = ["VmRSS:", "RssAnon:", "RssFile:", "VmHWM:", "Threads:"];
    let fields = status
        .lines()
        .filter(|l| wanted.iter().any(|w| l.starts_with(w)));
    let fields = fields.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    fields.collect::<Vec<_>>().join(", ")
}

/// One HTTP/1.1 request (`connection: close`); the status code.
async fn http(addr: &str, method: &str, path: &str, token: &str, body: &Value) -> Res<u16> {
    let mut s = TcpStream::connect(addr).await?;
    let body = body.to_string();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(out.get(9..12).unwrap_or_default()).parse()?)
}

/// Drives a started `weft serve` at `addr` and prints its memory.
fn rss_of(client_rt: &Runtime, pid: u32, addr: &str, token: &str) -> Res<()> {
    let started = Instant::now();
    for secs in [0, 3] {
        std::thread::sleep(Duration::from_secs(secs));
        println!("idle, {secs} s after listening: {}", proc_status(pid));
    }
    client_rt.block_on(async {
        let project = json!({"slug": PROJECT});
        http(addr, "POST", "/v1/projects", token, &project).await?;
        let flow = format!("/v1/projects/{PROJECT}/flows/hello");
        let doc: Value = serde_json::from_str(include_str!("../../examples/hello.json"))?;
        http(addr, "PUT", &flow, token, &doc).await?;
        let clients = Clients::connect(1, &format!("ws://{addr}/v1/editor"), token, false).await?;
        let (runs, body) = (
            scaled(500),
            json!({"inputs": {"name": "Ada"}, "wait": true}),
        );
        for _ in 0..runs {
            match http(addr, "POST", &format!("{flow}/runs"), token, &body).await? {
                200 => {}
                status => return Err(format!("POST runs answered {status}").into()),
            }
        }
        println!(
            "after {runs} runs (REST, 1 subscriber): {}",
            proc_status(pid)
        );
        clients.close();
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!("3 s later: {}", proc_status(pid));
        println!("   ({} in all)", fmt(started.elapsed()));
        Res::Ok(())
    })
}

fn rss(client_rt: &Runtime) -> Res<()> {
    println!("-- 3. RSS of `weft serve` (SQLite, warm component cache)");
    // Warm the cache first (compiled built-ins and their info sidecars), as
    // any start after the first finds it.
    let primed = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args([
            "validate",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello.json"),
        ])
        .env("WEFT_CACHE_DIR", cache_dir())
        .stdout(std::process::Stdio::null())
        .status()?;
    if !primed.success() {
        return Err(format!("priming the component cache failed: {primed}").into());
    }
    let dir = tempfile::tempdir()?;
    let token = "wft_bench_admin_token_0123456789";
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("WEFT_ADMIN_TOKEN", token)
        .env("WEFT_CACHE_DIR", cache_dir())
        .env("WEFT_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let t = Instant::now();
    let result = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => {
            println!("listening {} after the start", fmt(t.elapsed()));
            rss_of(client_rt, child.id(), &addr, token)
        }
        Err(_) => Err("weft serve did not listen within 60 s".into()),
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> Res<()> {
    println!("== serve: editor websocket latency, fan-out cost, RSS");
    println!(
        "   rounds: {} (WEFT_BENCH_ROUNDS), cpus: {}, load average (1/5/15 min): {}",
        rounds(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client_nice = env_or("WEFT_BENCH_CLIENT_NICE", 0i32);
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-clients")
        .on_thread_start(move || {
            if client_nice != 0 {
                weft::server::background::lower_priority(client_nice);
            }
        })
        .enable_all()
        .build()?;
    println!(
        "   editor sessions on their own threads at nice {} (WEFT_BENCH_EDITOR_BACKGROUND={}); \
         clients at nice {client_nice} (WEFT_BENCH_CLIENT_NICE)",
        weft::server::background::EDITOR_NICE,
        env_or("WEFT_BENCH_EDITOR_BACKGROUND", 1u8)
    );
    if wanted("latency") || wanted("throughput") {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let port = client_rt.block_on(sse_server(sent.clone()))?;
        let provider = Provider {
            base_url: format!("http://127.0.0.1:{port}"),
            api_key_secret: None,
            timeout_ms: Some(10_000),
            prices: None,
        };
        let providers = Providers::new([("sse".to_string(), provider)].into());
        let services = Services {
            providers: Arc::new(providers),
            ..Services::default()
        };
        let srv = server_rt.block_on(server(services))?;
        if wanted("latency") {
            latency(&srv, &server_rt, &client_rt, &sent)?;
        }
        if wanted("throughput") {
            throughput(&srv, &server_rt, &client_rt)?;
        }
    }
    if wanted("rss") {
        rss(&client_rt)?;
    }
    println!("   load average at the end: {}", loadavg());
    Ok(())
}
