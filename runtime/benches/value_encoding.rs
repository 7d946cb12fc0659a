//! The cost of the JSON-text boundary: values cross into and out of a node
//! as JSON text (`types.json`), so every node call parses and prints them.
//!
//! For payloads of about 100 B, 10 KiB and 1 MiB (a JSON string, and a
//! structured object of records):
//! - serde_json decode and encode on the host (native code);
//! - the end-to-end node call (`LoadedComponent::run`) carrying it:
//!   `text.upper` (string in, string out), `json.get` (object in, one
//!   number out: a structured decode in the guest), `debug.log` (object in
//!   and out, plus the log line);
//! - the executor running a one-node `text.upper` plan with it (adds the
//!   host-side parse of the output, its type check and the event preview).
//!
//! For the alternative, a flattened tree (`list<json-node>`, since WIT has
//! no recursive types), it measures what the canonical ABI charges per
//! list element carrying strings, and estimates from it.
//!
//! `cargo bench -p weft-runtime --features test-guests --bench value_encoding`

mod common;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use common::{
    Stats, component, fmt, header, measure, object_payload, plan, registry, runtime, sample,
    sample_async, scaled, string_payload, us,
};
use weft_runtime::NullSink;
use weft_runtime::executor::{self, RunOptions};
use weft_runtime::host::{LoadedComponent, NodeCall};

const SIZES: [(&str, usize, usize); 3] = [
    ("100 B", 100, 1000),
    ("10 KiB", 10 * 1024, 300),
    ("1 MiB", 1024 * 1024, 12),
];

fn call<'a>(config: &'a str, inputs: Vec<(String, String)>) -> NodeCall<'a> {
    NodeCall {
        node_id: "n",
        config,
        attempt: 1,
        inputs,
        events: None,
        timeout: Duration::from_secs(30),
        memory_limit: 64 * 1024 * 1024,
        grants: Arc::default(),
    }
}

/// Times `LoadedComponent::run` with one input; fails if the node fails.
fn run_node(
    rt: &tokio::runtime::Runtime,
    name: &str,
    node: &LoadedComponent,
    config: &str,
    inputs: Vec<(String, String)>,
    iters: usize,
) -> Result<Stats, Box<dyn Error>> {
    rt.block_on(node.run(call(config, inputs.clone())))
        .map_err(|e| format!("{name}: the node failed: {e}"))?;
    Ok(measure(name, || {
        rt.block_on(sample_async(iters, async || {
            let _ = node.run(call(config, inputs.clone())).await;
        }))
    }))
}

/// How many values (and object keys) a JSON document holds.
fn count(v: &serde_json::Value) -> (usize, usize) {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .map(count)
            .fold((1, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        serde_json::Value::Object(map) => map
            .values()
            .map(count)
            .fold((1, map.len()), |a, b| (a.0 + b.0, a.1 + b.1)),
        _ => (1, 0),
    }
}

struct Row {
    label: &'static str,
    bytes: usize,
    host_string: Duration,
    host_object: Duration,
    upper: Duration,
    get: Duration,
    log: Duration,
    exec: Duration,
    values: usize,
    keys: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    header("value_encoding: the JSON-text boundary vs payload size");
    let rt = runtime()?;
    let registry = rt.block_on(registry())?;
    let upper = component(&registry, "text.upper")?;
    let get = component(&registry, "json.get")?;
    let log = component(&registry, "debug.log")?;
    let one_node = serde_json::json!({
        "weft": 1,
        "name": "one",
        "inputs": {"text": "string"},
        "nodes": [{"id": "upper", "type": "text.upper"}],
        "edges": [{"from": "input.text", "to": "upper.text"}],
        "outputs": {"text": "upper.text"},
    });
    let plan = rt.block_on(plan(&registry, &one_node))?;
    let get_config = r#"{"path":"meta.count"}"#;

    println!("-- baseline: text.upper with a 12-byte input (instantiation + call)");
    let base = run_node(
        &rt,
        "text.upper, \"hello weft\"",
        &upper,
        "{}",
        vec![("text".into(), "\"hello weft\"".into())],
        scaled(2000),
    )?;

    let mut rows = Vec::new();
    for (label, size, iters) in SIZES {
        let iters = scaled(iters);
        let string = string_payload(size);
        let object = object_payload(size);
        let parsed: serde_json::Value = serde_json::from_str(&object)?;
        let (values, keys) = count(&parsed);
        println!(
            "-- {label}: string {} B, object {} B ({values} values, {keys} keys)",
            string.len(),
            object.len()
        );
        let host_iters = iters * 10;
        let codec = |kind: &str, text: &str| {
            let decode = measure(&format!("host serde_json decode, {kind}"), || {
                sample(host_iters, || {
                    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                    std::hint::black_box(v);
                })
            });
            let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            let encode = measure(&format!("host serde_json encode, {kind}"), || {
                sample(host_iters, || {
                    std::hint::black_box(value.to_string());
                })
            });
            decode.median + encode.median
        };
        let host_string = codec("string", &string);
        let host_object = codec("object", &object);
        let upper_s = run_node(
            &rt,
            "run text.upper (string)",
            &upper,
            "{}",
            vec![("text".into(), string.clone())],
            iters,
        )?;
        let get_s = run_node(
            &rt,
            "run json.get meta.count (object)",
            &get,
            get_config,
            vec![("value".into(), object.clone())],
            iters,
        )?;
        let log_s = run_node(
            &rt,
            "run debug.log (object, events off)",
            &log,
            "{}",
            vec![("value".into(), object.clone())],
            iters,
        )?;
        let inputs =
            serde_json::json!({ "text": serde_json::from_str::<serde_json::Value>(&string)? })
                .as_object()
                .cloned()
                .unwrap_or_default();
        let exec = measure("executor, one text.upper node (string)", || {
            rt.block_on(sample_async(iters, async || {
                let _ = executor::execute(
                    plan.clone(),
                    inputs.clone(),
                    RunOptions::new("bench", Arc::new(NullSink)),
                )
                .await;
            }))
        });
        rows.push(Row {
            label,
            bytes: object.len(),
            host_string,
            host_object,
            upper: upper_s.median,
            get: get_s.median,
            log: log_s.median,
            exec: exec.median,
            values,
            keys,
        });
    }

    // The canonical ABI's price per list element carrying strings: the same
    // call with 1000 extra `(port, value)` records (two strings each, the
    // same port name, so the SDK keeps only the last), minus the call with
    // none.
    println!("-- canonical ABI cost per list element (for the flattened-tree estimate)");
    let extra = 1000;
    let mut many: Vec<(String, String)> = (0..extra)
        .map(|_| ("text".to_string(), "\"x\"".to_string()))
        .collect();
    many.push(("text".into(), "\"hello weft\"".into()));
    let with_many = run_node(
        &rt,
        "text.upper with 1000 extra port values",
        &upper,
        "{}",
        many,
        scaled(300),
    )?;
    let per_element = with_many.median.saturating_sub(base.median) / extra;

    println!("-- summary (medians; Δ = minus the 12-byte baseline call; * = host decode + encode)");
    println!(
        "   baseline call (instantiate + run, tiny value): {}",
        fmt(base.median)
    );
    println!(
        "   per list element with 2 short strings, lowered, lifted and parsed by the SDK: {}",
        fmt(per_element)
    );
    println!(
        "   {:<7} {:>10} {:>10} | {:>11} {:>11} {:>11} {:>11} | {:>9} | {:>13}",
        "size",
        "host str*",
        "host obj*",
        "upper(str)",
        "get(obj)",
        "log(obj)",
        "exec upper",
        "MB/s get",
        "flat-tree est"
    );
    for r in &rows {
        let get_delta = r.get.saturating_sub(base.median);
        // A flattened tree needs one list element per value and one string
        // per key and per string value; charge each value the measured
        // per-element price (an element with two strings: generous for
        // numbers, fair for keyed strings).
        let flat = per_element * (r.values as u32);
        println!(
            "   {:<7} {:>10} {:>10} | {:>11} {:>11} {:>11} {:>11} | {:>9.1} | {:>13}",
            r.label,
            fmt(r.host_string),
            fmt(r.host_object),
            fmt(r.upper),
            fmt(r.get),
            fmt(r.log),
            fmt(r.exec),
            r.bytes as f64 / get_delta.as_secs_f64().max(1e-9) / 1e6,
            fmt(flat),
        );
    }
    for r in &rows {
        let delta = r.get.saturating_sub(base.median);
        println!(
            "   {}: the JSON boundary adds {} to json.get ({:.0}% of its call; the baseline instantiation+call is {:.2} µs); a flattened tree would cost ≈ {}–{} just to cross ({} values, {} keys)",
            r.label,
            fmt(delta),
            100.0 * delta.as_secs_f64() / r.get.as_secs_f64().max(1e-12),
            us(base.median),
            fmt(per_element * (r.values as u32) / 2),
            fmt(per_element * (r.values as u32)),
            r.values,
            r.keys
        );
    }
    common::footer();
    Ok(())
}
