//! A 10-wide fan-out: ten independent `test.sleep` nodes (20 ms each)
//! joined by `json.build`. The run should take about one sleep, not ten:
//! the guests sleep through WASI `poll`, an async host call, so they yield
//! their worker thread. Prints the ratio to one sleep, the same flow with
//! `max_concurrency: 1` for contrast, and each branch's start and finish
//! offsets (from the events) in one run.
//!
//! A second, CPU-bound fan-out (10 × `json.get` on a 256 KiB object: the
//! guests parse it, so they compute rather than wait) shows whether the
//! branches also spread over the CPU cores.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench fanout`

mod common;

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{header, measure, ms, plan, registry, runtime, sample_async, scaled};
use weft_editor_protocol::events::{EventBody, RunEvent};
use weft_runtime::events::FnSink;
use weft_runtime::executor::{self, RunOptions};
use weft_runtime::{EventSink, NullSink};

const WIDTH: usize = 10;
const SLEEP_MS: u64 = 20;

fn fanout_flow(max_concurrency: Option<u32>) -> serde_json::Value {
    let mut nodes: Vec<_> = (0..WIDTH)
        .map(|i| {
            serde_json::json!({"id": format!("s{i}"), "type": "test.sleep", "config": {"ms": SLEEP_MS}})
        })
        .collect();
    let fields: serde_json::Map<String, serde_json::Value> = (0..WIDTH)
        .map(|i| (format!("b{i}"), "int".into()))
        .collect();
    nodes.push(
        serde_json::json!({"id": "join", "type": "json.build", "config": {"fields": fields}}),
    );
    let edges: Vec<_> = (0..WIDTH)
        .map(|i| serde_json::json!({"from": format!("s{i}.slept"), "to": format!("join.b{i}")}))
        .collect();
    let mut flow = serde_json::json!({
        "weft": 1,
        "name": "fanout",
        "nodes": nodes,
        "edges": edges,
        "outputs": {"all": "join.value"},
    });
    if let Some(c) = max_concurrency {
        flow["settings"] = serde_json::json!({"max_concurrency": c});
    }
    flow
}

/// Ten `json.get` nodes reading `meta.count` of the same big input object.
fn cpu_flow(max_concurrency: Option<u32>) -> serde_json::Value {
    let mut nodes: Vec<_> = (0..WIDTH)
        .map(|i| {
            serde_json::json!({"id": format!("g{i}"), "type": "json.get", "config": {"path": "meta.count"}})
        })
        .collect();
    let fields: serde_json::Map<String, serde_json::Value> = (0..WIDTH)
        .map(|i| (format!("b{i}"), "any".into()))
        .collect();
    nodes.push(
        serde_json::json!({"id": "join", "type": "json.build", "config": {"fields": fields}}),
    );
    let mut edges: Vec<_> = (0..WIDTH)
        .map(|i| serde_json::json!({"from": "input.doc", "to": format!("g{i}.value")}))
        .collect();
    edges.extend(
        (0..WIDTH).map(
            |i| serde_json::json!({"from": format!("g{i}.value"), "to": format!("join.b{i}")}),
        ),
    );
    let mut flow = serde_json::json!({
        "weft": 1,
        "name": "cpu-fanout",
        "inputs": {"doc": "object"},
        "nodes": nodes,
        "edges": edges,
        "outputs": {"all": "join.value"},
    });
    if let Some(c) = max_concurrency {
        flow["settings"] = serde_json::json!({"max_concurrency": c});
    }
    flow
}

type Recorded = Arc<Mutex<Vec<(Instant, RunEvent)>>>;

fn main() -> Result<(), Box<dyn Error>> {
    header("fanout: 10 × test.sleep(20 ms) joined by json.build");
    let rt = runtime()?;
    let registry = rt.block_on(registry())?;
    let parallel = rt.block_on(plan(&registry, &fanout_flow(None)))?;
    let serial = rt.block_on(plan(&registry, &fanout_flow(Some(1))))?;
    let null: Arc<dyn EventSink> = Arc::new(NullSink);

    let run = async |plan: &Arc<weft_runtime::plan::Plan>, sink: Arc<dyn EventSink>| {
        executor::execute(
            plan.clone(),
            serde_json::Map::new(),
            RunOptions::new("bench", sink),
        )
        .await
    };
    let outcome = rt.block_on(run(&parallel, null.clone()));
    let expected: serde_json::Map<String, serde_json::Value> = (0..WIDTH)
        .map(|i| (format!("b{i}"), SLEEP_MS.into()))
        .collect();
    if outcome.error.is_some() || outcome.outputs.get("all") != Some(&expected.into()) {
        return Err(format!("the fan-out run failed: {outcome:?}").into());
    }

    let par = measure("10-wide fan-out (max_concurrency 16)", || {
        rt.block_on(sample_async(scaled(20), async || {
            let _ = run(&parallel, null.clone()).await;
        }))
    });
    let ser = measure("same flow, max_concurrency 1", || {
        rt.block_on(sample_async(scaled(5).min(5), async || {
            let _ = run(&serial, null.clone()).await;
        }))
    });

    // One recorded run for the timeline.
    let recorded: Recorded = Arc::default();
    let sink = {
        let recorded = recorded.clone();
        FnSink(move |event: RunEvent| {
            if let Ok(mut v) = recorded.lock() {
                v.push((Instant::now(), event));
            }
        })
    };
    let outcome = rt.block_on(run(&parallel, Arc::new(sink)));
    let events = recorded.lock().map(|v| v.clone()).unwrap_or_default();
    let origin = events
        .first()
        .map(|(t, _)| *t)
        .ok_or("the recorded run has no events")?;
    println!(
        "-- timeline of one run ({:.2} ms), offsets from run.started",
        ms(outcome.duration)
    );
    println!("   node    started     finished   duration");
    let mut started = std::collections::HashMap::new();
    let mut live = 0i32;
    let mut max_live = 0i32;
    for (t, e) in &events {
        let offset = ms(t.duration_since(origin));
        match &e.body {
            EventBody::NodeStarted(s) => {
                started.insert(s.node.clone(), offset);
                live += 1;
                max_live = max_live.max(live);
            }
            EventBody::NodeFinished(f) => {
                live -= 1;
                let s = started.get(&f.node).copied().unwrap_or(f64::NAN);
                println!(
                    "   {:<6} {:>7.2} ms  {:>8.2} ms  {:>6.2} ms",
                    f.node, s, offset, f.duration_ms
                );
            }
            _ => {}
        }
    }
    let starts: Vec<f64> = (0..WIDTH)
        .filter_map(|i| started.get(&format!("s{i}")).copied())
        .collect();
    let spread = starts.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - starts.iter().copied().fold(f64::INFINITY, f64::min);

    println!("-- CPU-bound fan-out: 10 × json.get on a 256 KiB object");
    let cpu_par = rt.block_on(plan(&registry, &cpu_flow(None)))?;
    let cpu_ser = rt.block_on(plan(&registry, &cpu_flow(Some(1))))?;
    let doc: serde_json::Value = serde_json::from_str(&common::object_payload(256 * 1024))?;
    let cpu_inputs = serde_json::json!({ "doc": doc })
        .as_object()
        .cloned()
        .unwrap_or_default();
    let cpu_run = async |plan: &Arc<weft_runtime::plan::Plan>| {
        executor::execute(
            plan.clone(),
            cpu_inputs.clone(),
            RunOptions::new("bench", null.clone()),
        )
        .await
    };
    let outcome = rt.block_on(cpu_run(&cpu_par));
    if outcome.error.is_some() || outcome.outputs.get("all").is_none() {
        return Err(format!("the CPU-bound fan-out failed: {:?}", outcome.error).into());
    }
    let cpu_p = measure("CPU-bound fan-out (max_concurrency 16)", || {
        rt.block_on(sample_async(scaled(10), async || {
            let _ = cpu_run(&cpu_par).await;
        }))
    });
    let cpu_s = measure("CPU-bound, max_concurrency 1", || {
        rt.block_on(sample_async(scaled(10), async || {
            let _ = cpu_run(&cpu_ser).await;
        }))
    });

    println!("-- summary");
    println!(
        "   fan-out run median {:.2} ms = {:.2}× one sleep ({SLEEP_MS} ms); ten sleeps in sequence = {} ms → {:.1}× faster than serial",
        ms(par.median),
        ms(par.median) / SLEEP_MS as f64,
        SLEEP_MS * WIDTH as u64,
        (SLEEP_MS * WIDTH as u64) as f64 / ms(par.median)
    );
    println!(
        "   max_concurrency 1: {:.2} ms = {:.2}× one sleep",
        ms(ser.median),
        ms(ser.median) / SLEEP_MS as f64
    );
    println!(
        "   in the recorded run: up to {max_live} nodes running at once; the 10 sleeps started within {spread:.2} ms of each other"
    );
    println!(
        "   CPU-bound fan-out: {:.2} ms vs {:.2} ms with max_concurrency 1 → {:.2}× speed-up on {} CPUs",
        ms(cpu_p.median),
        ms(cpu_s.median),
        ms(cpu_s.median) / ms(cpu_p.median),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    common::footer();
    Ok(())
}
