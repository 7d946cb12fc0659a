//! Tolerant parsing: turns a JSON value into a [`FlowDocument`], piece by
//! piece, so one malformed node or edge does not hide the problems in the
//! others. Every field that fails to deserialize becomes a `schema`
//! diagnostic with its JSON pointer; the parts that did parse are kept for
//! the semantic checks.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use weft_editor_protocol::flow::{
    Capabilities, EdgeDecl, FlowDocument, FlowSettings, InputDecl, NodeDecl, Policy, RetryPolicy,
};
use weft_editor_protocol::{Diagnostic, DiagnosticCode};

use super::locate::escape;
use super::triggers::{TriggerSource, parse_triggers};

/// A document with the parts that parsed, and where each came from.
#[derive(Debug)]
pub struct Parsed {
    pub doc: FlowDocument,
    /// For each node in `doc.nodes`, its index in the source array.
    pub node_index: Vec<usize>,
    /// For each edge in `doc.edges`, its index in the source array.
    pub edge_index: Vec<usize>,
    /// Ids of nodes that are in the source but did not parse: references to
    /// them are not reported again as unknown.
    pub broken_ids: HashSet<String>,
    /// Whether `name` was present and a string (if not, it was reported).
    pub name_ok: bool,
    /// Whether the `inputs` section parsed entirely (if not, references to
    /// unknown inputs are not reported).
    pub inputs_complete: bool,
    /// For each trigger in `doc.triggers`, where it came from.
    pub triggers: Vec<TriggerSource>,
}

const TOP_FIELDS: &[&str] = &[
    "weft",
    "name",
    "description",
    "inputs",
    "nodes",
    "edges",
    "outputs",
    "triggers",
    "capabilities",
    "settings",
    "ui",
];

pub(super) fn schema_error(pointer: String, message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(DiagnosticCode::Schema, pointer, message)
}

/// Deserializes `value` as `T`; on failure, a diagnostic whose pointer is
/// `base` plus the path serde reached.
fn parse_at<T: DeserializeOwned>(value: &Value, base: &str) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut pointer = base.to_string();
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&escape(key));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        schema_error(pointer, humanize(&e.into_inner().to_string()))
    })
}

/// Serde speaks Rust ("expected u32", "a sequence"); users read JSON.
fn humanize(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, json) in [
        ("u8", "a non-negative integer"),
        ("u16", "a non-negative integer"),
        ("u32", "a non-negative integer"),
        ("u64", "a non-negative integer"),
        ("i64", "an integer"),
        ("f64", "a number"),
        ("a sequence", "a list"),
        ("a map", "an object"),
        ("a boolean", "true or false"),
    ] {
        m = m.replace(&format!("expected {rust}"), &format!("expected {json}"));
    }
    m.replace("invalid type: ", "found ")
        .replace("invalid value: ", "found ")
        .replace("found sequence", "found a list")
        .replace("found map", "found an object")
}

pub fn parse(value: &Value, diags: &mut Vec<Diagnostic>) -> Option<Parsed> {
    let Some(top) = value.as_object() else {
        diags.push(schema_error(
            String::new(),
            format!(
                "a flow document must be a JSON object, found {}",
                weft_editor_protocol::types::json_kind(value)
            ),
        ));
        return None;
    };

    for key in top.keys() {
        if !TOP_FIELDS.contains(&key.as_str()) {
            let hint = closest(key, TOP_FIELDS)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            diags.push(schema_error(
                format!("/{}", escape(key)),
                format!("unknown field `{key}`{hint}"),
            ));
        }
    }

    let weft =
        required::<u32>(top, "weft", diags).unwrap_or(weft_editor_protocol::flow::FORMAT_VERSION);
    let name = required::<String>(top, "name", diags);
    let name_ok = name.is_some();
    let name = name.unwrap_or_default();
    let description = optional::<String>(top, "description", diags);
    let capabilities = optional::<Capabilities>(top, "capabilities", diags).unwrap_or_default();
    let settings = optional::<FlowSettings>(top, "settings", diags);
    let ui = top.get("ui").cloned();

    let mut inputs = IndexMap::new();
    let mut inputs_complete = true;
    if let Some(v) = top.get("inputs") {
        match v.as_object() {
            Some(map) => {
                for (k, v) in map {
                    match parse_at::<InputDecl>(v, &format!("/inputs/{}", escape(k))) {
                        Ok(decl) => {
                            inputs.insert(k.clone(), decl);
                        }
                        Err(d) => {
                            inputs_complete = false;
                            diags.push(d)
                        }
                    }
                }
            }
            None => {
                inputs_complete = false;
                diags.push(not_a("/inputs", "an object", v));
            }
        }
    }

    let mut outputs = IndexMap::new();
    if let Some(v) = top.get("outputs") {
        match v.as_object() {
            Some(map) => {
                for (k, v) in map {
                    match v.as_str() {
                        Some(s) => {
                            outputs.insert(k.clone(), s.to_string());
                        }
                        None => diags.push(not_a(
                            &format!("/outputs/{}", escape(k)),
                            "a `node.port` string",
                            v,
                        )),
                    }
                }
            }
            None => diags.push(not_a("/outputs", "an object", v)),
        }
    }

    let mut nodes = Vec::new();
    let mut node_index = Vec::new();
    let mut broken_ids = HashSet::new();
    for (i, item) in array(top, "nodes", diags).iter().enumerate() {
        match parse_node(item, &format!("/nodes/{i}"), diags) {
            Some(node) => {
                nodes.push(node);
                node_index.push(i);
            }
            None => {
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    broken_ids.insert(id.to_string());
                }
            }
        }
    }

    let mut edges = Vec::new();
    let mut edge_index = Vec::new();
    for (i, item) in array(top, "edges", diags).iter().enumerate() {
        match parse_at::<EdgeDecl>(item, &format!("/edges/{i}")) {
            Ok(edge) => {
                edges.push(edge);
                edge_index.push(i);
            }
            Err(d) => diags.push(d),
        }
    }

    let (triggers, trigger_sources) = parse_triggers(top, diags);

    Some(Parsed {
        doc: FlowDocument {
            weft,
            name,
            description,
            inputs,
            nodes,
            edges,
            outputs,
            triggers,
            capabilities,
            settings,
            ui,
        },
        node_index,
        edge_index,
        broken_ids,
        name_ok,
        inputs_complete,
        triggers: trigger_sources,
    })
}

/// Reads an object field by field, so that every problem in it is
/// reported (serde stops at the first), each tagged with the node.
pub(super) struct Fields<'a> {
    obj: &'a Map<String, Value>,
    base: &'a str,
    node: Option<&'a str>,
    ok: bool,
}

impl<'a> Fields<'a> {
    pub(super) fn new(
        value: &'a Value,
        base: &'a str,
        node: Option<&'a str>,
        allowed: &[&str],
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Fields<'a>> {
        let Some(obj) = value.as_object() else {
            diags.push(tag(not_a(base, "an object", value), node));
            return None;
        };
        let mut ok = true;
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                ok = false;
                let hint = closest(key, allowed)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_else(|| format!(" (expected one of: {})", allowed.join(", ")));
                diags.push(tag(
                    schema_error(
                        format!("{base}/{}", escape(key)),
                        format!("unknown field `{key}`{hint}"),
                    ),
                    node,
                ));
            }
        }
        Some(Fields {
            obj,
            base,
            node,
            ok,
        })
    }

    /// `Some(value)` when present and well-formed; `None` when absent or
    /// reported.
    pub(super) fn get<T: DeserializeOwned>(
        &mut self,
        key: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        let v = self.obj.get(key)?;
        match parse_at(v, &format!("{}/{key}", self.base)) {
            Ok(t) => Some(t),
            Err(d) => {
                self.ok = false;
                diags.push(tag(d, self.node));
                None
            }
        }
    }

    pub(super) fn require<T: DeserializeOwned>(
        &mut self,
        key: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        if !self.obj.contains_key(key) {
            self.ok = false;
            diags.push(tag(
                schema_error(self.base.to_string(), format!("missing field `{key}`")),
                self.node,
            ));
            return None;
        }
        self.get(key, diags)
    }
}

fn tag(d: Diagnostic, node: Option<&str>) -> Diagnostic {
    match node {
        Some(n) => d.node(n),
        None => d,
    }
}

fn parse_node(item: &Value, base: &str, diags: &mut Vec<Diagnostic>) -> Option<NodeDecl> {
    let id = item.get("id").and_then(Value::as_str);
    let mut f = Fields::new(
        item,
        base,
        id,
        &["id", "type", "config", "policy", "ui"],
        diags,
    )?;
    let id: Option<String> = f.require("id", diags);
    let node_type: Option<String> = f.require("type", diags);
    let config: Option<Value> = f.get("config", diags);
    let ui: Option<Value> = f.get("ui", diags);
    let policy = match item.get("policy") {
        Some(p) => {
            let parsed = parse_policy(p, &format!("{base}/policy"), id.as_deref(), diags);
            f.ok &= parsed.is_some();
            parsed
        }
        None => None,
    };
    if !f.ok {
        return None;
    }
    Some(NodeDecl {
        id: id?,
        node_type: node_type?,
        config,
        policy,
        ui,
    })
}

fn parse_policy(
    value: &Value,
    base: &str,
    node: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Policy> {
    let mut f = Fields::new(
        value,
        base,
        node,
        &["timeout_ms", "retry", "on_error", "memory_mib"],
        diags,
    )?;
    let timeout_ms = f.get("timeout_ms", diags);
    let on_error = f.get("on_error", diags);
    let memory_mib = f.get("memory_mib", diags);
    let retry = match value.get("retry") {
        Some(r) => {
            let retry_base = format!("{base}/retry");
            let mut rf = Fields::new(
                r,
                &retry_base,
                node,
                &["max_attempts", "backoff_ms", "multiplier"],
                diags,
            );
            let parsed = rf.as_mut().and_then(|rf| {
                let max_attempts = rf.require("max_attempts", diags);
                let backoff_ms = rf.get("backoff_ms", diags);
                let multiplier = rf.get("multiplier", diags);
                Some(RetryPolicy {
                    max_attempts: max_attempts?,
                    backoff_ms: backoff_ms.unwrap_or(RetryPolicy::DEFAULT_BACKOFF_MS),
                    multiplier: multiplier.unwrap_or(RetryPolicy::DEFAULT_MULTIPLIER),
                })
            });
            f.ok &= rf.is_some_and(|rf| rf.ok) && parsed.is_some();
            parsed
        }
        None => None,
    };
    if !f.ok {
        return None;
    }
    Some(Policy {
        timeout_ms,
        retry,
        on_error: on_error.unwrap_or_default(),
        memory_mib,
    })
}

pub(super) fn not_a(pointer: &str, what: &str, v: &Value) -> Diagnostic {
    schema_error(
        pointer.to_string(),
        format!(
            "expected {what}, found {}",
            weft_editor_protocol::types::json_kind(v)
        ),
    )
}

fn required<T: DeserializeOwned>(
    top: &Map<String, Value>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    match top.get(key) {
        None => {
            diags.push(schema_error(
                String::new(),
                format!("missing field `{key}`"),
            ));
            None
        }
        Some(v) => parse_at(v, &format!("/{key}"))
            .map_err(|d| diags.push(d))
            .ok(),
    }
}

fn optional<T: DeserializeOwned>(
    top: &Map<String, Value>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let v = top.get(key)?;
    parse_at(v, &format!("/{key}"))
        .map_err(|d| diags.push(d))
        .ok()
}

pub(super) fn array<'a>(
    top: &'a Map<String, Value>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> &'a [Value] {
    match top.get(key) {
        None => &[],
        Some(Value::Array(items)) => items,
        Some(v) => {
            diags.push(not_a(&format!("/{key}"), "a list", v));
            &[]
        }
    }
}

/// The closest candidate within a small edit distance.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a &'a str>,
) -> Option<&'a str> {
    // Ties go to the alphabetically first candidate, so hints do not
    // depend on hash order.
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(c, word), *c))
        .filter(|(d, c)| *d <= 1.max(c.chars().count() / 3))
        .min()
        .map(|(_, c)| c)
}
