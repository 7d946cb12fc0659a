//! The benchmarks' small timing harness and shared setup.
//!
//! No criterion: a benchmark collects `Duration` samples with
//! `std::time::Instant`, in several *rounds* (`WEFT_BENCH_ROUNDS`, default
//! 5, at least 3), and prints per round and overall the median, p90, p99
//! and minimum. The overall figure of a statistic is the median of that
//! statistic over the rounds (so "median" is the median of medians), except
//! the minimum, which is the minimum over the rounds. Nothing here asserts
//! on timings: the benchmarks print figures for BENCHMARKS.md.
//!
//! Each benchmark binary includes this file with `mod common;` and uses a
//! different subset of it.
#![allow(dead_code)]

pub mod standalone;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_runtime::host::{Host, HostConfig};
use weft_runtime::registry::Registry;

/// Statistics of one set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub min: Duration,
    pub median: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Stats {
    /// Statistics of `samples` (sorted in place). Empty input gives zeros.
    pub fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return Stats {
                n,
                min: Duration::ZERO,
                median: Duration::ZERO,
                p90: Duration::ZERO,
                p99: Duration::ZERO,
                max: Duration::ZERO,
                mean: Duration::ZERO,
            };
        }
        let at = |q: f64| samples[((n as f64 - 1.0) * q).round() as usize];
        let total: Duration = samples.iter().sum();
        Stats {
            n,
            min: samples[0],
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: samples[n - 1],
            mean: total / n as u32,
        }
    }

    /// The overall figure of several rounds: the median of each statistic,
    /// the minimum of the minimums, the maximum of the maximums.
    pub fn combine(rounds: &[Stats]) -> Stats {
        let median_of = |f: fn(&Stats) -> Duration| {
            let mut v: Vec<Duration> = rounds.iter().map(f).collect();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        Stats {
            n: rounds.iter().map(|s| s.n).sum(),
            min: rounds.iter().map(|s| s.min).min().unwrap_or_default(),
            median: median_of(|s| s.median),
            p90: median_of(|s| s.p90),
            p99: median_of(|s| s.p99),
            max: rounds.iter().map(|s| s.max).max().unwrap_or_default(),
            mean: median_of(|s| s.mean),
        }
    }
}

/// A duration with a unit that keeps 3–4 significant digits.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.3} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// Microseconds as a number, for ratios.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Milliseconds as a number, for ratios.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// How many rounds each measurement runs (`WEFT_BENCH_ROUNDS`, ≥ 3).
pub fn rounds() -> usize {
    std::env::var("WEFT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(3)
}

/// Scales iteration counts (`WEFT_BENCH_SCALE`, default 1.0), e.g. 0.1 for
/// a quick smoke run.
pub fn scaled(iters: usize) -> usize {
    let scale: f64 = std::env::var("WEFT_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((iters as f64 * scale).round() as usize).max(5)
}

/// Prints the statistics of one measurement: the overall line and, below
/// it, each round's median (to show the spread under contention).
pub fn report(name: &str, rounds: &[Stats]) -> Stats {
    let all = Stats::combine(rounds);
    println!(
        "{name:<48} median {:>11}  p90 {:>11}  p99 {:>11}  min {:>11}  (n={} in {} rounds)",
        fmt(all.median),
        fmt(all.p90),
        fmt(all.p99),
        fmt(all.min),
        all.n,
        rounds.len()
    );
    let per_round: Vec<String> = rounds.iter().map(|s| fmt(s.median)).collect();
    println!("{:<48}   round medians: {}", "", per_round.join(", "));
    all
}

/// Runs `round` (which returns one round's samples) `rounds()` times after
/// one discarded warm-up round, and reports.
pub fn measure(name: &str, mut round: impl FnMut() -> Vec<Duration>) -> Stats {
    let _ = round();
    let stats: Vec<Stats> = (0..rounds()).map(|_| Stats::of(&mut round())).collect();
    report(name, &stats)
}

/// Times `iters` sequential calls of an async closure.
pub async fn sample_async(iters: usize, mut f: impl AsyncFnMut()) -> Vec<Duration> {
    let mut out = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

/// Times `iters` sequential calls of a closure.
pub fn sample(iters: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut out = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f();
        out.push(t.elapsed());
    }
    out
}

/// The first line of `/proc/loadavg`, to judge contention.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Prints the benchmark's name, the settings and the load average.
pub fn header(name: &str) {
    println!("== {name}");
    println!(
        "   rounds: {} (WEFT_BENCH_ROUNDS), cpus: {}, load average (1/5/15 min): {}",
        rounds(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        loadavg()
    );
}

/// Prints the load average at the end of a benchmark.
pub fn footer() {
    println!("   load average at the end: {}", loadavg());
}

/// The workspace's target directory (`CARGO_TARGET_DIR` or `../target`).
pub fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                manifest.join("..").join(dir)
            }
        }
        None => manifest.join("..").join("target"),
    }
}

/// The bytes of a guest component built by `runtime/build.rs`, e.g.
/// `weft_node_text_upper.wasm`.
pub fn guest_wasm(file: &str) -> Result<Vec<u8>, String> {
    let path = target_dir()
        .join("wasm-guests")
        .join("wasm32-wasip2")
        .join("release")
        .join(file);
    std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read the guest component {}: {e}. It is built by runtime/build.rs; \
             run `cargo bench -p weft-runtime --features test-guests --no-run` first \
             (and set CARGO_TARGET_DIR if you use another target directory)",
            path.display()
        )
    })
}

/// A component cache directory kept between benchmark runs
/// (`target/weft-bench-cache`), so setup does not recompile every time.
pub fn bench_cache_dir() -> PathBuf {
    target_dir().join("weft-bench-cache")
}

/// A multi-threaded tokio runtime like the CLI's (one worker per CPU).
pub fn runtime() -> Result<tokio::runtime::Runtime, std::io::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A host with the production defaults (pooling, 1 ms epoch tick) and the
/// benchmark cache directory.
pub fn host() -> Result<Arc<Host>, Box<dyn std::error::Error>> {
    Ok(Host::new(HostConfig {
        cache_dir: Some(bench_cache_dir()),
        ..HostConfig::default()
    })?)
}

/// A registry with the built-in nodes (and the test guests when the
/// feature is on).
pub async fn registry() -> Result<Registry, Box<dyn std::error::Error>> {
    #[allow(unused_mut)]
    let mut registry = Registry::with_builtins(host()?).await?;
    #[cfg(feature = "test-guests")]
    registry.add_test_guests().await?;
    Ok(registry)
}

/// A JSON string literal of about `bytes` bytes (ASCII words).
pub fn string_payload(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 16);
    let words = ["weft ", "flows ", "typed ", "nodes ", "wasm "];
    let mut i = 0;
    while s.len() < bytes.saturating_sub(2) {
        s.push_str(words[i % words.len()]);
        i += 1;
    }
    s.truncate(bytes.saturating_sub(2));
    serde_json::Value::String(s).to_string()
}

/// A structured JSON object of about `bytes` bytes: a list of small
/// records (strings, numbers, bools, a nested list) plus `meta.count`.
pub fn object_payload(bytes: usize) -> String {
    let mut items = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < bytes.saturating_sub(40) {
        let item = serde_json::json!({
            "id": i,
            "name": format!("item-{i}"),
            "price": (i as f64) * 1.25,
            "tags": ["a", "bc"],
            "ok": i.is_multiple_of(2),
        });
        size += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    serde_json::json!({ "items": items, "meta": { "count": i } }).to_string()
}

/// Validates and compiles a flow given as JSON.
pub async fn plan(
    registry: &Registry,
    flow: &serde_json::Value,
) -> Result<Arc<weft_runtime::plan::Plan>, Box<dyn std::error::Error>> {
    let validated = weft_runtime::validate::validate_text(&flow.to_string(), registry)
        .await
        .map_err(|problems| format!("the benchmark flow is invalid: {problems:?}"))?;
    Ok(Arc::new(weft_runtime::plan::Plan::compile(
        &validated,
        registry.host().config().memory_limit,
    )?))
}

/// A registered component by type name.
pub fn component(
    registry: &Registry,
    type_name: &str,
) -> Result<Arc<weft_runtime::host::LoadedComponent>, Box<dyn std::error::Error>> {
    let r = weft_editor_protocol::flow::NodeTypeRef::parse(type_name)?;
    Ok(registry
        .resolve(&r)
        .ok_or_else(|| format!("node type `{type_name}` is not registered"))?
        .component
        .clone())
}
