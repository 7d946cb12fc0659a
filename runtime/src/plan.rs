//! The compiled plan: a validated flow turned into a graph (petgraph) of
//! nodes with resolved components, input wiring, policies and a
//! topological order. Plans are immutable and shared (`Arc`) by every run
//! of the same flow version.
//!
//! A plan is self-contained on purpose: a node that later runs a nested
//! plan (an iteration, a sub-flow) hands the executor another `Plan` and a
//! frame name; nothing here assumes it is the top level.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};
use weft_editor_protocol::flow::{
    Capabilities, ERROR_PORT, InputDecl, OnError, PortRef, RetryPolicy,
};
use weft_editor_protocol::spec::NodeSpec;
use weft_editor_protocol::types::PortType;

use crate::host::LoadedComponent;
use crate::validate::{ValidatedFlow, error_port_type};

/// Default per-attempt node deadline.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of nodes of one run executing at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// The flow's own inputs.
    FlowInput,
    /// The node at this index in [`Plan::nodes`].
    Node(usize),
}

/// One edge into an input port (or a flow output's source).
#[derive(Debug, Clone)]
pub struct Source {
    pub producer: Producer,
    pub port: String,
    /// Keys and indices to follow into the value.
    pub path: Vec<String>,
    /// The value must be checked against the target type when it arrives
    /// (the source type is too loose to prove it statically).
    pub check: Option<PortType>,
    /// `node.port.path`, for messages.
    pub label: String,
}

/// The wiring of one input port.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub port: String,
    pub ty: PortType,
    pub required: bool,
    pub multi: bool,
    /// In edge order.
    pub sources: Vec<Source>,
}

/// A node, ready to run.
#[derive(Debug, Clone)]
pub struct PlanNode {
    pub id: Arc<str>,
    pub component: Arc<LoadedComponent>,
    pub spec: Arc<NodeSpec>,
    pub config: Arc<str>,
    pub timeout: Duration,
    pub retry: Option<RetryPolicy>,
    pub on_error: OnError,
    pub memory_limit: u64,
    pub inputs: Vec<PlanInput>,
    /// Distinct nodes this one reads from.
    pub upstream: Vec<usize>,
    /// Distinct nodes that read from this one.
    pub downstream: Vec<usize>,
}

/// A flow output.
#[derive(Debug, Clone)]
pub struct PlanOutput {
    pub name: String,
    pub source: Source,
}

/// A compiled flow.
#[derive(Debug, Clone)]
pub struct Plan {
    pub flow: String,
    pub nodes: Vec<PlanNode>,
    /// Node indices in a topological order.
    pub order: Vec<usize>,
    pub inputs: IndexMap<String, InputDecl>,
    pub outputs: Vec<PlanOutput>,
    pub grants: Arc<Capabilities>,
    pub max_concurrency: usize,
    pub run_timeout: Option<Duration>,
    /// The dependency graph; node weights are indices into `nodes`.
    pub graph: DiGraph<usize, ()>,
}

/// A validated flow that still does not compile (this is a bug in
/// validation, reported rather than panicking).
#[derive(Debug, thiserror::Error)]
#[error("cannot compile flow: {0}")]
pub struct PlanError(String);

impl Plan {
    pub fn compile(flow: &ValidatedFlow, default_memory_limit: u64) -> Result<Plan, PlanError> {
        let doc = &flow.doc;
        let index: std::collections::HashMap<&str, usize> = doc
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let settings = doc.settings.clone().unwrap_or_default();
        let default_timeout = settings
            .node_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_NODE_TIMEOUT);

        let source = |r: &PortRef, target: Option<&PortType>| -> Result<Source, PlanError> {
            let (producer, ty) = if r.is_flow_input() {
                let decl = doc
                    .inputs
                    .get(&r.port)
                    .ok_or_else(|| PlanError(format!("unknown input `{}`", r.port)))?;
                (Producer::FlowInput, decl.ty().clone())
            } else {
                let &i = index
                    .get(r.node.as_str())
                    .ok_or_else(|| PlanError(format!("unknown node `{}`", r.node)))?;
                let ty = if r.port == ERROR_PORT {
                    error_port_type()
                } else {
                    flow.nodes[i]
                        .spec
                        .output(&r.port)
                        .map(|p| p.ty.clone())
                        .ok_or_else(|| PlanError(format!("unknown port `{r}`")))?
                };
                (Producer::Node(i), ty)
            };
            let ty = ty.project(&r.path).unwrap_or(PortType::Any);
            let check = target
                .filter(|t| PortType::needs_runtime_check(&ty, t))
                .cloned();
            Ok(Source {
                producer,
                port: r.port.clone(),
                path: r.path.clone(),
                check,
                label: r.to_string(),
            })
        };

        let mut nodes: Vec<PlanNode> = doc
            .nodes
            .iter()
            .zip(&flow.nodes)
            .map(|(decl, resolved)| {
                let policy = decl.policy.clone().unwrap_or_default();
                PlanNode {
                    id: decl.id.as_str().into(),
                    component: resolved.component.clone(),
                    spec: resolved.spec.clone(),
                    config: resolved.config_text.clone(),
                    timeout: policy
                        .timeout_ms
                        .map(Duration::from_millis)
                        .unwrap_or(default_timeout),
                    retry: policy.retry.clone(),
                    on_error: policy.on_error,
                    memory_limit: policy
                        .memory_mib
                        .map(|m| u64::from(m) * 1024 * 1024)
                        .unwrap_or(default_memory_limit),
                    inputs: resolved
                        .spec
                        .inputs
                        .iter()
                        .map(|p| PlanInput {
                            port: p.name.clone(),
                            ty: p.ty.clone(),
                            required: p.required,
                            multi: p.multi,
                            sources: Vec::new(),
                        })
                        .collect(),
                    upstream: Vec::new(),
                    downstream: Vec::new(),
                }
            })
            .collect();

        let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(nodes.len(), doc.edges.len());
        let gidx: Vec<NodeIndex> = (0..nodes.len()).map(|i| graph.add_node(i)).collect();
        let mut ups: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
        for edge in &doc.edges {
            let from = PortRef::parse(&edge.from).map_err(PlanError)?;
            let to = PortRef::parse(&edge.to).map_err(PlanError)?;
            let &t = index
                .get(to.node.as_str())
                .ok_or_else(|| PlanError(format!("unknown node `{}`", to.node)))?;
            let input = nodes[t]
                .inputs
                .iter_mut()
                .find(|p| p.port == to.port)
                .ok_or_else(|| PlanError(format!("unknown port `{to}`")))?;
            let src = source(&from, Some(&input.ty))?;
            if let Producer::Node(f) = src.producer
                && ups[t].insert(f)
            {
                graph.add_edge(gidx[f], gidx[t], ());
            }
            input.sources.push(src);
        }
        for (t, set) in ups.iter().enumerate() {
            for &f in set {
                nodes[t].upstream.push(f);
                nodes[f].downstream.push(t);
            }
        }

        let order = petgraph::algo::toposort(&graph, None)
            .map_err(|c| PlanError(format!("cycle through `{}`", nodes[graph[c.node_id()]].id)))?
            .into_iter()
            .map(|n| graph[n])
            .collect();

        let outputs = doc
            .outputs
            .iter()
            .map(|(name, s)| {
                let r = PortRef::parse(s).map_err(PlanError)?;
                Ok(PlanOutput {
                    name: name.clone(),
                    source: source(&r, None)?,
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()?;

        Ok(Plan {
            flow: doc.name.clone(),
            nodes,
            order,
            inputs: doc.inputs.clone(),
            outputs,
            grants: Arc::new(doc.capabilities.clone()),
            max_concurrency: settings
                .max_concurrency
                .map(|c| c as usize)
                .unwrap_or(DEFAULT_MAX_CONCURRENCY)
                .max(1),
            run_timeout: settings.run_timeout_ms.map(Duration::from_millis),
            graph,
        })
    }
}
