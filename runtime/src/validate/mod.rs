//! Flow validation: from source text (or a JSON value) to a
//! [`ValidatedFlow`], or to **every** problem at once, each located by JSON
//! pointer, line and column, node and port.
//!
//! ## Layout
//! - [`parse`]: tolerant structural parsing (unknown fields, wrong shapes).
//! - [`locate`]: JSON pointer → line:column in the source text.
//! - [`triggers`]: parsing and checks of the flow's `triggers` (HTTP
//!   methods, route patterns with `weft-router`, ids, conflicts, CORS).
//! - this module: the semantic checks (node types, configs, ports, types,
//!   edges, capabilities, outputs, cycles).

mod edges;
mod locate;
mod nodes;
pub mod parse;
mod triggers;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use weft_editor_protocol::flow::FlowDocument;
use weft_editor_protocol::spec::NodeSpec;
use weft_editor_protocol::types::PortType;
use weft_editor_protocol::{Diagnostic, DiagnosticCode};

use crate::host::LoadedComponent;
use crate::registry::Registry;

pub use locate::Locations;
use parse::Parsed;
pub use triggers::TriggerSource;

/// A flow that passed validation, with each node resolved to its component
/// and spec (in the same order as `doc.nodes`).
#[derive(Debug, Clone)]
pub struct ValidatedFlow {
    pub doc: FlowDocument,
    pub nodes: Vec<ResolvedNode>,
}

/// A node of a validated flow.
#[derive(Debug, Clone)]
pub struct ResolvedNode {
    pub component: Arc<LoadedComponent>,
    pub spec: Arc<NodeSpec>,
    /// The node's config as compact JSON text (`{}` when absent).
    pub config_text: Arc<str>,
}

/// The type of a node's implicit `error` output (`on_error: continue`).
pub fn error_port_type() -> PortType {
    PortType::Object(Some(vec![
        field("node", PortType::String),
        field("code", PortType::String),
        field("message", PortType::String),
    ]))
}

fn field(name: &str, ty: PortType) -> weft_editor_protocol::types::Field {
    weft_editor_protocol::types::Field {
        name: name.into(),
        ty,
        optional: false,
    }
}

/// Validates source text. Syntax errors carry the line and column where
/// parsing stopped; every other diagnostic is located by its JSON pointer.
pub async fn validate_text(
    text: &str,
    registry: &Registry,
) -> Result<ValidatedFlow, Vec<Diagnostic>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let mut d = Diagnostic::new(DiagnosticCode::Syntax, "", syntax_message(&e));
        d.line = u32::try_from(e.line()).ok();
        d.column = u32::try_from(char_column(text, e.line(), e.column())).ok();
        vec![d]
    })?;
    validate_value(&value, registry).await.map_err(|mut diags| {
        let locations = Locations::scan(text);
        for d in &mut diags {
            if let Some((line, col)) = locations.find(&d.path) {
                d.line = Some(line);
                d.column = Some(col);
            }
        }
        diags.sort_by_key(|d| (d.line, d.column));
        diags
    })
}

/// serde_json counts columns in bytes; people (and editors) count characters.
fn char_column(text: &str, line: usize, byte_column: usize) -> usize {
    let Some(line_text) = text.lines().nth(line.saturating_sub(1)) else {
        return byte_column;
    };
    let mut end = byte_column.min(line_text.len());
    while !line_text.is_char_boundary(end) {
        end -= 1;
    }
    line_text[..end].chars().count() + (byte_column - end).min(1)
}

fn syntax_message(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; we report those separately.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("invalid JSON: {}", &text[..i]),
        None => format!("invalid JSON: {text}"),
    }
}

/// Validates an already-parsed document.
pub async fn validate_document(
    doc: &FlowDocument,
    registry: &Registry,
) -> Result<ValidatedFlow, Vec<Diagnostic>> {
    let value = serde_json::to_value(doc)
        .map_err(|e| vec![Diagnostic::new(DiagnosticCode::Schema, "", e.to_string())])?;
    validate_value(&value, registry).await
}

/// Validates a JSON value (no line numbers: there is no text).
pub async fn validate_value(
    value: &Value,
    registry: &Registry,
) -> Result<ValidatedFlow, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let Some(parsed) = parse::parse(value, &mut diags) else {
        return Err(diags);
    };
    let mut checker = Checker {
        parsed: &parsed,
        diags,
        resolved: Vec::new(),
        ids: HashMap::new(),
    };
    checker.check_header();
    checker.check_nodes(registry).await;
    let graph_edges = checker.check_edges();
    checker.check_unconnected();
    checker.check_outputs();
    checker.check_triggers();
    checker.check_cycles(&graph_edges);

    let Checker {
        diags, resolved, ..
    } = checker;
    if !diags.is_empty() {
        return Err(diags);
    }
    let nodes = resolved
        .into_iter()
        .map(|r| {
            r.ok_or_else(|| {
                vec![Diagnostic::new(
                    DiagnosticCode::Schema,
                    "",
                    "internal: unresolved node",
                )]
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ValidatedFlow {
        doc: parsed.doc,
        nodes,
    })
}

struct Checker<'a> {
    parsed: &'a Parsed,
    diags: Vec<Diagnostic>,
    /// Aligned with `parsed.doc.nodes`; `None` when the node did not resolve.
    resolved: Vec<Option<ResolvedNode>>,
    /// Node id → position in `parsed.doc.nodes` (first occurrence).
    ids: HashMap<&'a str, usize>,
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
