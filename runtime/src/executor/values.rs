//! Values in flight: port values (parsed and as JSON text), path
//! projection, input gathering with the dead-branch rule, and previews.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use weft_editor_protocol::events::Preview;

use crate::plan::{Plan, PlanNode, Producer, Source};

/// A value on a port: parsed, plus its JSON text so it can be handed to
/// the next node without serializing it again.
#[derive(Debug, Clone)]
pub struct Val(Arc<(Value, Arc<str>)>);

impl Val {
    pub fn from_value(value: Value) -> Val {
        let text: Arc<str> = value.to_string().into();
        Val(Arc::new((value, text)))
    }

    pub fn from_parts(value: Value, text: Arc<str>) -> Val {
        Val(Arc::new((value, text)))
    }

    pub fn value(&self) -> &Value {
        &self.0.0
    }

    pub fn text(&self) -> &Arc<str> {
        &self.0.1
    }
}

/// What a finished node left for its consumers.
#[derive(Debug, Clone)]
pub enum NodeState {
    Waiting,
    Running,
    /// Ran; the ports it set (ports absent here are dead).
    Done(Arc<HashMap<String, Val>>),
    /// Failed with `on_error: continue`: only `error` is set.
    Handled(Arc<HashMap<String, Val>>),
    Skipped,
    /// Failed for good (the run is failing).
    Failed,
}

impl NodeState {
    pub fn is_settled(&self) -> bool {
        !matches!(self, NodeState::Waiting | NodeState::Running)
    }

    fn port(&self, port: &str) -> Option<&Val> {
        match self {
            NodeState::Done(ports) | NodeState::Handled(ports) => ports.get(port),
            _ => None,
        }
    }
}

/// Follows `path` into `value`: object keys, or list indices.
pub fn project<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, seg| match v {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Why an input could not be gathered.
#[derive(Debug)]
pub enum GatherError {
    /// A required input has no live value: the node is skipped.
    Dead(String),
    /// A live value does not fit (missing path, wrong type): the node fails.
    Invalid { code: &'static str, message: String },
}

/// Reads one source: `Ok(None)` when it is dead.
fn read_source(
    plan: &Plan,
    states: &[NodeState],
    flow_inputs: &HashMap<String, Val>,
    src: &Source,
) -> Result<Option<Val>, GatherError> {
    let base = match src.producer {
        Producer::FlowInput => flow_inputs.get(&src.port),
        Producer::Node(i) => states[i].port(&src.port),
    };
    let Some(base) = base else { return Ok(None) };
    let val = if src.path.is_empty() {
        base.clone()
    } else {
        match project(base.value(), &src.path) {
            Some(v) => Val::from_value(v.clone()),
            None => {
                let _ = plan;
                return Err(GatherError::Invalid {
                    code: "input.path",
                    message: format!(
                        "`{}` does not exist in the value (`{}` has no `.{}`)",
                        src.label,
                        src.label
                            .strip_suffix(&format!(".{}", src.path.join(".")))
                            .unwrap_or(&src.label),
                        src.path.join(".")
                    ),
                });
            }
        }
    };
    Ok(Some(val))
}

/// Why a source is dead, for `node.skipped` reasons.
fn dead_reason(plan: &Plan, states: &[NodeState], src: &Source) -> String {
    match src.producer {
        Producer::FlowInput => format!("flow input `{}` was not given", src.port),
        Producer::Node(i) => {
            let id = &plan.nodes[i].id;
            match &states[i] {
                NodeState::Skipped => format!("`{id}` was skipped"),
                NodeState::Handled(_) => format!("`{id}` failed (its error went to `{id}.error`)"),
                _ => format!("`{id}.{}` was not set", src.port),
            }
        }
    }
}

/// Gathers a node's inputs as `(port, JSON text)`, applying the dead-branch
/// rule: a required input without a live value skips the node; a multi
/// input receives the list of its live values in edge order.
pub fn gather(
    plan: &Plan,
    node: &PlanNode,
    states: &[NodeState],
    flow_inputs: &HashMap<String, Val>,
) -> Result<Vec<(String, String)>, GatherError> {
    let mut out = Vec::with_capacity(node.inputs.len());
    for input in &node.inputs {
        let mut live: Vec<Val> = Vec::with_capacity(input.sources.len());
        for src in &input.sources {
            if let Some(v) = read_source(plan, states, flow_inputs, src)? {
                if let Some(ty) = &src.check
                    && let Err(e) = ty.check(v.value())
                {
                    return Err(GatherError::Invalid {
                        code: "input.type",
                        message: format!("input `{}` from `{}`: {e}", input.port, src.label),
                    });
                }
                live.push(v);
                if !input.multi {
                    break;
                }
            }
        }
        if live.is_empty() {
            if input.required {
                let reason = match input.sources.first() {
                    None => format!("required input `{}` has no edge", input.port),
                    Some(_) => format!(
                        "required input `{}` is dead: {}",
                        input.port,
                        input
                            .sources
                            .iter()
                            .map(|s| dead_reason(plan, states, s))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                return Err(GatherError::Dead(reason));
            }
            continue;
        }
        let text = if input.multi {
            let mut s = String::from("[");
            for (i, v) in live.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(v.text());
            }
            s.push(']');
            s
        } else {
            live[0].text().to_string()
        };
        out.push((input.port.clone(), text));
    }
    Ok(out)
}

/// The flow's outputs: each from its source, absent when dead.
pub fn flow_outputs(
    plan: &Plan,
    states: &[NodeState],
    flow_inputs: &HashMap<String, Val>,
) -> indexmap::IndexMap<String, Value> {
    let mut out = indexmap::IndexMap::new();
    for o in &plan.outputs {
        if let Ok(Some(v)) = read_source(plan, states, flow_inputs, &o.source) {
            out.insert(o.name.clone(), v.value().clone());
        }
    }
    out
}

/// A value as shown in an event: whole when its JSON text is at most
/// `limit` bytes, else its size and head.
pub fn preview(val: &Val, limit: usize) -> Preview {
    let text = val.text();
    if text.len() <= limit {
        return Preview::Full {
            value: val.value().clone(),
        };
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Preview::Truncated {
        bytes: text.len(),
        head: text[..cut].to_string(),
        href: None,
    }
}

/// Checks and converts the flow's inputs: unknown names, missing required
/// inputs and type mismatches are all reported.
pub fn prepare_inputs(
    plan: &Plan,
    given: &Map<String, Value>,
) -> Result<HashMap<String, Val>, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = HashMap::new();
    for name in given.keys() {
        if !plan.inputs.contains_key(name) {
            let known: Vec<&str> = plan.inputs.keys().map(String::as_str).collect();
            errors.push(format!(
                "unknown input `{name}` (the flow's inputs: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
    }
    for (name, decl) in &plan.inputs {
        match given.get(name).or(decl.default_value()) {
            Some(v) => match decl.ty().check(v) {
                Ok(()) => {
                    out.insert(name.clone(), Val::from_value(v.clone()));
                }
                Err(e) => errors.push(format!("input `{name}`: {e}")),
            },
            None if decl.is_required() => {
                errors.push(format!("missing required input `{name}` ({})", decl.ty()))
            }
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
