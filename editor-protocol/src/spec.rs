//! Node specs: what a node type declares about itself, as the catalogue
//! (`GET /v1/nodes`, `weft nodes --json`) shows it to editors.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::PortType;

/// A host capability a node needs and a flow must grant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Http,
    Llm,
    Embeddings,
    Vectors,
    Secrets,
}

impl Capability {
    pub const ALL: [Capability; 5] = [
        Capability::Http,
        Capability::Llm,
        Capability::Embeddings,
        Capability::Vectors,
        Capability::Secrets,
    ];

    /// The field of the flow's `capabilities` section that grants it.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Llm => "llm",
            Capability::Embeddings => "embeddings",
            Capability::Vectors => "vectors",
            Capability::Secrets => "secrets",
        }
    }
}

/// One port of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: PortType,
    /// Inputs only: the node is skipped unless this port has a live value.
    #[serde(default)]
    pub required: bool,
    /// Inputs only: accepts several edges; the node receives the list of
    /// live values, in edge order, and `type` is the element type.
    #[serde(default)]
    pub multi: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Static facts about a node type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// `category.name`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Semantic version of the node.
    pub version: String,
    /// One sentence for the palette.
    pub summary: String,
}

/// What a node looks like for one config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub inputs: Vec<PortSpec>,
    pub outputs: Vec<PortSpec>,
    /// JSON Schema of the node's config object.
    pub config_schema: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// The named grants this config uses (a provider, a collection): the
    /// flow must grant each of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<CapabilityUse>,
}

/// One named grant a node needs, e.g. `{"capability": "llm", "name": "local"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityUse {
    pub capability: Capability,
    pub name: String,
}

impl NodeSpec {
    pub fn input(&self, name: &str) -> Option<&PortSpec> {
        self.inputs.iter().find(|p| p.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&PortSpec> {
        self.outputs.iter().find(|p| p.name == name)
    }
}

/// Where a node type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeSource {
    /// Embedded in the Weft binary.
    Builtin,
    /// Loaded from a `--nodes-dir`.
    Custom,
}

/// One entry of the node catalogue: the node's facts and its spec for an
/// empty config (ports may change with config; editors call describe again
/// when the config changes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogEntry {
    #[serde(flatten)]
    pub info: NodeInfo,
    pub source: NodeSource,
    /// The spec for an empty config, or `None` when the node needs config
    /// before it can describe its ports.
    pub spec: Option<NodeSpec>,
    /// Why an empty config does not describe (when `spec` is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_config: Option<String>,
    /// The config schema, always present.
    pub config_schema: Value,
}
