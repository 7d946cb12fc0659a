//! The [`Node`] trait.

use crate::{ConfigProblem, Context, Inputs, NodeError, Outputs, Spec};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

/// Static facts about a node type, returned by the `info` export (together
/// with the config schema, which the SDK generates from [`Node::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// `category.name`, lower-case, e.g. `text.template`.
    pub type_name: &'static str,
    /// Semantic version, e.g. `1.0.0`. Flows may pin `type@1` or `type@1.2`.
    pub version: &'static str,
    /// One sentence for the editor palette.
    pub summary: &'static str,
}

/// A Weft node type.
///
/// Implement it for a (usually unit) struct and export the struct with
/// [`export_node!`](crate::export_node). See the [crate documentation](crate)
/// for a complete example.
pub trait Node {
    /// The node's config, deserialized from the flow's JSON.
    ///
    /// An empty or `null` config is treated as `{}`. Use
    /// `#[serde(deny_unknown_fields)]` so that typos are reported, and
    /// [`NoConfig`](crate::NoConfig) for a node without settings. The JSON
    /// Schema that the `info` export reports, and that the host checks every
    /// config against before calling `describe`, is generated from this type
    /// with [`schemars`]; doc comments on its fields become descriptions.
    type Config: DeserializeOwned + JsonSchema;

    /// Type name, version and summary.
    const INFO: Info;

    /// The node's ports and capabilities for `config`, or every problem with
    /// `config` that deserialization alone could not catch.
    ///
    /// Problems found while deserializing `config` never reach this method:
    /// the SDK reports them itself (with the JSON pointer of the field).
    fn describe(config: &Self::Config) -> Result<Spec, Vec<ConfigProblem>>;

    /// Runs one attempt of the node.
    ///
    /// Only the ports set in the returned [`Outputs`] are live; every other
    /// output port is dead for this run.
    fn run(ctx: &Context<Self::Config>, inputs: Inputs) -> Result<Outputs, NodeError>;
}
