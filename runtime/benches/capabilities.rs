//! Capability costs:
//! 1. a capability call (guest → host → guest, no network): `test.cap-loop`
//!    reads a secret N times; per call = (time of N calls − time of 0) / N;
//! 2. streaming latency: a local server streams an OpenAI-style SSE chat
//!    answer token by token; for every token, the time from the server
//!    writing its chunk to the `node.emit` event reaching the run's sink.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench capabilities`

mod common;

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Stats, fmt, footer, header, measure, report, runtime, scaled, us};
use serde_json::{Map, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_editor_protocol::events::EventBody;
use weft_runtime::capabilities::{Provider, Providers, Secrets, Services};
use weft_runtime::events::FnSink;
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig, RunOptions};

const TOKENS: usize = 50;
const GAP: Duration = Duration::from_millis(2);

async fn engine(services: Services) -> Result<Engine, Box<dyn Error>> {
    Ok(Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(common::bench_cache_dir()),
            ..HostConfig::default()
        },
        services,
        test_guests: true,
        ..EngineConfig::default()
    })
    .await?)
}

/// An SSE chat server: each request gets `TOKENS` chunks `GAP` apart; the
/// instant each chunk is written is pushed to `sent`.
async fn sse_server(sent: Arc<Mutex<Vec<Instant>>>) -> Result<u16, Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for i in 0..TOKENS {
                    tokio::time::sleep(GAP).await;
                    let chunk =
                        json!({"choices": [{"index": 0, "delta": {"content": format!("t{i} ")}}]});
                    let line = format!("data: {chunk}\n\n");
                    if let Ok(mut s) = sent.lock() {
                        s.push(Instant::now());
                    }
                    if socket.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let _ = socket.write_all(b"data: [DONE]\n\n").await;
            });
        }
    });
    Ok(port)
}

fn main() -> Result<(), Box<dyn Error>> {
    header("capabilities: call overhead and streaming latency");
    let rt = runtime()?;

    // 1. Capability call overhead.
    let secrets = Services {
        secrets: Arc::new(Secrets::none().with("BENCH", "value")),
        ..Services::default()
    };
    let eng = rt.block_on(engine(secrets))?;
    let flow = |calls: u32| {
        json!({"weft": 1, "name": "caps", "capabilities": {"secrets": ["BENCH"]},
               "nodes": [{"id": "l", "type": "test.cap-loop", "config": {"calls": calls}}],
               "outputs": {"calls": "l.calls"}})
    };
    let plan0 = rt.block_on(eng.compile_text(&flow(0).to_string()))?;
    const N: u32 = 1000;
    let plan_n = rt.block_on(eng.compile_text(&flow(N).to_string()))?;
    let iters = scaled(200);
    let rt_ref = &rt;
    let run = |plan: &Arc<weft_runtime::plan::Plan>| {
        let plan = plan.clone();
        let eng = eng.clone();
        move || {
            let rt = rt_ref;
            let mut out = Vec::with_capacity(iters);
            for _ in 0..iters {
                let t = Instant::now();
                let outcome = rt.block_on(eng.run(
                    plan.clone(),
                    Map::new(),
                    RunOptions::new("b", Arc::new(weft_runtime::NullSink)),
                ));
                out.push(t.elapsed());
                assert!(outcome.error.is_none(), "{:?}", outcome.error);
            }
            out
        }
    };
    println!("-- 1. capability call (secrets.get), guest → host → guest");
    let zero = measure("run with 0 calls", run(&plan0));
    let many = measure(&format!("run with {N} calls"), run(&plan_n));
    let per_call = many.median.saturating_sub(zero.median) / N;
    println!(
        "   per capability call: {} (median difference / {N})",
        fmt(per_call)
    );

    // 2. Streaming latency.
    println!("-- 2. streaming: provider chunk written → node.emit at the sink");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let port = rt.block_on(sse_server(sent.clone()))?;
    let providers = BTreeMap::from([(
        "sse".to_string(),
        Provider {
            base_url: format!("http://127.0.0.1:{port}"),
            api_key_secret: None,
            timeout_ms: Some(10_000),
            prices: None,
        },
    )]);
    let eng = rt.block_on(engine(Services {
        providers: Arc::new(Providers::new(providers)),
        ..Services::default()
    }))?;
    let chat = json!({"weft": 1, "name": "stream", "capabilities": {"llm": ["sse"]},
        "nodes": [{"id": "c", "type": "llm.chat", "config": {"provider": "sse", "model": "m", "stream": true}},
                  {"id": "p", "type": "text.template", "config": {"template": "hi"}}],
        "edges": [{"from": "p.text", "to": "c.prompt"}],
        "outputs": {"text": "c.text"}});
    let plan = rt.block_on(eng.compile_text(&chat.to_string()))?;
    let runs = scaled(20);
    let mut rounds = Vec::new();
    for _ in 0..common::rounds() {
        let mut latencies = Vec::new();
        for _ in 0..runs {
            sent.lock().map_err(|_| "poisoned")?.clear();
            let received = Arc::new(Mutex::new(Vec::new()));
            let r = received.clone();
            let sink = FnSink(move |e: weft_editor_protocol::RunEvent| {
                if matches!(e.body, EventBody::NodeEmit(_))
                    && let Ok(mut v) = r.lock()
                {
                    v.push(Instant::now());
                }
            });
            let outcome = rt.block_on(eng.run(
                plan.clone(),
                Map::new(),
                RunOptions::new("s", Arc::new(sink)),
            ));
            if let Some(e) = outcome.error {
                return Err(format!("streaming run failed: {e:?}").into());
            }
            let sent = sent.lock().map_err(|_| "poisoned")?;
            let received = received.lock().map_err(|_| "poisoned")?;
            if sent.len() != TOKENS || received.len() != TOKENS {
                return Err(
                    format!("{} tokens sent, {} received", sent.len(), received.len()).into(),
                );
            }
            latencies.extend(
                sent.iter()
                    .zip(received.iter())
                    .map(|(s, r)| r.saturating_duration_since(*s)),
            );
        }
        rounds.push(Stats::of(&mut latencies));
    }
    let all = report(
        &format!("token latency ({TOKENS} tokens × {runs} runs)"),
        &rounds,
    );
    println!(
        "   summary: median {:.0} µs, p99 {:.0} µs (target ≤ 1 ms)",
        us(all.median),
        us(all.p99)
    );
    footer();
    Ok(())
}
