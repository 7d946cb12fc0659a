//! Flow validation: from source text (or a JSON value) to a
//! [`ValidatedFlow`], or to **every** problem at once, each located by JSON
//! pointer, line and column, node and port.
//!
//! ## Layout
//! - [`parse`]: tolerant structural parsing (unknown fields, wrong shapes).
//! - [`locate`]: JSON pointer → line:column in the source text.
//! - this module: the semantic checks (node types, configs, ports, types,
//!   edges, capabilities, outputs, cycles).

mod locate;
pub mod parse;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;
use weft_editor_protocol::flow::{
    ERROR_PORT, FlowDocument, INPUT_NODE, NodeTypeRef, OnError, PortRef,
};
use weft_editor_protocol::spec::NodeSpec;
use weft_editor_protocol::types::PortType;
use weft_editor_protocol::{Diagnostic, DiagnosticCode};

use crate::host::LoadedComponent;
use crate::registry::Registry;

pub use locate::Locations;
use parse::{Parsed, closest};

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
        d.column = u32::try_from(e.column()).ok();
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

impl<'a> Checker<'a> {
    fn node_path(&self, k: usize) -> String {
        format!("/nodes/{}", self.parsed.node_index[k])
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn check_header(&mut self) {
        let doc = &self.parsed.doc;
        if doc.weft != weft_editor_protocol::flow::FORMAT_VERSION {
            self.push(Diagnostic::new(
                DiagnosticCode::FormatVersion,
                "/weft",
                format!(
                    "unsupported format version {}; this Weft reads version {}",
                    doc.weft,
                    weft_editor_protocol::flow::FORMAT_VERSION
                ),
            ));
        }
        if doc.name.trim().is_empty() {
            self.push(Diagnostic::new(
                DiagnosticCode::Schema,
                "/name",
                "the flow's name must not be empty",
            ));
        }
        for (name, decl) in &doc.inputs {
            let pointer = format!("/inputs/{}", locate::escape(name));
            if !valid_id(name) {
                self.diags.push(Diagnostic::new(
                    DiagnosticCode::Schema,
                    pointer.clone(),
                    format!("input name `{name}` must start with a letter or `_` and contain only letters, digits, `_` and `-`"),
                ));
            }
            if let Some(default) = decl.default_value()
                && let Err(e) = decl.ty().check(default)
            {
                self.diags.push(Diagnostic::new(
                    DiagnosticCode::TypeMismatch,
                    format!("{pointer}/default"),
                    format!("default for input `{name}` does not match its type: {e}"),
                ));
            }
        }
        if let Some(settings) = &doc.settings {
            if settings.max_concurrency == Some(0) {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    "/settings/max_concurrency",
                    "must be at least 1",
                ));
            }
            if settings.node_timeout_ms == Some(0) {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    "/settings/node_timeout_ms",
                    "must be at least 1",
                ));
            }
            if settings.run_timeout_ms == Some(0) {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    "/settings/run_timeout_ms",
                    "must be at least 1",
                ));
            }
        }
    }

    async fn check_nodes(&mut self, registry: &Registry) {
        let doc = &self.parsed.doc;
        for (k, node) in doc.nodes.iter().enumerate() {
            let path = self.node_path(k);
            let id = node.id.as_str();
            if id == INPUT_NODE {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidNodeId,
                        format!("{path}/id"),
                        "`input` is reserved for the flow's inputs; pick another id",
                    )
                    .node(id),
                );
            } else if !valid_id(id) {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidNodeId,
                        format!("{path}/id"),
                        format!("node id `{id}` must start with a letter or `_` and contain only letters, digits, `_` and `-`"),
                    )
                    .node(id),
                );
            }
            match self.ids.get(id) {
                Some(&first) => {
                    let first_path = self.node_path(first);
                    self.push(
                        Diagnostic::new(
                            DiagnosticCode::DuplicateNodeId,
                            format!("{path}/id"),
                            format!("duplicate node id `{id}` (first used at {first_path})"),
                        )
                        .node(id),
                    );
                }
                None => {
                    self.ids.insert(id, k);
                }
            }

            self.check_policy(k, &path);
            let resolved = self.resolve_node(k, &path, registry).await;
            self.resolved.push(resolved);
        }
    }

    fn check_policy(&mut self, k: usize, path: &str) {
        let node = &self.parsed.doc.nodes[k];
        let Some(policy) = &node.policy else { return };
        let id = node.id.clone();
        let mut bad = |field: &str, msg: String| {
            self.diags.push(
                Diagnostic::new(
                    DiagnosticCode::InvalidPolicy,
                    format!("{path}/policy/{field}"),
                    msg,
                )
                .node(id.clone()),
            );
        };
        if policy.timeout_ms == Some(0) {
            bad("timeout_ms", "must be at least 1".into());
        }
        if policy.memory_mib == Some(0) {
            bad("memory_mib", "must be at least 1".into());
        }
        if let Some(retry) = &policy.retry {
            if !(1..=10).contains(&retry.max_attempts) {
                bad(
                    "retry/max_attempts",
                    format!("must be between 1 and 10, got {}", retry.max_attempts),
                );
            }
            if !(1.0..=10.0).contains(&retry.multiplier) {
                bad(
                    "retry/multiplier",
                    format!("must be between 1 and 10, got {}", retry.multiplier),
                );
            }
            if retry.backoff_ms > 600_000 {
                bad(
                    "retry/backoff_ms",
                    format!(
                        "must be at most 600000 (10 minutes), got {}",
                        retry.backoff_ms
                    ),
                );
            }
        }
    }

    async fn resolve_node(
        &mut self,
        k: usize,
        path: &str,
        registry: &Registry,
    ) -> Option<ResolvedNode> {
        let node = &self.parsed.doc.nodes[k];
        let id = node.id.clone();
        let type_ref = match NodeTypeRef::parse(&node.node_type) {
            Ok(r) => r,
            Err(e) => {
                self.push(
                    Diagnostic::new(DiagnosticCode::UnknownNodeType, format!("{path}/type"), e)
                        .node(id),
                );
                return None;
            }
        };
        let Some(registered) = registry.resolve(&type_ref) else {
            let versions = registry.versions(&type_ref.name);
            let message = if !versions.is_empty() {
                format!(
                    "no version of `{}` matches `{}` (available: {})",
                    type_ref.name,
                    node.node_type,
                    versions.join(", ")
                )
            } else {
                let hint = registry
                    .suggest(&type_ref.name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                format!("unknown node type `{}`{hint}", type_ref.name)
            };
            self.push(
                Diagnostic::new(
                    DiagnosticCode::UnknownNodeType,
                    format!("{path}/type"),
                    message,
                )
                .node(id),
            );
            return None;
        };
        let component = registered.component.clone();

        if let Some(mib) = node.policy.as_ref().and_then(|p| p.memory_mib) {
            let max = registry.host().config().max_memory_limit / (1024 * 1024);
            if u64::from(mib) > max {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidPolicy,
                        format!("{path}/policy/memory_mib"),
                        format!("{mib} MiB is more than this host allows ({max} MiB)"),
                    )
                    .node(id.clone()),
                );
            }
        }

        let config = node
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        let config_path = format!("{path}/config");
        let schema_problems = component.check_config(&config);
        if !schema_problems.is_empty() {
            for (pointer, message) in schema_problems {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidConfig,
                        format!("{config_path}{pointer}"),
                        format!(
                            "invalid config for `{}`: {message}",
                            component.info.type_name
                        ),
                    )
                    .node(id.clone()),
                );
            }
            return None;
        }
        let config_text: Arc<str> = config.to_string().into();
        let spec = match component.describe(&config_text).await {
            Ok(Ok(spec)) => spec,
            Ok(Err(problems)) => {
                for p in problems {
                    self.push(
                        Diagnostic::new(
                            DiagnosticCode::InvalidConfig,
                            format!("{config_path}{}", p.path),
                            format!(
                                "invalid config for `{}`: {}",
                                component.info.type_name, p.message
                            ),
                        )
                        .node(id.clone()),
                    );
                }
                return None;
            }
            Err(e) => {
                self.push(
                    Diagnostic::new(DiagnosticCode::InvalidConfig, config_path, e.to_string())
                        .node(id),
                );
                return None;
            }
        };
        for cap in &spec.capabilities {
            if !self.parsed.doc.capabilities.grants(*cap) {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::CapabilityNotGranted,
                        format!("{path}/type"),
                        format!(
                            "`{}` needs the `{}` capability, which this flow does not grant (add it under `capabilities.{}`)",
                            component.info.type_name,
                            cap.as_str(),
                            cap.as_str()
                        ),
                    )
                    .node(id.clone()),
                );
            }
        }
        Some(ResolvedNode {
            component,
            spec,
            config_text,
        })
    }

    /// The type of a source reference (an edge's `from` or an output),
    /// or `None` after reporting a problem (or when the source node is
    /// itself broken and was reported already).
    fn source_type(&mut self, r: &PortRef, pointer: &str) -> Option<PortType> {
        let base = if r.is_flow_input() {
            match self.parsed.doc.inputs.get(&r.port) {
                Some(decl) => decl.ty().clone(),
                None => {
                    if self.parsed.inputs_complete {
                        let names: Vec<&str> =
                            self.parsed.doc.inputs.keys().map(String::as_str).collect();
                        let hint = closest(&r.port, names.iter())
                            .map(|s| format!(" (did you mean `input.{s}`?)"))
                            .unwrap_or_default();
                        self.push(
                            Diagnostic::new(
                                DiagnosticCode::UnknownPort,
                                pointer,
                                format!("the flow has no input `{}`{hint}", r.port),
                            )
                            .port(r.port.clone()),
                        );
                    }
                    return None;
                }
            }
        } else {
            let k = self.lookup_node(&r.node, pointer)?;
            let node = &self.parsed.doc.nodes[k];
            let on_error = node.policy.as_ref().map(|p| p.on_error).unwrap_or_default();
            if r.port == ERROR_PORT {
                if on_error != OnError::Continue {
                    self.push(
                        Diagnostic::new(
                            DiagnosticCode::ErrorPortUnused,
                            pointer,
                            format!("`{}.error` only carries a value when the node has `policy.on_error: \"continue\"`", r.node),
                        )
                        .node(r.node.clone())
                        .port(ERROR_PORT),
                    );
                    return None;
                }
                error_port_type()
            } else {
                let resolved = self.resolved[k].as_ref()?;
                match resolved.spec.output(&r.port) {
                    Some(p) => p.ty.clone(),
                    None => {
                        let names: Vec<&str> = resolved
                            .spec
                            .outputs
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect();
                        let message = format!(
                            "`{}` ({}) has no output `{}`; its outputs are: {}",
                            r.node,
                            resolved.component.info.type_name,
                            r.port,
                            list_or_none(&names)
                        );
                        self.push(
                            Diagnostic::new(DiagnosticCode::UnknownPort, pointer, message)
                                .node(r.node.clone())
                                .port(r.port.clone()),
                        );
                        return None;
                    }
                }
            }
        };
        match base.project(&r.path) {
            Some(t) => Some(t),
            None => {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::InvalidPath,
                        pointer,
                        format!(
                            "`{}.{}` is `{base}`, which has no `.{}`",
                            r.node,
                            r.port,
                            r.path.join(".")
                        ),
                    )
                    .node(r.node.clone())
                    .port(r.port.clone()),
                );
                None
            }
        }
    }

    /// The position of a node by id; reports unknown ids (except ids of
    /// nodes that failed to parse, already reported).
    fn lookup_node(&mut self, id: &str, pointer: &str) -> Option<usize> {
        if let Some(&k) = self.ids.get(id) {
            return Some(k);
        }
        if !self.parsed.broken_ids.contains(id) {
            let ids: Vec<&str> = self.ids.keys().copied().collect();
            let hint = closest(id, ids.iter())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            self.push(
                Diagnostic::new(
                    DiagnosticCode::UnknownNode,
                    pointer,
                    format!("there is no node `{id}`{hint}"),
                )
                .node(id.to_string()),
            );
        }
        None
    }

    /// Checks every edge; returns the node-to-node edges for the cycle check.
    fn check_edges(&mut self) -> Vec<(usize, usize, usize)> {
        let mut graph_edges = Vec::new();
        let mut fan_in: HashMap<(usize, String), usize> = HashMap::new();
        let edges = &self.parsed.doc.edges;
        for (e, edge) in edges.iter().enumerate() {
            let base = format!("/edges/{}", self.parsed.edge_index[e]);
            let from_ptr = format!("{base}/from");
            let to_ptr = format!("{base}/to");
            let from = PortRef::parse(&edge.from)
                .map_err(|m| {
                    self.push(Diagnostic::new(
                        DiagnosticCode::InvalidReference,
                        from_ptr.clone(),
                        m,
                    ))
                })
                .ok();
            let to = PortRef::parse(&edge.to)
                .map_err(|m| {
                    self.push(Diagnostic::new(
                        DiagnosticCode::InvalidReference,
                        to_ptr.clone(),
                        m,
                    ))
                })
                .ok();

            let from_type = from.as_ref().and_then(|f| self.source_type(f, &from_ptr));

            let Some(to) = to else { continue };
            if to.is_flow_input() {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidReference,
                    to_ptr,
                    "`input` names the flow's inputs; an edge cannot point into it",
                ));
                continue;
            }
            if !to.path.is_empty() {
                self.push(Diagnostic::new(
                    DiagnosticCode::InvalidReference,
                    to_ptr.clone(),
                    format!("`{to}`: an edge's `to` must be exactly `node.port`"),
                ));
            }
            let Some(tk) = self.lookup_node(&to.node, &to_ptr) else {
                continue;
            };
            if let Some(from) = &from
                && !from.is_flow_input()
                && let Some(&fk) = self.ids.get(from.node.as_str())
            {
                graph_edges.push((fk, tk, e));
            }
            let Some(resolved) = self.resolved[tk].as_ref() else {
                continue;
            };
            let Some(port) = resolved.spec.input(&to.port) else {
                let names: Vec<&str> = resolved
                    .spec
                    .inputs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                let message = format!(
                    "`{}` ({}) has no input `{}`; its inputs are: {}",
                    to.node,
                    resolved.component.info.type_name,
                    to.port,
                    list_or_none(&names)
                );
                self.push(
                    Diagnostic::new(DiagnosticCode::UnknownPort, to_ptr, message)
                        .node(to.node.clone())
                        .port(to.port.clone()),
                );
                continue;
            };
            let (port_ty, multi) = (port.ty.clone(), port.multi);
            let count = fan_in.entry((tk, to.port.clone())).or_insert(0);
            *count += 1;
            if *count > 1 && !multi {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::MultipleEdges,
                        base.clone(),
                        format!(
                            "`{}.{}` takes a single value but already has an edge; join branches with a `flow.merge` node",
                            to.node, to.port
                        ),
                    )
                    .node(to.node.clone())
                    .port(to.port.clone()),
                );
            }
            if let (Some(from), Some(from_ty)) = (&from, from_type)
                && !from_ty.is_assignable_to(&port_ty)
            {
                self.push(
                    Diagnostic::new(
                        DiagnosticCode::TypeMismatch,
                        base,
                        format!(
                            "type mismatch: `{from}` is `{from_ty}`, but `{}.{}` expects `{port_ty}`",
                            to.node, to.port
                        ),
                    )
                    .node(to.node.clone())
                    .port(to.port.clone()),
                );
            }
        }
        graph_edges
    }

    fn check_unconnected(&mut self) {
        let mut connected: HashSet<(&str, &str)> = HashSet::new();
        let refs: Vec<PortRef> = self
            .parsed
            .doc
            .edges
            .iter()
            .filter_map(|e| PortRef::parse(&e.to).ok())
            .collect();
        for r in &refs {
            connected.insert((r.node.as_str(), r.port.as_str()));
        }
        let mut found = Vec::new();
        for (k, node) in self.parsed.doc.nodes.iter().enumerate() {
            if self.ids.get(node.id.as_str()) != Some(&k) {
                continue; // a duplicate id: reported already
            }
            let Some(resolved) = &self.resolved[k] else {
                continue;
            };
            for port in &resolved.spec.inputs {
                if port.required && !connected.contains(&(node.id.as_str(), port.name.as_str())) {
                    found.push(
                        Diagnostic::new(
                            DiagnosticCode::UnconnectedInput,
                            self.node_path(k),
                            format!("required input `{}` ({}) has no edge", port.name, port.ty),
                        )
                        .node(node.id.clone())
                        .port(port.name.clone()),
                    );
                }
            }
        }
        self.diags.extend(found);
    }

    fn check_outputs(&mut self) {
        let outputs: Vec<(String, String)> = self
            .parsed
            .doc
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, source) in outputs {
            let pointer = format!("/outputs/{}", locate::escape(&name));
            match PortRef::parse(&source) {
                Ok(r) => {
                    self.source_type(&r, &pointer);
                }
                Err(m) => self.push(Diagnostic::new(
                    DiagnosticCode::InvalidReference,
                    pointer,
                    m,
                )),
            }
        }
    }

    fn check_cycles(&mut self, graph_edges: &[(usize, usize, usize)]) {
        let n = self.parsed.doc.nodes.len();
        let mut graph: DiGraph<usize, usize> = DiGraph::with_capacity(n, graph_edges.len());
        let idx: Vec<NodeIndex> = (0..n).map(|k| graph.add_node(k)).collect();
        for &(from, to, e) in graph_edges {
            graph.add_edge(idx[from], idx[to], e);
        }
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let cyclic = scc.len() > 1 || graph.find_edge(scc[0], scc[0]).is_some();
            if !cyclic {
                continue;
            }
            let members: HashSet<NodeIndex> = scc.iter().copied().collect();
            let start = scc
                .iter()
                .copied()
                .min_by_key(|i| graph[*i])
                .unwrap_or(scc[0]);
            let path = cycle_path(&graph, start, &members);
            let names: Vec<&str> = path
                .iter()
                .map(|i| self.parsed.doc.nodes[graph[*i]].id.as_str())
                .collect();
            let first = names.first().copied().unwrap_or_default();
            let message = format!("cycle: {} → {first}", names.join(" → "));
            let k = graph[start];
            self.push(
                Diagnostic::new(DiagnosticCode::Cycle, self.node_path(k), message)
                    .node(first.to_string()),
            );
        }
    }
}

/// A path from `start` back to itself within one strongly connected
/// component (depth-first, so it is a simple cycle).
fn cycle_path(
    graph: &DiGraph<usize, usize>,
    start: NodeIndex,
    members: &HashSet<NodeIndex>,
) -> Vec<NodeIndex> {
    let mut stack = vec![(start, graph.neighbors(start).collect::<Vec<_>>())];
    let mut on_path = vec![start];
    let mut seen = HashSet::from([start]);
    while let Some((_, next)) = stack.last_mut() {
        match next.pop() {
            Some(n) if n == start => return on_path,
            Some(n) if members.contains(&n) && seen.insert(n) => {
                on_path.push(n);
                stack.push((n, graph.neighbors(n).collect()));
            }
            Some(_) => {}
            None => {
                stack.pop();
                on_path.pop();
            }
        }
    }
    vec![start]
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
