//! Diagnostics: what `weft validate` (and the API's 422) report about a
//! flow document. Each names its place: a JSON pointer into the document,
//! the line and column when known, and the node and port involved.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of problem a diagnostic reports. Stable: tools match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticCode {
    /// The text is not JSON.
    Syntax,
    /// A field has the wrong shape, or is unknown, or is missing.
    Schema,
    /// `weft` is not a supported format version.
    FormatVersion,
    DuplicateNodeId,
    InvalidNodeId,
    UnknownNodeType,
    /// The node's config does not satisfy the node's config schema, or the
    /// node itself rejected it.
    InvalidConfig,
    /// A `from`/`to`/output reference is not `node.port`.
    InvalidReference,
    /// A reference names a node that does not exist.
    UnknownNode,
    /// A reference names a port the node does not have.
    UnknownPort,
    /// A path into a value (`a.port.x.y`) cannot exist for the port's type.
    InvalidPath,
    TypeMismatch,
    Cycle,
    /// A required input port has no edge.
    UnconnectedInput,
    /// A single-valued input port has more than one edge.
    MultipleEdges,
    /// A node needs a capability the flow does not grant.
    CapabilityNotGranted,
    /// A policy value is out of range.
    InvalidPolicy,
    /// An edge from an `error` port of a node whose errors fail the run.
    ErrorPortUnused,
    /// A trigger field has a value it cannot have (an unknown, repeated or
    /// missing method or mode, an invalid id, a CORS origin or header).
    InvalidTrigger,
    /// An HTTP trigger's `path` is not a valid route pattern.
    InvalidRoutePattern,
    DuplicateTriggerId,
    /// Two HTTP triggers of the flow answer the same method on the same
    /// paths.
    RouteConflict,
}

impl DiagnosticCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::Syntax => "syntax",
            DiagnosticCode::Schema => "schema",
            DiagnosticCode::FormatVersion => "format_version",
            DiagnosticCode::DuplicateNodeId => "duplicate_node_id",
            DiagnosticCode::InvalidNodeId => "invalid_node_id",
            DiagnosticCode::UnknownNodeType => "unknown_node_type",
            DiagnosticCode::InvalidConfig => "invalid_config",
            DiagnosticCode::InvalidReference => "invalid_reference",
            DiagnosticCode::UnknownNode => "unknown_node",
            DiagnosticCode::UnknownPort => "unknown_port",
            DiagnosticCode::InvalidPath => "invalid_path",
            DiagnosticCode::TypeMismatch => "type_mismatch",
            DiagnosticCode::Cycle => "cycle",
            DiagnosticCode::UnconnectedInput => "unconnected_input",
            DiagnosticCode::MultipleEdges => "multiple_edges",
            DiagnosticCode::CapabilityNotGranted => "capability_not_granted",
            DiagnosticCode::InvalidPolicy => "invalid_policy",
            DiagnosticCode::ErrorPortUnused => "error_port_unused",
            DiagnosticCode::InvalidTrigger => "invalid_trigger",
            DiagnosticCode::InvalidRoutePattern => "invalid_route_pattern",
            DiagnosticCode::DuplicateTriggerId => "duplicate_trigger_id",
            DiagnosticCode::RouteConflict => "route_conflict",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a flow document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnostic {
    pub code: DiagnosticCode,
    pub message: String,
    /// JSON pointer to the offending value, e.g. `/nodes/2/config/template`.
    pub path: String,
    /// 1-based line of the offending value in the source text, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column (in characters), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The node involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The port involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

impl Diagnostic {
    pub fn new(code: DiagnosticCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            path: path.into(),
            line: None,
            column: None,
            node: None,
            port: None,
        }
    }

    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    pub fn port(mut self, port: impl Into<String>) -> Self {
        self.port = Some(port.into());
        self
    }
}

/// One line: `LINE:COL: PATH: [node `N`] MESSAGE [code]`, without the
/// file name (callers prefix it).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(col)) = (self.line, self.column) {
            write!(f, "{line}:{col}: ")?;
        }
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: ")?;
        match (&self.node, &self.port) {
            (Some(n), Some(p)) => write!(f, "node `{n}` port `{p}`: ")?,
            (Some(n), None) => write!(f, "node `{n}`: ")?,
            _ => {}
        }
        write!(f, "{} [{}]", self.message, self.code)
    }
}
