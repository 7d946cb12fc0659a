//! `vector.upsert`: inserts or replaces records in a vector collection
//! (capability `vectors`).
//!
//! * Config: `{collection: string}` (1–64 letters, digits, `_` or `-`).
//! * Inputs (all optional), in three modes that may be combined:
//!   - a single record on `id: string`, `vector: embedding`, `text:
//!     string`, `metadata: object`;
//!   - parallel lists: `vectors: list<embedding>`, optional `texts:
//!     list<string>` (same length), and ids from either `ids: list<string>`
//!     (same length) or `id_prefix: string` (record `i` gets the id
//!     `{id_prefix}{i}`, 0-based). This is what an ingest flow (`text.split`
//!     → `llm.embed` → `vector.upsert`) wires without a map node;
//!   - a batch on `records: list<object{id: string, vector: embedding,
//!     text?: string, metadata?: object}>`.
//! * Output: `count: int`, the number of records written.
//!
//! `metadata` is the metadata of the single record **and of every record
//! of the lists** (e.g. `{doc_id: ...}` for all the chunks of a document);
//! `records` carry their own.
//!
//! At run time `records`, `vectors`, or both `id` and `vector` must be
//! live, else the node fails with the non-retryable `vector.no_input`; `id`
//! without `vector` (or the reverse) is `input.missing`, and so are
//! `vectors` without `ids` or `id_prefix` and `ids`, `id_prefix` or `texts`
//! without `vectors`. Both `ids` and `id_prefix` is `vector.ids`; lists of
//! different lengths are `vector.length`, naming both lengths. All records
//! are written in one capability call: the single record first, then the
//! lists, then `records`. A missing `text` is written as `""`, missing
//! `metadata` as `{}`; extra fields of a record are ignored. Within one
//! call a repeated `id` keeps the last record (at the first one's
//! position), as upserting them one by one would. Nothing to write (empty
//! lists, no single record) writes nothing and does not call the host.
//!
//! Every record needs a non-empty `id` (`vector.id`) and a non-empty vector
//! of finite numbers that fit an `f32` (`vector.value`), and all vectors of
//! a call must have the same length (`vector.dimension`); these errors are
//! non-retryable and name the record. A failed call is a `capability.<kind>`
//! error (`timeout` and `failed` are retryable; a missing collection is
//! `capability.not-found`).

use std::collections::HashMap;

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

/// Whether `port` has a live, non-`null` value.
fn live(inputs: &Inputs, port: &str) -> bool {
    inputs.value(port).is_some_and(|v| !v.is_null())
}

/// `input.missing` for `missing`, saying why it is needed.
fn missing(missing: &str, why: &str) -> NodeError {
    fatal(
        "input.missing",
        format!("input `{missing}` has no value: {why}"),
    )
}

/// The records of the parallel lists (`vectors`, `texts`, `ids` or
/// `id_prefix`), each with `metadata`; `None` when `vectors` is not live.
fn list_records(
    inputs: &mut Inputs,
    metadata: Option<&Map<String, Value>>,
) -> Result<Option<Vec<vectors::VectorRecord>>, NodeError> {
    let (has_ids, has_prefix) = (live(inputs, "ids"), live(inputs, "id_prefix"));
    if !live(inputs, "vectors") {
        return match ["ids", "id_prefix", "texts"]
            .into_iter()
            .find(|p| live(inputs, p))
        {
            Some(given) => Err(missing(
                "vectors",
                &format!("the list inputs need `vectors` (`{given}` is set)"),
            )),
            None => Ok(None),
        };
    }
    if has_ids && has_prefix {
        return Err(fatal(
            "vector.ids",
            "both `ids` and `id_prefix` are set: give the list records their ids one way"
                .to_owned(),
        ));
    }
    if !has_ids && !has_prefix {
        return Err(missing(
            "ids",
            "the records of `vectors` need ids from `ids` or `id_prefix`",
        ));
    }
    let vectors: Vec<Vec<f64>> = inputs.take("vectors")?;
    let texts: Option<Vec<String>> = inputs.opt("texts")?;
    let ids: Vec<String> = if has_ids {
        inputs.take("ids")?
    } else {
        let prefix: String = inputs.take("id_prefix")?;
        (0..vectors.len()).map(|i| format!("{prefix}{i}")).collect()
    };
    let same_length = |port: &str, len: usize| {
        if len == vectors.len() {
            Ok(())
        } else {
            Err(fatal(
                "vector.length",
                format!(
                    "`{port}` has {len} items but `vectors` has {}; the lists must have the \
                     same length",
                    vectors.len()
                ),
            ))
        }
    };
    same_length("ids", ids.len())?;
    if let Some(texts) = &texts {
        same_length("texts", texts.len())?;
    }
    let mut texts = texts.map(Vec::into_iter);
    let mut records = Vec::with_capacity(vectors.len());
    for (i, (id, vector)) in ids.into_iter().zip(vectors).enumerate() {
        let input = RecordIn {
            id,
            vector,
            text: texts.as_mut().and_then(Iterator::next),
            metadata: metadata.cloned(),
        };
        records.push(record(input, &format!("item {i} of `vectors`"))?);
    }
    Ok(Some(records))
}

/// The records to write, from the inputs, in call order: the single
/// record, the lists, then `records`.
fn collect_records(inputs: &mut Inputs) -> Result<Vec<vectors::VectorRecord>, NodeError> {
    let (has_id, has_vector) = (live(inputs, "id"), live(inputs, "vector"));
    let has_records = live(inputs, "records");
    if has_id != has_vector {
        let (absent, given) = if has_id {
            ("vector", "id")
        } else {
            ("id", "vector")
        };
        return Err(missing(
            absent,
            &format!("a single record needs both `id` and `vector` (`{given}` is set)"),
        ));
    }
    let metadata: Option<Map<String, Value>> = inputs.opt("metadata")?;
    let mut records = Vec::new();
    if has_id {
        let single = RecordIn {
            id: inputs.take("id")?,
            vector: inputs.take("vector")?,
            text: inputs.opt("text")?,
            metadata: metadata.clone(),
        };
        records.push(record(single, "the single record")?);
    }
    let lists = list_records(inputs, metadata.as_ref())?;
    if !has_id && !has_records && lists.is_none() {
        return Err(fatal(
            "vector.no_input",
            "vector.upsert needs a live `records` input, a live `vectors` list, or live `id` \
             and `vector` inputs"
                .to_owned(),
        ));
    }
    records.extend(lists.into_iter().flatten());
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
    let mut positions: HashMap<String, usize> = HashMap::with_capacity(records.len());
    for r in records {
        match positions.get(&r.id) {
            Some(&at) => unique[at] = r,
            None => {
                positions.insert(r.id.clone(), unique.len());
                unique.push(r);
            }
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
            .input(Port::new("metadata", "object").optional().description(
                "The metadata of the single record and of every record of the lists \
                         (default {})",
            ))
            .input(
                Port::new(
                    "records",
                    "list<object{id: string, vector: embedding, text?: string, metadata?: object}>",
                )
                .optional()
                .description("Records to write in one batch"),
            )
            .input(
                Port::new("vectors", "list<embedding>")
                    .optional()
                    .description("Vectors of records to write, with `ids` or `id_prefix`"),
            )
            .input(
                Port::new("texts", "list<string>")
                    .optional()
                    .description("The texts of the `vectors` records (same length)"),
            )
            .input(
                Port::new("ids", "list<string>")
                    .optional()
                    .description("The ids of the `vectors` records (same length)"),
            )
            .input(
                Port::new("id_prefix", "string")
                    .optional()
                    .description("Ids for the `vectors` records: `{id_prefix}{i}`, 0-based"),
            )
            .output(Port::new("count", "int").description("The number of records written"))
            .uses(Capability::Vectors, config.collection.clone()))
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

    fn ids(records: &[vectors::VectorRecord]) -> Vec<&str> {
        records.iter().map(|r| r.id.as_str()).collect()
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
                ("vectors", "list<embedding>", false),
                ("texts", "list<string>", false),
                ("ids", "list<string>", false),
                ("id_prefix", "string", false),
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
    fn parallel_lists() {
        // Ids from a prefix, texts, and `metadata` on every list record.
        let records = collect(&[
            ("vectors", json!([[1, 0], [0, 1], [1, 1]])),
            ("texts", json!(["zero", "one", "two"])),
            ("id_prefix", json!("doc-")),
            ("metadata", json!({"doc": "d"})),
        ])
        .unwrap();
        let meta = r#"{"doc":"d"}"#;
        assert_eq!(
            summary(&records),
            [
                ("doc-0", &[1.0, 0.0][..], "zero", meta),
                ("doc-1", &[0.0, 1.0][..], "one", meta),
                ("doc-2", &[1.0, 1.0][..], "two", meta),
            ]
        );

        // Explicit ids, no texts; an empty prefix gives bare indices.
        let records =
            collect(&[("vectors", json!([[1], [2]])), ("ids", json!(["a", "b"]))]).unwrap();
        assert_eq!(
            summary(&records),
            [("a", &[1.0][..], "", "{}"), ("b", &[2.0][..], "", "{}")]
        );
        let records = collect(&[("vectors", json!([[1], [2]])), ("id_prefix", json!(""))]).unwrap();
        assert_eq!(ids(&records), ["0", "1"]);

        // With the other modes: single, then lists, then `records`, in one
        // batch; `metadata` is not applied to `records`; a repeated id keeps
        // the last record.
        let records = collect(&[
            (
                "records",
                json!([{"id": "r", "vector": [3]}, {"id": "p0", "vector": [9]}]),
            ),
            ("id_prefix", json!("p")),
            ("vectors", json!([[1], [2]])),
            ("id", json!("s")),
            ("vector", json!([0.5])),
            ("metadata", json!({"m": 1})),
        ])
        .unwrap();
        assert_eq!(
            summary(&records),
            [
                ("s", &[0.5][..], "", r#"{"m":1}"#),
                ("p0", &[9.0][..], "", "{}"),
                ("p1", &[2.0][..], "", r#"{"m":1}"#),
                ("r", &[3.0][..], "", "{}"),
            ]
        );

        // Empty lists write nothing.
        assert!(
            collect(&[
                ("vectors", json!([])),
                ("texts", json!([])),
                ("id_prefix", json!("x"))
            ])
            .unwrap()
            .is_empty()
        );
        let run = testing::run::<Upsert>(
            json!({"collection": "docs"}),
            &[("vectors", json!([])), ("ids", json!([]))],
        );
        assert_eq!(run.output("count"), Some(&json!(0)));
    }

    #[test]
    fn parallel_list_errors() {
        let error = |pairs: &[(&str, Value)]| {
            let e = collect(pairs).unwrap_err();
            assert!(!e.is_retryable(), "{e}");
            (e.code().to_owned(), e.message().to_owned())
        };
        let (c, m) = error(&[
            ("vectors", json!([[1], [2], [3]])),
            ("texts", json!(["a", "b"])),
            ("id_prefix", json!("p")),
        ]);
        assert_eq!(c, "vector.length");
        assert!(
            m.contains("`texts` has 2 items") && m.contains("`vectors` has 3"),
            "{m}"
        );
        let (c, m) = error(&[("vectors", json!([[1], [2]])), ("ids", json!(["a"]))]);
        assert_eq!(c, "vector.length");
        assert!(
            m.contains("`ids` has 1 items") && m.contains("`vectors` has 2"),
            "{m}"
        );
        let (c, m) = error(&[
            ("vectors", json!([[1]])),
            ("ids", json!(["a"])),
            ("id_prefix", json!("p")),
        ]);
        assert_eq!(c, "vector.ids");
        assert!(m.contains("`ids`") && m.contains("`id_prefix`"), "{m}");
        let (c, m) = error(&[("vectors", json!([[1]])), ("texts", json!(["a"]))]);
        assert_eq!(c, "input.missing");
        assert!(m.contains("`ids`") && m.contains("`id_prefix`"), "{m}");
        for port in ["ids", "texts"] {
            let (c, m) = error(&[(port, json!(["a"]))]);
            assert_eq!(c, "input.missing", "{port}");
            assert!(
                m.contains("`vectors`") && m.contains(&format!("`{port}`")),
                "{m}"
            );
        }
        let (c, m) = error(&[("id_prefix", json!("p"))]);
        assert_eq!(c, "input.missing");
        assert!(m.contains("`vectors`"), "{m}");
        let (c, m) = error(&[("vectors", json!([[1], []])), ("id_prefix", json!("p"))]);
        assert_eq!(c, "vector.value");
        assert!(m.contains("item 1 of `vectors`"), "{m}");
        let (c, m) = error(&[("vectors", json!([[1], [1, 2]])), ("id_prefix", json!("p"))]);
        assert_eq!(c, "vector.dimension");
        assert!(m.contains("`p1`"), "{m}");
        let (c, m) = error(&[("vectors", json!([[1]])), ("ids", json!([""]))]);
        assert_eq!(c, "vector.id");
        assert!(m.contains("item 0 of `vectors`"), "{m}");
        let (c, m) = error(&[("vectors", json!([[1], "x"])), ("id_prefix", json!("p"))]);
        assert_eq!(c, "input.type");
        assert!(m.contains("`vectors`") && m.contains("/1"), "{m}");
        let (c, m) = error(&[("vectors", json!([[1]])), ("ids", json!("a"))]);
        assert_eq!(c, "input.type");
        assert!(m.contains("`ids`"), "{m}");
        // A list error with a valid single record still fails the whole call.
        let (c, _) = error(&[
            ("id", json!("a")),
            ("vector", json!([1])),
            ("vectors", json!([[1]])),
        ]);
        assert_eq!(c, "input.missing");
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
        assert!(m.contains("`records`") && m.contains("`vectors`"), "{m}");
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
