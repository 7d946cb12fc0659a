//! Instantiation options: the host's per-call path (`common::standalone`)
//! on engines that differ from `Host::new`'s settings in one knob at a
//! time, with the `text.upper` component read from
//! `target/wasm-guests/wasm32-wasip2/release/weft_node_text_upper.wasm`.
//!
//! Per variant:
//! - one call at a time (the same pool slot is reused): `instantiate_async`,
//!   `drop(store)` and the whole call;
//! - bursts of 16 calls live at once (16 distinct slots), per call;
//! - one call with a 1 MiB string (the guest grows and dirties its memory,
//!   so slot reset costs show).
//!
//! Also the WASI context's construction alone.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench instantiation`
//! (`WEFT_BENCH_VARIANTS=cow,pooling` runs only variants whose name
//! contains one of the words.)

mod common;

use std::error::Error;
use std::time::Duration;

use common::standalone::{Bench, Knobs};
use common::{Stats, fmt, header, measure, report, runtime, sample, scaled, string_payload, us};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn variants() -> Vec<(&'static str, Knobs)> {
    let d = Knobs::default;
    vec![
        ("previous defaults (pooling, CoW, keep 64K/16K)", d()),
        (
            "host today (previous + pagemap_scan, keep 1 MiB)",
            Knobs::host(),
        ),
        (
            "on-demand allocator",
            Knobs {
                pooling: false,
                ..d()
            },
        ),
        (
            "on-demand, no CoW",
            Knobs {
                pooling: false,
                memory_init_cow: false,
                ..d()
            },
        ),
        (
            "pooling, memory_init_cow off",
            Knobs {
                memory_init_cow: false,
                ..d()
            },
        ),
        (
            "linear_memory_keep_resident 0",
            Knobs {
                linear_memory_keep_resident: 0,
                ..d()
            },
        ),
        (
            "linear_memory_keep_resident 1 MiB",
            Knobs {
                linear_memory_keep_resident: MIB,
                ..d()
            },
        ),
        (
            "linear_memory_keep_resident 2 MiB",
            Knobs {
                linear_memory_keep_resident: 2 * MIB,
                ..d()
            },
        ),
        (
            "linear_memory_keep_resident 8 MiB",
            Knobs {
                linear_memory_keep_resident: 8 * MIB,
                ..d()
            },
        ),
        (
            "table_keep_resident 0",
            Knobs {
                table_keep_resident: 0,
                ..d()
            },
        ),
        (
            "table_keep_resident 1 MiB",
            Knobs {
                table_keep_resident: MIB,
                ..d()
            },
        ),
        (
            "pagemap_scan on",
            Knobs {
                pagemap_scan: true,
                ..d()
            },
        ),
        (
            "pagemap_scan on, keep_resident 2 MiB",
            Knobs {
                pagemap_scan: true,
                linear_memory_keep_resident: 2 * MIB,
                ..d()
            },
        ),
        (
            "pagemap_scan on, keep_resident 256 KiB",
            Knobs {
                pagemap_scan: true,
                linear_memory_keep_resident: 256 * KIB,
                ..d()
            },
        ),
        (
            "pagemap_scan on, keep_resident 1 MiB",
            Knobs {
                pagemap_scan: true,
                linear_memory_keep_resident: MIB,
                ..d()
            },
        ),
        (
            "pagemap_scan on, keep_resident 8 MiB",
            Knobs {
                pagemap_scan: true,
                linear_memory_keep_resident: 8 * MIB,
                ..d()
            },
        ),
        (
            "pagemap_scan on, decommit_batch_size 32",
            Knobs {
                pagemap_scan: true,
                decommit_batch_size: Some(32),
                ..d()
            },
        ),
        (
            "pagemap_scan on, table_keep_resident 0",
            Knobs {
                pagemap_scan: true,
                table_keep_resident: 0,
                ..d()
            },
        ),
        (
            "pagemap_scan on, keep 1 MiB, no epoch",
            Knobs {
                pagemap_scan: true,
                linear_memory_keep_resident: MIB,
                epoch_tick: None,
                ..d()
            },
        ),
        (
            "max_unused_warm_slots 0",
            Knobs {
                max_unused_warm_slots: Some(0),
                ..d()
            },
        ),
        (
            "max_unused_warm_slots 1000",
            Knobs {
                max_unused_warm_slots: Some(1000),
                ..d()
            },
        ),
        (
            "decommit_batch_size 32",
            Knobs {
                decommit_batch_size: Some(32),
                ..d()
            },
        ),
        (
            "async_stack_size 1 MiB",
            Knobs {
                async_stack_size: Some(MIB),
                ..d()
            },
        ),
        (
            "async_stack_size 8 MiB",
            Knobs {
                async_stack_size: Some(8 * MIB),
                ..d()
            },
        ),
        (
            "async_stack 256K, max_wasm_stack 128K",
            Knobs {
                async_stack_size: Some(256 * KIB),
                max_wasm_stack: Some(128 * KIB),
                ..d()
            },
        ),
        (
            "max_memory 64 MiB (no 1 GiB policies)",
            Knobs {
                max_memory: 64 * MIB,
                ..d()
            },
        ),
        (
            "max_instances 100",
            Knobs {
                max_instances: 100,
                ..d()
            },
        ),
        (
            "no epoch interruption, no ticker",
            Knobs {
                epoch_tick: None,
                ..d()
            },
        ),
    ]
}

struct Row {
    name: &'static str,
    instantiate: Stats,
    drop: Stats,
    total: Stats,
    run: Stats,
    burst: Stats,
    mid: Stats,
    big: Stats,
    compile: Duration,
}

fn main() -> Result<(), Box<dyn Error>> {
    header("instantiation: engine and pooling knobs, one at a time (text.upper)");
    let wasm = common::guest_wasm("weft_node_text_upper.wasm")?;
    let rt = runtime()?;
    let small = vec![("text".to_string(), "\"hello weft\"".to_string())];
    let mid = vec![("text".to_string(), string_payload(64 * KIB))];
    let big = vec![("text".to_string(), string_payload(MIB))];
    let filter: Vec<String> = std::env::var("WEFT_BENCH_VARIANTS")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let iters = scaled(1500);

    println!("-- the WASI context alone");
    measure("WasiCtxBuilder::new().build()", || {
        sample(iters * 10, || {
            std::hint::black_box(wasmtime_wasi::WasiCtxBuilder::new().build());
        })
    });

    let mut rows = Vec::new();
    for (name, knobs) in variants() {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("-- {name}");
        let bench = match Bench::new(&knobs, &wasm) {
            Ok(b) => b,
            Err(e) => {
                println!("   unavailable here: {e:#}");
                continue;
            }
        };
        rt.block_on(bench.check(&small, "{}"))?;
        rt.block_on(bench.check(&big, "{}"))?;
        let mut inst = Vec::new();
        let mut drops = Vec::new();
        let mut totals = Vec::new();
        let mut runs = Vec::new();
        let mut failed = 0;
        for round in 0..=common::rounds() {
            let mut i = Vec::with_capacity(iters);
            let mut d = Vec::with_capacity(iters);
            let mut t = Vec::with_capacity(iters);
            let mut r = Vec::with_capacity(iters);
            for _ in 0..iters {
                let p = rt.block_on(bench.call(&small, "{}"));
                failed += usize::from(!p.ok);
                i.push(p.instantiate);
                d.push(p.drop);
                t.push(p.total);
                r.push(p.call);
            }
            if round > 0 {
                inst.push(Stats::of(&mut i));
                drops.push(Stats::of(&mut d));
                totals.push(Stats::of(&mut t));
                runs.push(Stats::of(&mut r));
            }
        }
        if failed > 0 {
            return Err(format!("{name}: {failed} calls failed").into());
        }
        let instantiate = report("instantiate_async", &inst);
        let run = report("call_run", &runs);
        let drop = report("drop(store)", &drops);
        let total = report("whole call (wasi+store+inst+run+drop)", &totals);
        let burst = measure("burst of 16 live calls, per call", || {
            (0..scaled(60))
                .map(|_| {
                    rt.block_on(bench.burst(16, &small, "{}"))
                        .unwrap_or(Duration::MAX)
                })
                .collect()
        });
        let mid = measure("whole call with a 64 KiB string", || {
            (0..scaled(200))
                .map(|_| rt.block_on(bench.call(&mid, "{}")).total)
                .collect()
        });
        let big = measure("whole call with a 1 MiB string", || {
            (0..scaled(12))
                .map(|_| rt.block_on(bench.call(&big, "{}")).total)
                .collect()
        });
        rows.push(Row {
            name,
            instantiate,
            drop,
            total,
            run,
            burst,
            mid,
            big,
            compile: bench.compile_time,
        });
        drop_bench(bench);
    }

    println!("-- summary (medians; Δ vs the host defaults)");
    println!(
        "   {:<42} {:>9} {:>9} {:>9} | {:>9} {:>6} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>8}",
        "variant",
        "inst",
        "run",
        "drop",
        "call",
        "Δcall",
        "call mean",
        "call p99",
        "burst/call",
        "64K call",
        "1M call",
        "compile"
    );
    let base = rows.first().map(|r| r.total.median);
    for r in &rows {
        let delta = base
            .map(|b| format!("{:+.0}%", 100.0 * (us(r.total.median) / us(b) - 1.0)))
            .unwrap_or_default();
        println!(
            "   {:<42} {:>9} {:>9} {:>9} | {:>9} {:>6} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>8}",
            r.name,
            fmt(r.instantiate.median),
            fmt(r.run.median),
            fmt(r.drop.median),
            fmt(r.total.median),
            delta,
            fmt(r.total.mean),
            fmt(r.total.p99),
            fmt(r.burst.median),
            fmt(r.mid.median),
            fmt(r.big.median),
            fmt(r.compile)
        );
    }
    common::footer();
    Ok(())
}

/// Drops an engine and gives its epoch thread time to exit, so the pools
/// (terabytes of reserved address space each) do not pile up.
fn drop_bench(bench: Bench) {
    drop(bench);
    std::thread::sleep(Duration::from_millis(5));
}
