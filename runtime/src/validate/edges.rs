//! Checks of the wiring: edge endpoints, port types, fan-in, required
//! inputs left unconnected, flow outputs, and cycles.

use std::collections::{HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};
use weft_editor_protocol::flow::{ERROR_PORT, INPUT_NODE, OnError, PortRef};
use weft_editor_protocol::types::PortType;
use weft_editor_protocol::{Diagnostic, DiagnosticCode};

use super::parse::closest;
use super::{Checker, error_port_type, locate};

impl Checker<'_> {
    /// The type of a source reference (an edge's `from` or an output),
    /// or `None` after reporting a problem (or when the source node is
    /// itself broken and was reported already).
    pub(super) fn source_type(&mut self, r: &PortRef, pointer: &str) -> Option<PortType> {
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
                // Walk the path to name the exact step that cannot exist.
                let mut ty = base;
                let mut at = format!("{}.{}", r.node, r.port);
                for seg in &r.path {
                    match ty.project(std::slice::from_ref(seg)) {
                        Some(next) => {
                            at = format!("{at}.{seg}");
                            ty = next;
                        }
                        None => break,
                    }
                }
                let missing = &r.path[at.split('.').count() - 2..];
                let mut d = Diagnostic::new(
                    DiagnosticCode::InvalidPath,
                    pointer,
                    format!("`{at}` is `{ty}`, which has no `.{}`", missing.join(".")),
                )
                .port(r.port.clone());
                if !r.is_flow_input() {
                    d = d.node(r.node.clone());
                }
                self.push(d);
                None
            }
        }
    }

    /// The position of a node by id; reports unknown ids (except ids of
    /// nodes that failed to parse, already reported).
    pub(super) fn lookup_node(&mut self, id: &str, pointer: &str) -> Option<usize> {
        if let Some(&k) = self.ids.get(id) {
            return Some(k);
        }
        if !self.parsed.broken_ids.contains(id) {
            let ids: Vec<&str> = self.ids.keys().copied().collect();
            let hint = closest(id, ids.iter())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            self.push(Diagnostic::new(
                DiagnosticCode::UnknownNode,
                pointer,
                format!("there is no node `{id}`{hint}"),
            ));
        }
        None
    }

    /// Checks every edge; returns the node-to-node edges for the cycle check.
    pub(super) fn check_edges(&mut self) -> Vec<(usize, usize, usize)> {
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

    pub(super) fn check_unconnected(&mut self) {
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
            if self.ids.get(node.id.as_str()) != Some(&k) || node.id == INPUT_NODE {
                continue; // a duplicate or reserved id: reported already
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

    pub(super) fn check_outputs(&mut self) {
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

    pub(super) fn check_cycles(&mut self, graph_edges: &[(usize, usize, usize)]) {
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
