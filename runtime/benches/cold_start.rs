//! Cold start: `Host::new` + `Registry::with_builtins` with an empty
//! component cache (every built-in is compiled by Cranelift and written to
//! the cache), with a warm cache (every built-in is deserialized, i.e.
//! memory-mapped, never compiled), and with no cache at all.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench cold_start`

mod common;

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Stats, fmt, header, ms};
use weft_runtime::host::{CacheOutcome, Host, HostConfig};
use weft_runtime::registry::Registry;

struct Sample {
    host_new: Duration,
    builtins: Duration,
    outcomes: Vec<CacheOutcome>,
}

async fn start(cache_dir: Option<&Path>) -> Result<Sample, Box<dyn Error>> {
    let t = Instant::now();
    let host = Host::new(HostConfig {
        cache_dir: cache_dir.map(Path::to_path_buf),
        ..HostConfig::default()
    })?;
    let host_new = t.elapsed();
    let t = Instant::now();
    let registry = Registry::with_builtins(host).await?;
    let builtins = t.elapsed();
    let outcomes = registry.all().map(|r| r.component.cache).collect();
    drop(registry);
    // Let the epoch thread see the stop flag and release the engine.
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(Sample {
        host_new,
        builtins,
        outcomes,
    })
}

fn summarize(name: &str, samples: &[Sample]) -> Stats {
    let mut host: Vec<Duration> = samples.iter().map(|s| s.host_new).collect();
    let mut all: Vec<Duration> = samples.iter().map(|s| s.host_new + s.builtins).collect();
    let host = Stats::of(&mut host);
    let all = Stats::of(&mut all);
    let outcomes: Vec<String> = samples
        .iter()
        .map(|s| {
            let count = |o: CacheOutcome| s.outcomes.iter().filter(|&&x| x == o).count();
            format!(
                "{} deferred/{} hit/{} compiled/{} uncached",
                count(CacheOutcome::Deferred),
                count(CacheOutcome::Hit),
                count(CacheOutcome::Compiled),
                count(CacheOutcome::Uncached)
            )
        })
        .collect();
    println!(
        "{name:<40} median {:>11}  min {:>11}  max {:>11}  (Host::new alone: median {}) n={}",
        fmt(all.median),
        fmt(all.min),
        fmt(all.max),
        fmt(host.median),
        all.n
    );
    println!("{:<40}   components: {}", "", outcomes.join("; "));
    all
}

fn main() -> Result<(), Box<dyn Error>> {
    header("cold_start: Host::new + Registry::with_builtins");
    let rt = common::runtime()?;
    let reps = common::rounds();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut none = Vec::new();
    let mut cache_bytes = 0;
    let mut cache_files = 0;
    for _ in 0..reps {
        let dir = tempfile::tempdir()?;
        cold.push(rt.block_on(start(Some(dir.path())))?);
        warm.push(rt.block_on(start(Some(dir.path())))?);
        none.push(rt.block_on(start(None))?);
        let entries: Vec<_> = std::fs::read_dir(dir.path())?
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .collect();
        cache_files = entries.len();
        cache_bytes = entries.iter().map(|m| m.len()).sum::<u64>();
    }
    let cold = summarize("empty cache dir (compile + store)", &cold);
    let warm = summarize("warm cache dir (deserialize only)", &warm);
    let none = summarize("no cache (compile only)", &none);

    println!("-- summary");
    println!(
        "   cold {:.0} ms, warm {:.1} ms, no cache {:.0} ms: the warm cache is {:.0}× faster than compiling; {cache_files} cached files, {:.1} MiB",
        ms(cold.median),
        ms(warm.median),
        ms(none.median),
        cold.median.as_secs_f64() / warm.median.as_secs_f64().max(1e-9),
        cache_bytes as f64 / (1024.0 * 1024.0)
    );
    common::footer();
    Ok(())
}
