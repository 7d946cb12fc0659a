//! `vector.upsert`: inserts or replaces records in a vector collection
//! (capability `vectors`).
//!
//! * Config: `{collection: string}` (1–64 letters, digits, `_` or `-`).
//! * Inputs (all optional): a single record on `id: string`, `vector:
//!   embedding`, `text: string`, `metadata: object`; and/or a batch on
//!   `records: list<object{id: string, vector: embedding, text?: string,
//!   metadata?: object}>`.
//! * Output: `count: int`, the number of records written.
//!
//! At run time either `records` or both `id` and `vector` must be live, else
//! the node fails with the non-retryable `vector.no_input`; `id` without
//! `vector` (or the reverse) is `input.missing`. When both are given, the
//! single record is written first, then `records`, in one capability call.
//! A missing `text` is written as `""`, missing `metadata` as `{}`; extra
//! fields of a record are ignored. Within one call a repeated `id` keeps the
//! last record (at the first one's position), as upserting them one by one
//! would. An empty `records` list (and no single record) writes nothing and
//! does not call the host.
//!
//! Every record needs a non-empty `id` (`vector.id`) and a non-empty vector
//! of finite numbers that fit an `f32` (`vector.value`), and all vectors of
//! a call must have the same length (`vector.dimension`); these errors are
//! non-retryable and name the record. A failed call is a `capability.<kind>`
//! error (`timeout` and `failed` are retryable; a missing collection is
//! `capability.not-found`).

use weft_node_sdk::capabilities::vectors;
use weft_node_sdk::json::compact;
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::Map;

/// `vector.upsert`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The collection to write to: 1–64 letters, digits, `_` or `-`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub collection: String,
}

/// Whether `name` is a valid collection name: `[A-Za-z0-9_-]{1,64}`.
fn is_collection_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check(config: &Config) -> Vec<ConfigProblem> {
    if is_collection_name(&config.collection) {
        Vec::new()
    } else {
        vec![ConfigProblem::field(
            "collection",
            format!(
                "`{}` is not a valid collection name (1-64 letters, digits, `_` or `-`)",
                config.collection
            ),
        )]
    }
}

/// One element of the `records` input.
#[derive(Debug, Deserialize)]
struct RecordIn {
    id: String,
    vector: Vec<f64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

fn fatal(code: &str, message: String) -> NodeError {
    NodeError::new(code, message).fatal()
}

/// Checks one record and converts it; `what` names it in messages.
fn record(input: RecordIn, what: &str) -> Result<vectors::VectorRecord, NodeError> {
    if input.id.is_empty() {
        return Err(fatal("vector.id", format!("{what}: the id is empty")));
    }
    if input.vector.is_empty() {
        return Err(fatal(
            "vector.value",
            format!("{what}: the vector is empty"),
        ));
    }
    let mut vector = Vec::with_capacity(input.vector.len());
    for (i, x) in input.vector.into_iter().enumerate() {
        let y = x as f32;
        if !y.is_finite() {
            return Err(fatal(
                "vector.value",
                format!("{what}: element {i} of the vector ({x}) is not a finite 32-bit number"),
            ));
        }
        vector.push(y);
    }
    Ok(vectors::VectorRecord {
        id: input.id,
        vector,
        text: input.text.unwrap_or_default(),
        metadata: compact(&Value::Object(input.metadata.unwrap_or_default())),
    })
}

/// The records to write, from the inputs.
fn collect_records(inputs: &mut Inputs) -> Result<Vec<vectors::VectorRecord>, NodeError> {
    let live = |inputs: &Inputs, port: &str| inputs.value(port).is_some_and(|v| !v.is_null());
    let (has_id, has_vector) = (live(inputs, "id"), live(inputs, "vector"));
    let has_records = live(inputs, "records");
    if has_id != has_vector {
        let (missing, given) = if has_id {
            ("vector", "id")
        } else {
            ("id", "vector")
        };
        return Err(fatal(
            "input.missing",
            format!(
                "input `{missing}` has no value: a single record needs both `id` and `vector` \
                 (`{given}` is set)"
            ),
        ));
    }
    if !has_id && !has_records {
        return Err(fatal(
            "vector.no_input",
            "vector.upsert needs a live `records` input, or live `id` and `vector` inputs"
                .to_owned(),
        ));
    }
    let mut records = Vec::new();
    if has_id {
        let single = RecordIn {
            id: inputs.take("id")?,
            vector: inputs.take("vector")?,
            text: inputs.opt("text")?,
            metadata: inputs.opt("metadata")?,
        };
        records.push(record(single, "the single record")?);
    }
    if has_records {
        let batch: Vec<RecordIn> = inputs.take("records")?;
        for (i, r) in batch.into_iter().enumerate() {
            records.push(record(r, &format!("record {i} of `records`"))?);
        }
    }
    let dimension = records.first().map_or(0, |r| r.vector.len());
    if let Some(r) = records.iter().find(|r| r.vector.len() != dimension) {
        return Err(fatal(
            "vector.dimension",
            format!(
                "record `{}` has a vector of {} numbers, but the first record's has {dimension}",
                r.id,
                r.vector.len()
            ),
        ));
    }
    // A repeated id keeps the last record, at the first one's position.
    let mut unique: Vec<vectors::VectorRecord> = Vec::with_capacity(records.len());
    for r in records {
        match unique.iter_mut().find(|u| u.id == r.id) {
            Some(slot) => *slot = r,
            None => unique.push(r),
        }
    }
    Ok(unique)
}

/// The `vector.upsert` node.
#[derive(Debug)]
pub struct Upsert;

impl Node for Upsert {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "vector.upsert",
        version: "1.0.0",
        summary: "Inserts or replaces records (id, vector, text, metadata) in a vector collection",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let problems = check(config);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Spec::new()
            .input(
                Port::new("id", "string")
                    .optional()
                    .description("A single record's id (with `vector`)"),
            )
            .input(
                Port::new("vector", "embedding")
                    .optional()
                    .description("A single record's vector (with `id`)"),
            )
            .input(
                Port::new("text", "string")
                    .optional()
                    .description("A single record's text (default empty)"),
            )
            .input(
                Port::new("metadata", "object")
                    .optional()
                    .description("A single record's metadata (default {})"),
            )
            .input(
                Port::new(
                    "records",
                    "list<object{id: string, vector: embedding, text?: string, metadata?: object}>",
                )
                .optional()
                .description("Records to write in one batch"),
            )
            .output(Port::new("count", "int").description("The number of records written"))
            .capability(Capability::Vectors))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        if let Some(problem) = check(&ctx.config).into_iter().next() {
            return Err(problem.into());
        }
        let records = collect_records(&mut inputs)?;
        if !records.is_empty() {
            ctx.log_debug(format!(
                "upserting {} record(s) into `{}`",
                records.len(),
                ctx.config.collection
            ));
            ctx.vectors_upsert(&ctx.config.collection, &records)?;
        }
        Ok(Outputs::new().set("count", records.len()))
    }
}

weft_node_sdk::export_node!(Upsert);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn collect(pairs: &[(&str, Value)]) -> Result<Vec<vectors::VectorRecord>, NodeError> {
        let mut inputs = Inputs::from_pairs(pairs.iter().map(|(p, v)| (*p, v.clone())));
        collect_records(&mut inputs)
    }

    fn summary(records: &[vectors::VectorRecord]) -> Vec<(&str, &[f32], &str, &str)> {
        records
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.vector.as_slice(),
                    r.text.as_str(),
                    r.metadata.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn describes_ports() {
        let spec = testing::describe::<Upsert>(json!({"collection": "docs_v1-a"})).unwrap();
        let inputs: Vec<_> = spec
            .inputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.required))
            .collect();
        assert_eq!(
            inputs,
            [
                ("id", "string", false),
                ("vector", "embedding", false),
                ("text", "string", false),
                ("metadata", "object", false),
                (
                    "records",
                    "list<object{id: string, vector: embedding, text?: string, metadata?: object}>",
                    false
                ),
            ]
        );
        for port in &spec.inputs {
            port.ty
                .parse::<weft_node_sdk::types::Type>()
                .unwrap_or_else(|e| panic!("{}: {e}", port.ty));
        }
        assert_eq!(spec.outputs[0].name, "count");
        assert_eq!(spec.capabilities, [Capability::Vectors]);
    }

    #[test]
    fn collection_names() {
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            let problems = testing::describe::<Upsert>(json!({"collection": bad})).unwrap_err();
            assert_eq!(problems[0].path, "/collection", "{bad}");
        }
        assert!(testing::describe::<Upsert>(json!({"collection": "x".repeat(64)})).is_ok());
        assert!(testing::describe::<Upsert>(json!({})).is_err());
        let problems =
            testing::describe::<Upsert>(json!({"collection": "a", "table": "b"})).unwrap_err();
        assert_eq!(problems[0].path, "/table");
        let schema = testing::config_schema::<Upsert>();
        assert_eq!(schema["properties"]["collection"]["maxLength"], 64);
        assert_eq!(
            schema["properties"]["collection"]["pattern"],
            "^[A-Za-z0-9_-]+$"
        );
    }

    #[test]
    fn single_and_batch_records() {
        let records = collect(&[
            ("id", json!("a")),
            ("vector", json!([1, 0.5])),
            ("metadata", json!({"k": "v"})),
            (
                "records",
                json!([
                    {"id": "b", "vector": [0, 1], "text": "bee", "extra": true},
                    {"id": "c", "vector": [2, 2], "metadata": {"n": 1}},
                ]),
            ),
        ])
        .unwrap();
        assert_eq!(
            summary(&records),
            [
                ("a", &[1.0, 0.5][..], "", r#"{"k":"v"}"#),
                ("b", &[0.0, 1.0][..], "bee", "{}"),
                ("c", &[2.0, 2.0][..], "", r#"{"n":1}"#),
            ]
        );

        let records = collect(&[
            ("id", json!("x")),
            ("vector", json!([1])),
            ("text", json!("t")),
        ])
        .unwrap();
        assert_eq!(summary(&records), [("x", &[1.0][..], "t", "{}")]);

        // A repeated id keeps the last record, at the first position.
        let records = collect(&[(
            "records",
            json!([
                {"id": "a", "vector": [1], "text": "old"},
                {"id": "b", "vector": [2]},
                {"id": "a", "vector": [3], "text": "new"},
            ]),
        )])
        .unwrap();
        assert_eq!(
            summary(&records),
            [("a", &[3.0][..], "new", "{}"), ("b", &[2.0][..], "", "{}")]
        );

        assert!(collect(&[("records", json!([]))]).unwrap().is_empty());
    }

    #[test]
    fn input_errors() {
        let code = |pairs: &[(&str, Value)]| {
            let e = collect(pairs).unwrap_err();
            assert!(!e.is_retryable(), "{e}");
            (e.code().to_owned(), e.message().to_owned())
        };
        let (c, m) = code(&[]);
        assert_eq!(c, "vector.no_input");
        assert!(m.contains("`records`"), "{m}");
        assert_eq!(code(&[("text", json!("t"))]).0, "vector.no_input");
        assert_eq!(
            code(&[("id", json!(null)), ("vector", json!(null))]).0,
            "vector.no_input"
        );
        let (c, m) = code(&[("id", json!("a")), ("records", json!([]))]);
        assert_eq!(c, "input.missing");
        assert!(m.contains("`vector`"), "{m}");
        assert_eq!(code(&[("vector", json!([1]))]).0, "input.missing");
        let (c, m) = code(&[("records", json!([{"id": "a"}]))]);
        assert_eq!(c, "input.type");
        assert!(m.contains("`records`") && m.contains("/0"), "{m}");
        let (c, m) = code(&[(
            "records",
            json!([{"id": "a", "vector": [1], "metadata": [1]}]),
        )]);
        assert_eq!(c, "input.type");
        assert!(m.contains("/0/metadata"), "{m}");
        let (c, m) = code(&[("records", json!([{"id": "", "vector": [1]}]))]);
        assert_eq!(c, "vector.id");
        assert!(m.contains("record 0"), "{m}");
        let (c, m) = code(&[("id", json!("a")), ("vector", json!([]))]);
        assert_eq!(c, "vector.value");
        assert!(m.contains("single record"), "{m}");
        let (c, m) = code(&[("records", json!([{"id": "a", "vector": [1, 1e300]}]))]);
        assert_eq!(c, "vector.value");
        assert!(m.contains("element 1"), "{m}");
        let (c, m) = code(&[(
            "records",
            json!([{"id": "a", "vector": [1, 2]}, {"id": "b", "vector": [1]}]),
        )]);
        assert_eq!(c, "vector.dimension");
        assert!(m.contains("`b`"), "{m}");
    }

    #[test]
    fn run() {
        let config = json!({"collection": "docs"});
        let run = testing::run::<Upsert>(config.clone(), &[("records", json!([]))]);
        assert_eq!(run.output("count"), Some(&json!(0)));
        let run = testing::run::<Upsert>(
            config.clone(),
            &[("id", json!("a")), ("vector", json!([1]))],
        );
        assert_eq!(run.error().unwrap().code(), "capability.denied");
        let run = testing::run::<Upsert>(config, &[]);
        assert_eq!(run.error().unwrap().code(), "vector.no_input");
    }
}
