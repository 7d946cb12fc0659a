//! Per-node overhead: one call of the trivial `text.upper` node, which is
//! instantiated fresh for every call.
//!
//! 1. `LoadedComponent::run` directly (without and with an event stream).
//! 2. The executor running a one-node plan (NullSink), on the CLI's
//!    multi-threaded runtime and on a current-thread runtime.
//! 3. Where the time goes: the host's call path re-implemented on a
//!    bench-owned engine with the host's settings (`common::standalone`),
//!    timed phase by phase, plus the host-side JSON work the executor does
//!    around a call.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench node_call`

mod common;

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Stats, component, fmt, header, measure, plan, registry, report, runtime, sample, sample_async,
    scaled, us,
};
use weft_editor_protocol::PortType;
use weft_runtime::events::RunEmitter;
use weft_runtime::executor::values::{Val, preview};
use weft_runtime::executor::{self, DEFAULT_PREVIEW_LIMIT, RunOptions};
use weft_runtime::host::NodeCall;
use weft_runtime::host::state::NodeEvents;
use weft_runtime::{EventSink, NullSink};

const INPUT: &str = "\"hello weft\"";

fn main() -> Result<(), Box<dyn Error>> {
    header("node_call: per-node overhead (text.upper, fresh instance per call)");
    let rt = runtime()?;
    let registry = rt.block_on(registry())?;
    let upper = component(&registry, "text.upper")?;
    let iters = scaled(2000);

    let call = |events: Option<NodeEvents>| NodeCall {
        node_id: "upper",
        config: "{}",
        attempt: 1,
        inputs: vec![("text".to_string(), INPUT.to_string())],
        events,
        timeout: Duration::from_secs(30),
        memory_limit: 64 * 1024 * 1024,
        grants: Arc::default(),
    };
    let outputs = rt
        .block_on(upper.run(call(None)))
        .map_err(|e| format!("text.upper failed: {e}"))?;
    if outputs.outputs != [("text".to_string(), "\"HELLO WEFT\"".to_string())] {
        return Err(format!("unexpected outputs {outputs:?}").into());
    }

    println!("-- 1. LoadedComponent::run");
    let direct = measure("run, no event stream", || {
        rt.block_on(sample_async(iters, async || {
            let _ = upper.run(call(None)).await;
        }))
    });
    let sink: Arc<dyn EventSink> = Arc::new(NullSink);
    let events = NodeEvents {
        emitter: Arc::new(RunEmitter::new("bench", sink.clone())),
        node: "upper".into(),
    };
    measure("run, events to a NullSink", || {
        rt.block_on(sample_async(iters, async || {
            let _ = upper.run(call(Some(events.clone()))).await;
        }))
    });

    println!("-- 2. executor, one-node plan (input → text.upper → output), NullSink");
    let flow = serde_json::json!({
        "weft": 1,
        "name": "one",
        "inputs": {"text": "string"},
        "nodes": [{"id": "upper", "type": "text.upper"}],
        "edges": [{"from": "input.text", "to": "upper.text"}],
        "outputs": {"text": "upper.text"},
    });
    let plan = rt.block_on(plan(&registry, &flow))?;
    let inputs = serde_json::json!({"text": "hello weft"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let run_once = async || {
        executor::execute(
            plan.clone(),
            inputs.clone(),
            RunOptions::new("bench", sink.clone()),
        )
        .await
    };
    let outcome = rt.block_on(run_once());
    if outcome.error.is_some() || outcome.outputs.get("text") != Some(&"HELLO WEFT".into()) {
        return Err(format!("the one-node run failed: {outcome:?}").into());
    }
    let run_once = async || {
        let _ = run_once().await;
    };
    let exec_mt = measure("execute, multi-thread block_on (as the CLI)", || {
        rt.block_on(sample_async(iters, run_once))
    });
    let exec_spawned = measure("execute, spawned on a worker", || {
        rt.block_on(sample_async(iters, async || {
            let _ = tokio::spawn(executor::execute(
                plan.clone(),
                inputs.clone(),
                RunOptions::new("bench", sink.clone()),
            ))
            .await;
        }))
    });
    let rt_ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let exec_ct = measure("execute, current-thread runtime", || {
        rt_ct.block_on(sample_async(iters, run_once))
    });

    println!("-- 3. phases: the host's call path on a bench-owned engine (host settings)");
    let wasm = common::guest_wasm("weft_node_text_upper.wasm")?;
    let bench = common::standalone::Bench::new(&common::standalone::Knobs::host(), &wasm)
        .map_err(|e| format!("{e:#}"))?;
    let inputs = vec![("text".to_string(), INPUT.to_string())];
    rt.block_on(bench.check(&inputs, "{}"))?;
    let mut rounds: [Vec<Stats>; 6] = Default::default();
    let phase_names = [
        "WasiCtx build (log pipes)",
        "Store::new + limiter + epoch + args",
        "instantiate_async",
        "call_run (guest JSON in/out included)",
        "drop(store) (slot back to the pool)",
        "total",
    ];
    let mut failed = 0;
    for round in 0..=common::rounds() {
        let mut samples: [Vec<Duration>; 6] = Default::default();
        for _ in 0..iters {
            let p = rt.block_on(bench.call(&inputs, "{}"));
            failed += usize::from(!p.ok);
            for (s, d) in
                samples
                    .iter_mut()
                    .zip([p.wasi, p.store, p.instantiate, p.call, p.drop, p.total])
            {
                s.push(d);
            }
        }
        if round > 0 {
            for (r, s) in rounds.iter_mut().zip(samples.iter_mut()) {
                r.push(Stats::of(s));
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} standalone calls failed").into());
    }
    let phases: Vec<Stats> = phase_names
        .iter()
        .zip(rounds.iter())
        .map(|(name, r)| report(name, r))
        .collect();

    println!("-- 3b. host-side JSON around one call (what the executor adds)");
    let ty: PortType = "string".parse()?;
    let out_text = "\"HELLO WEFT\"";
    let json_out = measure("parse output + type check + Val", || {
        sample(iters * 10, || {
            let v: serde_json::Value = serde_json::from_str(out_text).unwrap_or_default();
            let ok = ty.check(&v).is_ok();
            let val = Val::from_parts(v, out_text.into());
            std::hint::black_box((ok, val));
        })
    });
    let val = Val::from_value(serde_json::Value::String("HELLO WEFT".into()));
    let json_in = measure("input text copy + event preview", || {
        sample(iters * 10, || {
            let text = val.text().to_string();
            let p = preview(&val, DEFAULT_PREVIEW_LIMIT);
            std::hint::black_box((text, p));
        })
    });

    let t = Instant::now();
    let n = 100_000;
    for _ in 0..n {
        std::hint::black_box(Instant::now());
    }
    let clock = t.elapsed() / n;

    println!("-- summary");
    let total = phases[5].median;
    for (name, s) in phase_names.iter().zip(&phases).take(5) {
        println!(
            "   {name:<40} {:>10}  {:>5.1} % of the standalone call",
            fmt(s.median),
            100.0 * s.median.as_secs_f64() / total.as_secs_f64().max(1e-12)
        );
    }
    println!(
        "   {:<40} {:>10}",
        "host JSON per node (parse+check+copy)",
        fmt(json_out.median + json_in.median)
    );
    println!(
        "   LoadedComponent::run median {:.2} µs (p99 {:.2} µs); target ≤ 10 µs → {:.2}× the target",
        us(direct.median),
        us(direct.p99),
        us(direct.median) / 10.0
    );
    println!(
        "   executor 1-node run median {:.2} µs multi-thread block_on, {:.2} µs spawned, {:.2} µs current-thread (p99 {:.2} / {:.2} / {:.2} µs)",
        us(exec_mt.median),
        us(exec_spawned.median),
        us(exec_ct.median),
        us(exec_mt.p99),
        us(exec_spawned.p99),
        us(exec_ct.p99)
    );
    println!("   (Instant::now() costs {} per call)", fmt(clock));
    common::footer();
    Ok(())
}
