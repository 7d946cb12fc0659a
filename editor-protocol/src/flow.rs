//! The flow document: what a user (or an editor) writes and saves.
//!
//! A flow is a JSON file. Every field is documented on the struct below;
//! unknown fields anywhere are rejected, with their path. `docs/flow-format.md`
//! at the repository root is the narrative version of this module.
//!
//! ```json
//! {
//!   "weft": 1,
//!   "name": "hello",
//!   "inputs":  { "name": "string" },
//!   "nodes": [
//!     { "id": "greet", "type": "text.template", "config": { "template": "Hello {{ name }}!" } },
//!     { "id": "shout", "type": "text.upper" }
//!   ],
//!   "edges": [
//!     { "from": "input.name", "to": "greet.name" },
//!     { "from": "greet.text", "to": "shout.text" }
//!   ],
//!   "outputs": { "greeting": "shout.text" }
//! }
//! ```

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::trigger::Trigger;
use crate::types::PortType;

/// The version of the flow format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The reserved node id that names the flow's own inputs in edges
/// (`input.name`) and outputs.
pub const INPUT_NODE: &str = "input";

/// The implicit output port that carries a node's error when its policy is
/// `on_error: continue`.
pub const ERROR_PORT: &str = "error";

/// A flow document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowDocument {
    /// The format version; must be `1`.
    pub weft: u32,
    /// A short name, unique within a project (`[a-z0-9][a-z0-9_-]*` is
    /// recommended; the router uses it in URLs).
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The flow's inputs, by name. Edges read them as `input.NAME`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, InputDecl>,
    /// The nodes, in any order (the order is only used for display).
    #[serde(default)]
    pub nodes: Vec<NodeDecl>,
    /// Connections from an output port (or a flow input) to an input port.
    #[serde(default)]
    pub edges: Vec<EdgeDecl>,
    /// The flow's outputs: a name for each, and the `node.port[.path]` (or
    /// `input.NAME[.path]`) it takes its value from. An output whose source
    /// is dead (a skipped branch) is left out of the result.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, String>,
    /// How the flow is started from outside once published: HTTP routes.
    /// Default: none (the flow runs through the API, the CLI or an editor
    /// only). Omitted when empty, so documents without triggers serialize
    /// (and hash) as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// What the flow's nodes may reach outside the sandbox. Default: nothing.
    #[serde(default, skip_serializing_if = "Capabilities::is_empty")]
    pub capabilities: Capabilities,
    /// Limits and defaults for the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<FlowSettings>,
    /// Anything an editor wants to keep with the flow (canvas position,
    /// zoom, ...). Opaque to the runtime; not validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<Value>,
}

/// A flow input: either just a type (`"name": "string"`) or a full
/// declaration.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum InputDecl {
    /// Shorthand: a required input of this type.
    Type(PortType),
    /// The full form.
    Full(InputSpec),
}

/// The full form of a flow input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type")]
    pub ty: PortType,
    /// Whether a run must supply it. Default: `true`, unless a `default` is
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// The value used when a run does not supply one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl<'de> Deserialize<'de> for InputDecl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = InputDecl;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a type such as \"string\", or an object {\"type\": ..., \"default\": ...}",
                )
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<InputDecl, E> {
                s.parse().map(InputDecl::Type).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<InputDecl, A::Error> {
                InputSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(InputDecl::Full)
            }
        }
        d.deserialize_any(V)
    }
}

impl InputDecl {
    pub fn ty(&self) -> &PortType {
        match self {
            InputDecl::Type(t) => t,
            InputDecl::Full(s) => &s.ty,
        }
    }

    pub fn default_value(&self) -> Option<&Value> {
        match self {
            InputDecl::Type(_) => None,
            InputDecl::Full(s) => s.default.as_ref(),
        }
    }

    pub fn is_required(&self) -> bool {
        match self {
            InputDecl::Type(_) => true,
            InputDecl::Full(s) => s.required.unwrap_or(s.default.is_none()),
        }
    }
}

/// A node in the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeDecl {
    /// Unique within the flow: `[A-Za-z_][A-Za-z0-9_-]*`, and not `input`.
    pub id: String,
    /// The node type, `category.name`, optionally pinned to a version:
    /// `text.template`, `text.template@1`, `text.template@1.2.0`.
    #[serde(rename = "type")]
    pub node_type: String,
    /// The node's configuration, checked against the node's own schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Timeouts, retries and error handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Opaque editor data (position, label, colour). Not validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<Value>,
}

/// How a node is run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Deadline for one attempt, in milliseconds. Default: the flow's
    /// `settings.node_timeout_ms`, else 30 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries after a failed attempt. Default: no retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// What a failure (after the last attempt) does to the run.
    #[serde(default)]
    pub on_error: OnError,
    /// Memory cap for the node's sandbox, in MiB. Default: the host's cap
    /// (64 MiB unless configured); cannot exceed the host's maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
}

/// Retries with exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1..=10).
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds. Default 100.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Each further wait is the previous one times this (1.0..=10.0). Default 2.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
}

impl RetryPolicy {
    /// `backoff_ms` when not given.
    pub const DEFAULT_BACKOFF_MS: u64 = 100;
    /// `multiplier` when not given.
    pub const DEFAULT_MULTIPLIER: f64 = 2.0;
}

fn default_backoff_ms() -> u64 {
    RetryPolicy::DEFAULT_BACKOFF_MS
}

fn default_multiplier() -> f64 {
    RetryPolicy::DEFAULT_MULTIPLIER
}

/// What happens when a node fails for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The run fails (the default).
    #[default]
    Fail,
    /// The run goes on: the node's `error` output carries
    /// `{node, code, message}`, and its other outputs are dead.
    Continue,
}

/// An edge: `from` an output port (or a flow input), `to` an input port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeDecl {
    /// `node.port` or `input.NAME`, optionally continuing into the value:
    /// `input.body.user.id`, `fetch.body.items.0`.
    pub from: String,
    /// `node.port`.
    pub to: String,
}

/// Run-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// How many nodes of one run may execute at once. Default 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Default per-attempt node deadline, in milliseconds. Default 30 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_timeout_ms: Option<u64>,
    /// Deadline for the whole run, in milliseconds. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
}

/// What a flow grants its nodes. Everything is denied unless listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Outbound HTTP: allowed targets as `scheme://host[:port]` patterns;
    /// `*` matches one or more leading labels (`https://*.example.com`) or
    /// any port (`http://localhost:*`). Loopback, private and metadata
    /// addresses are refused unless a pattern names them explicitly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// LLM providers (names from the host configuration) the flow may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm: Vec<String>,
    /// Embedding providers the flow may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embeddings: Vec<String>,
    /// Vector collections the flow may read and write (`*` for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vectors: Vec<String>,
    /// Secret names the flow may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

impl Capabilities {
    pub fn is_empty(&self) -> bool {
        self.http.is_empty()
            && self.llm.is_empty()
            && self.embeddings.is_empty()
            && self.vectors.is_empty()
            && self.secrets.is_empty()
    }

    /// Whether anything at all is granted for this capability.
    pub fn grants(&self, capability: crate::spec::Capability) -> bool {
        !self.list(capability).is_empty()
    }

    /// The grants of one capability, as written.
    pub fn list(&self, capability: crate::spec::Capability) -> &[String] {
        use crate::spec::Capability::*;
        match capability {
            Http => &self.http,
            Llm => &self.llm,
            Embeddings => &self.embeddings,
            Vectors => &self.vectors,
            Secrets => &self.secrets,
        }
    }

    /// Whether `name` (a provider, collection or secret) is granted: listed
    /// as is, or `*` is. HTTP grants are patterns over URLs, matched by
    /// the host when a request is made; for `http` this only says whether
    /// any pattern is granted.
    pub fn grants_name(&self, capability: crate::spec::Capability, name: &str) -> bool {
        let list = self.list(capability);
        match capability {
            crate::spec::Capability::Http => !list.is_empty(),
            _ => list.iter().any(|g| g == name || g == "*"),
        }
    }
}

/// A parsed `node.port[.path…]` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortRef {
    pub node: String,
    pub port: String,
    /// Keys and list indices to follow into the port's value.
    pub path: Vec<String>,
}

impl PortRef {
    /// Parses `node.port` followed by any number of `.segment`s. Segments
    /// are separated by dots; a segment may not be empty.
    pub fn parse(s: &str) -> Result<PortRef, String> {
        let mut parts = s.split('.');
        let node = parts.next().unwrap_or_default();
        let Some(port) = parts.next() else {
            return Err(format!(
                "`{s}` is not a port reference: expected `node.port` (or `input.NAME`)"
            ));
        };
        if node.is_empty() || port.is_empty() {
            return Err(format!(
                "`{s}` is not a port reference: node and port must not be empty"
            ));
        }
        let path: Vec<String> = parts.map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("`{s}` has an empty path segment"));
        }
        Ok(PortRef {
            node: node.to_string(),
            port: port.to_string(),
            path,
        })
    }

    /// Whether this names a flow input rather than a node's output.
    pub fn is_flow_input(&self) -> bool {
        self.node == INPUT_NODE
    }
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.port)?;
        for seg in &self.path {
            write!(f, ".{seg}")?;
        }
        Ok(())
    }
}

/// A node type reference: `category.name` with an optional `@version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeTypeRef {
    pub name: String,
    /// A version prefix (`1`, `1.2`, `1.2.0`), matched component-wise.
    pub version: Option<String>,
}

impl NodeTypeRef {
    pub fn parse(s: &str) -> Result<NodeTypeRef, String> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let valid_segment = |seg: &str| {
            let mut chars = seg.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        let segments: Vec<&str> = name.split('.').collect();
        if segments.len() < 2 || !segments.iter().all(|s| valid_segment(s)) {
            return Err(format!(
                "`{s}` is not a node type: expected `category.name` in lower case, e.g. `text.template`"
            ));
        }
        if let Some(v) = version {
            let ok = !v.is_empty()
                && v.split('.').count() <= 3
                && v.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!(
                    "`{s}` has an invalid version: expected `@MAJOR`, `@MAJOR.MINOR` or `@MAJOR.MINOR.PATCH`"
                ));
            }
        }
        Ok(NodeTypeRef {
            name: name.to_string(),
            version: version.map(str::to_string),
        })
    }

    /// Whether a concrete version (`1.2.0`) satisfies this reference.
    pub fn matches_version(&self, version: &str) -> bool {
        match &self.version {
            None => true,
            Some(want) => {
                let have: Vec<&str> = version.split('.').collect();
                want.split('.')
                    .enumerate()
                    .all(|(i, w)| have.get(i).is_some_and(|h| h == &w))
            }
        }
    }
}

impl fmt::Display for NodeTypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses() {
        let doc: FlowDocument = serde_json::from_str(
            r#"{
              "weft": 1, "name": "hello",
              "inputs": { "name": "string", "n": {"type": "int", "default": 3} },
              "nodes": [
                { "id": "greet", "type": "text.template", "config": { "template": "Hello {{ name }}!" } },
                { "id": "shout", "type": "text.upper", "policy": {"retry": {"max_attempts": 3}, "on_error": "continue"} }
              ],
              "edges": [
                { "from": "input.name", "to": "greet.name" },
                { "from": "greet.text", "to": "shout.text" }
              ],
              "outputs": { "greeting": "shout.text" }
            }"#,
        )
        .unwrap();
        assert_eq!(doc.nodes.len(), 2);
        assert!(doc.inputs["name"].is_required());
        assert!(!doc.inputs["n"].is_required());
        let retry = doc.nodes[1]
            .policy
            .as_ref()
            .unwrap()
            .retry
            .as_ref()
            .unwrap();
        assert_eq!(retry.backoff_ms, 100);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<FlowDocument>(r#"{"weft": 1, "name": "x", "nodez": []}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `nodez`"), "{err}");
    }

    #[test]
    fn port_refs() {
        let r = PortRef::parse("input.body.user.id").unwrap();
        assert!(r.is_flow_input());
        assert_eq!(r.port, "body");
        assert_eq!(r.path, vec!["user", "id"]);
        assert_eq!(r.to_string(), "input.body.user.id");
        assert!(PortRef::parse("greet").is_err());
        assert!(PortRef::parse("greet..x").is_err());
        assert!(PortRef::parse(".x").is_err());
    }

    #[test]
    fn node_type_refs() {
        let r = NodeTypeRef::parse("text.template@1").unwrap();
        assert!(r.matches_version("1.4.0"));
        assert!(!r.matches_version("2.0.0"));
        assert!(
            !NodeTypeRef::parse("text.template@1.2")
                .unwrap()
                .matches_version("1.20.0")
        );
        assert!(NodeTypeRef::parse("Text.x").is_err());
        assert!(NodeTypeRef::parse("template").is_err());
        assert!(NodeTypeRef::parse("a.b@x").is_err());
    }
}
