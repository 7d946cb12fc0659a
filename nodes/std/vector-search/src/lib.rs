//! `vector.search`: the records of a vector collection nearest to a vector
//! (capability `vectors`).
//!
//! * Config: `{collection: string (1–64 letters, digits, `_` or `-`),
//!   top_k?: int (1..=1000, default 5), min_score?: number, filter?: object
//!   (metadata field → string, number or bool)}`.
//! * Inputs: `vector: embedding` (required), `filter: object` (optional).
//! * Outputs: `matches: list<object{id: string, score: number, text: string,
//!   metadata: object}>` (best first, as the host returns them), `count:
//!   int`.
//!
//! A match's metadata must equal every field of the filter. The `filter`
//! input is merged over the configured filter: its fields replace configured
//! ones of the same name, and a `null` removes one. A filter value that is a
//! list or an object is a config problem (config) or the non-retryable
//! `vector.filter` (input). `min_score` drops matches scoring lower (the
//! score's meaning — e.g. cosine similarity — is the store's).
//!
//! The query vector must be non-empty and hold finite numbers that fit an
//! `f32` (non-retryable `vector.value`). Metadata the host returns that is
//! not a JSON object becomes `{}` (with a `warn` log line unless it was
//! `null`); a match with a non-finite score is dropped, with a `warn` log
//! line. A failed call is a `capability.<kind>` error (`timeout` and
//! `failed` are retryable; a missing collection is `capability.not-found`).

use weft_node_sdk::capabilities::vectors;
use weft_node_sdk::json::{compact, kind_of, pointer_of};
use weft_node_sdk::prelude::*;
use weft_node_sdk::schemars::{Schema, SchemaGenerator, json_schema};
use weft_node_sdk::serde_json::{self, Map, Number};

/// `vector.search`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The collection to search: 1–64 letters, digits, `_` or `-`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub collection: String,
    /// How many matches to return at most, 1 to 1000 (default 5).
    #[serde(default = "default_top_k")]
    #[schemars(range(min = 1, max = 1000))]
    pub top_k: u32,
    /// Drop matches scoring lower than this.
    #[serde(default)]
    pub min_score: Option<f64>,
    /// Metadata fields a match must equal (field → string, number or bool);
    /// the `filter` input is merged over it.
    #[serde(default)]
    #[schemars(schema_with = "filter_schema")]
    pub filter: Map<String, Value>,
}

fn default_top_k() -> u32 {
    5
}

fn filter_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    })
}

/// Whether `name` is a valid collection name: `[A-Za-z0-9_-]{1,64}`.
fn is_collection_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn check(config: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if !is_collection_name(&config.collection) {
        problems.push(ConfigProblem::field(
            "collection",
            format!(
                "`{}` is not a valid collection name (1-64 letters, digits, `_` or `-`)",
                config.collection
            ),
        ));
    }
    if !(1..=1000).contains(&config.top_k) {
        problems.push(ConfigProblem::field(
            "top_k",
            format!("must be between 1 and 1000, got {}", config.top_k),
        ));
    }
    for (key, value) in &config.filter {
        if !is_scalar(value) {
            problems.push(ConfigProblem::new(
                pointer_of(["filter", key]),
                format!(
                    "filter values must be strings, numbers or bools; `{key}` is {}",
                    kind_of(value)
                ),
            ));
        }
    }
    problems
}

fn fatal(code: &str, message: String) -> NodeError {
    NodeError::new(code, message).fatal()
}

/// Builds the search request from the config and the (decoded) inputs.
fn build_request(
    config: &Config,
    vector: Vec<f64>,
    filter: Option<Map<String, Value>>,
) -> Result<vectors::SearchRequest, NodeError> {
    if vector.is_empty() {
        return Err(fatal("vector.value", "input `vector` is empty".to_owned()));
    }
    let mut query = Vec::with_capacity(vector.len());
    for (i, x) in vector.into_iter().enumerate() {
        let y = x as f32;
        if !y.is_finite() {
            return Err(fatal(
                "vector.value",
                format!("input `vector`: element {i} ({x}) is not a finite 32-bit number"),
            ));
        }
        query.push(y);
    }
    let mut merged = config.filter.clone();
    for (key, value) in filter.unwrap_or_default() {
        if value.is_null() {
            merged.remove(&key);
        } else if is_scalar(&value) {
            merged.insert(key, value);
        } else {
            return Err(fatal(
                "vector.filter",
                format!(
                    "input `filter`: values must be strings, numbers or bools (or null to \
                     remove a configured field); `{key}` is {}",
                    kind_of(&value)
                ),
            ));
        }
    }
    Ok(vectors::SearchRequest {
        collection: config.collection.clone(),
        vector: query,
        top_k: config.top_k,
        filter: compact(&Value::Object(merged)),
        min_score: config.min_score.map(|s| s as f32),
    })
}

/// An `f32` as a JSON number with its shortest decimal form (`0.8`, not
/// `0.800000011920929`); `None` when not finite.
fn number(x: f32) -> Option<Value> {
    if !x.is_finite() {
        return None;
    }
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Maps the host's matches to the outputs; `log` receives the log lines.
fn map_matches(found: Vec<vectors::Match>, log: &mut dyn FnMut(LogLevel, String)) -> Outputs {
    let mut matches = Vec::with_capacity(found.len());
    for m in found {
        let Some(score) = number(m.score) else {
            log(
                LogLevel::Warn,
                format!("match `{}` has a non-finite score; dropped", m.id),
            );
            continue;
        };
        let metadata = match serde_json::from_str::<Value>(&m.metadata) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(Value::Null) => Value::Object(Map::new()),
            Ok(other) => {
                log(
                    LogLevel::Warn,
                    format!(
                        "the metadata of match `{}` is {}, not an object; output as {{}}",
                        m.id,
                        kind_of(&other)
                    ),
                );
                Value::Object(Map::new())
            }
            Err(e) => {
                log(
                    LogLevel::Warn,
                    format!(
                        "the metadata of match `{}` is not valid JSON ({e}); output as {{}}",
                        m.id
                    ),
                );
                Value::Object(Map::new())
            }
        };
        matches.push(json!({"id": m.id, "score": score, "text": m.text, "metadata": metadata}));
    }
    Outputs::new()
        .set("count", matches.len())
        .set_value("matches", Value::Array(matches))
}

/// The `vector.search` node.
#[derive(Debug)]
pub struct Search;

impl Node for Search {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "vector.search",
        version: "1.0.0",
        summary: "Finds the records of a vector collection nearest to a vector, optionally \
                  filtered by metadata",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let problems = check(config);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Spec::new()
            .input(Port::new("vector", "embedding").description("The query vector"))
            .input(Port::new("filter", "object").optional().description(
                "Metadata fields a match must equal, merged over the configured filter \
                 (null removes a field)",
            ))
            .output(
                Port::new(
                    "matches",
                    "list<object{id: string, score: number, text: string, metadata: object}>",
                )
                .description("The nearest records, best first"),
            )
            .output(Port::new("count", "int").description("The number of matches"))
            .uses(Capability::Vectors, config.collection.clone()))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        if let Some(problem) = check(&ctx.config).into_iter().next() {
            return Err(problem.into());
        }
        let vector: Vec<f64> = inputs.take("vector")?;
        let filter = inputs.opt::<Map<String, Value>>("filter")?;
        let request = build_request(&ctx.config, vector, filter)?;
        ctx.log_debug(format!(
            "searching `{}` (top {}, filter {})",
            request.collection, request.top_k, request.filter
        ));
        let found = ctx.vectors_search(&request)?;
        Ok(map_matches(found, &mut |level, message| {
            ctx.log(level, message)
        }))
    }
}

weft_node_sdk::export_node!(Search);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn config(value: Value) -> Config {
        serde_json::from_value(value).unwrap()
    }

    fn found(id: &str, score: f32, metadata: &str) -> vectors::Match {
        vectors::Match {
            id: id.into(),
            score,
            text: format!("text of {id}"),
            metadata: metadata.into(),
        }
    }

    #[test]
    fn describes_ports() {
        let spec = testing::describe::<Search>(json!({"collection": "docs"})).unwrap();
        let inputs: Vec<_> = spec
            .inputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.required))
            .collect();
        assert_eq!(
            inputs,
            [("vector", "embedding", true), ("filter", "object", false)]
        );
        let outputs: Vec<_> = spec
            .outputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str()))
            .collect();
        assert_eq!(
            outputs,
            [
                (
                    "matches",
                    "list<object{id: string, score: number, text: string, metadata: object}>"
                ),
                ("count", "int")
            ]
        );
        for port in &spec.outputs {
            port.ty
                .parse::<weft_node_sdk::types::Type>()
                .unwrap_or_else(|e| panic!("{}: {e}", port.ty));
        }
        assert_eq!(spec.capabilities, [Capability::Vectors]);
    }

    #[test]
    fn config_problems() {
        let problems = testing::describe::<Search>(json!({
            "collection": "no spaces",
            "top_k": 1001,
            "filter": {"ok": "x", "n": 1, "b": false, "list": [1], "obj": {}, "nil": null},
        }))
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/collection",
                "/top_k",
                "/filter/list",
                "/filter/obj",
                "/filter/nil"
            ]
        );
        assert!(problems[2].message.contains("a list"), "{problems:?}");
        let problem = |c: Value| testing::describe::<Search>(c).unwrap_err()[0].path.clone();
        assert_eq!(problem(json!({"collection": "a", "top_k": 0})), "/top_k");
        assert_eq!(problem(json!({"collection": "a", "top_k": -1})), "/top_k");
        assert_eq!(problem(json!({"collection": "a", "k": 1})), "/k");
        assert_eq!(problem(json!({"collection": "a", "filter": []})), "/filter");
        let schema = testing::config_schema::<Search>();
        assert_eq!(schema["properties"]["top_k"]["default"], 5);
        assert_eq!(schema["properties"]["top_k"]["maximum"], 1000);
        assert_eq!(
            schema["properties"]["filter"]["additionalProperties"]["type"],
            json!(["string", "number", "boolean"])
        );
        assert!(
            schema["properties"]["filter"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("Metadata")),
            "{schema}"
        );
    }

    #[test]
    fn builds_requests() {
        let c = config(json!({"collection": "docs", "top_k": 3, "min_score": 0.5,
                              "filter": {"lang": "en", "year": 2024, "draft": false}}));
        let request = build_request(
            &c,
            vec![0.25, -1.0],
            Some(
                json!({"lang": "fr", "draft": null, "topic": "x"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .unwrap();
        assert_eq!(request.collection, "docs");
        assert_eq!(request.vector, [0.25, -1.0]);
        assert_eq!(request.top_k, 3);
        assert_eq!(request.min_score, Some(0.5));
        assert_eq!(request.filter, r#"{"lang":"fr","year":2024,"topic":"x"}"#);

        let c = config(json!({"collection": "docs"}));
        let request = build_request(&c, vec![1.0], None).unwrap();
        assert_eq!(request.top_k, 5);
        assert_eq!(request.filter, "{}");
        assert_eq!(request.min_score, None);

        let e = build_request(&c, vec![], None).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("vector.value", false));
        let e = build_request(&c, vec![1.0, f64::MAX], None).unwrap_err();
        assert_eq!(e.code(), "vector.value");
        assert!(e.message().contains("element 1"), "{e}");
        let e = build_request(
            &c,
            vec![1.0],
            Some(json!({"tags": ["a"]}).as_object().unwrap().clone()),
        )
        .unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("vector.filter", false));
        assert!(e.message().contains("`tags`"), "{e}");
    }

    #[test]
    fn maps_matches() {
        let mut logs = Vec::new();
        let outputs = map_matches(
            vec![
                found("a", 0.9, r#"{"lang": "en"}"#),
                found("b", 0.8, "null"),
                found("c", f32::NAN, "{}"),
                found("d", 0.7, "[1]"),
                found("e", 0.6, "{oops"),
            ],
            &mut |level, message| logs.push((level, message)),
        );
        assert_eq!(
            outputs.get("matches"),
            Some(&json!([
                {"id": "a", "score": 0.9, "text": "text of a", "metadata": {"lang": "en"}},
                {"id": "b", "score": 0.8, "text": "text of b", "metadata": {}},
                {"id": "d", "score": 0.7, "text": "text of d", "metadata": {}},
                {"id": "e", "score": 0.6, "text": "text of e", "metadata": {}},
            ]))
        );
        assert_eq!(outputs.get("count"), Some(&json!(4)));
        assert_eq!(logs.len(), 3, "{logs:?}");
        assert!(logs.iter().all(|(l, _)| *l == LogLevel::Warn));

        let outputs = map_matches(Vec::new(), &mut |_, _| {});
        assert_eq!(outputs.get("matches"), Some(&json!([])));
        assert_eq!(outputs.get("count"), Some(&json!(0)));
    }

    #[test]
    fn run_validates_inputs() {
        let c = json!({"collection": "docs"});
        let run = testing::run::<Search>(c.clone(), &[]);
        assert_eq!(run.error().unwrap().code(), "input.missing");
        let run = testing::run::<Search>(c.clone(), &[("vector", json!(["x"]))]);
        assert_eq!(run.error().unwrap().code(), "input.type");
        let run = testing::run::<Search>(
            c.clone(),
            &[("vector", json!([1])), ("filter", json!({"a": {}}))],
        );
        assert_eq!(run.error().unwrap().code(), "vector.filter");
        let run = testing::run::<Search>(c, &[("vector", json!([1]))]);
        assert_eq!(run.error().unwrap().code(), "capability.denied");
    }
}
