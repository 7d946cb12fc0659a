//! A 40-node chain: `input → text.upper × 40 → output`, run by the
//! executor end to end (validation and planning excluded), with different
//! event sinks; plus the raw throughput of the run emitter.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench chain`

mod common;

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Stats, fmt, header, measure, ms, plan, registry, runtime, sample_async, scaled, us};
use weft_editor_protocol::events::{EventBody, NodeStarted, RunEvent};
use weft_runtime::events::RunEmitter;
use weft_runtime::executor::{self, RunOptions};
use weft_runtime::{EventSink, NullSink, VecSink};

const NODES: usize = 40;

fn chain_flow(n: usize) -> serde_json::Value {
    let nodes: Vec<_> = (0..n)
        .map(|i| serde_json::json!({"id": format!("n{i}"), "type": "text.upper"}))
        .collect();
    let mut edges = vec![serde_json::json!({"from": "input.text", "to": "n0.text"})];
    edges.extend((1..n).map(
        |i| serde_json::json!({"from": format!("n{}.text", i - 1), "to": format!("n{i}.text")}),
    ));
    serde_json::json!({
        "weft": 1,
        "name": "chain",
        "inputs": {"text": "string"},
        "nodes": nodes,
        "edges": edges,
        "outputs": {"text": format!("n{}.text", n - 1)},
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    header("chain: 40 × text.upper in a line, through the executor");
    let rt = runtime()?;
    let registry = rt.block_on(registry())?;
    let plan = rt.block_on(plan(&registry, &chain_flow(NODES)))?;
    let inputs = serde_json::json!({"text": "hello weft"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let iters = scaled(200);

    let run = async |sink: Arc<dyn EventSink>| {
        executor::execute(plan.clone(), inputs.clone(), RunOptions::new("bench", sink)).await
    };
    let check = VecSink::new();
    let outcome = rt.block_on(run(Arc::new(check.clone())));
    if outcome.error.is_some() || outcome.outputs.get("text") != Some(&"HELLO WEFT".into()) {
        return Err(format!("the chain run failed: {outcome:?}").into());
    }
    let events_per_run = check.events().len();

    println!("-- run time of the whole chain ({NODES} nodes, {events_per_run} events per run)");
    let null: Arc<dyn EventSink> = Arc::new(NullSink);
    let null_stats = measure("NullSink (block_on, as the CLI)", || {
        rt.block_on(sample_async(iters, async || {
            let _ = run(null.clone()).await;
        }))
    });
    let spawned = measure("NullSink, run spawned on a worker", || {
        rt.block_on(sample_async(iters, async || {
            let _ = tokio::spawn(executor::execute(
                plan.clone(),
                inputs.clone(),
                RunOptions::new("bench", null.clone()),
            ))
            .await;
        }))
    });
    let rt_ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let current = measure("NullSink, current-thread runtime", || {
        rt_ct.block_on(sample_async(iters, async || {
            let _ = run(null.clone()).await;
        }))
    });
    let vec_stats = measure("VecSink (new per run)", || {
        rt.block_on(sample_async(iters, async || {
            let _ = run(Arc::new(VecSink::new())).await;
        }))
    });
    let chan_stats = measure("unbounded mpsc channel (drained per run)", || {
        rt.block_on(sample_async(iters, async || {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
            let _ = run(Arc::new(tx)).await;
            while rx.try_recv().is_ok() {}
        }))
    });

    println!("-- the run emitter alone (numbering, timestamp, sink), per event");
    let batch = 10_000u32;
    let body = || {
        EventBody::NodeStarted(NodeStarted {
            node: "n17".into(),
            node_type: "text.upper@1.0.0".into(),
            attempt: 1,
        })
    };
    let per_event = |sink: Arc<dyn EventSink>| {
        let emitter = RunEmitter::new("bench", sink);
        move || -> Vec<Duration> {
            (0..scaled(50))
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..batch {
                        emitter.emit(body());
                    }
                    t.elapsed() / batch
                })
                .collect()
        }
    };
    let emit_null = measure("emit → NullSink", per_event(Arc::new(NullSink)));
    let vec = VecSink::new();
    let emit_vec = measure("emit → VecSink", per_event(Arc::new(vec.clone())));
    drop(vec);

    println!("-- summary");
    let report = |name: &str, s: &Stats| {
        println!(
            "   {name:<28} {:>10} per run ({:.2} µs per node); {:>9.0} events/s; target 0.5 ms → {:.2}× the target",
            fmt(s.median),
            us(s.median) / NODES as f64,
            events_per_run as f64 / s.median.as_secs_f64(),
            ms(s.median) / 0.5
        );
    };
    report("NullSink (block_on)", &null_stats);
    report("NullSink (spawned)", &spawned);
    report("NullSink (current thread)", &current);
    report("VecSink", &vec_stats);
    report("mpsc channel", &chan_stats);
    println!(
        "   emitter alone: {:.1} M events/s to a NullSink, {:.1} M events/s to a VecSink",
        1.0 / emit_null.median.as_secs_f64() / 1e6,
        1.0 / emit_vec.median.as_secs_f64() / 1e6
    );
    common::footer();
    Ok(())
}
