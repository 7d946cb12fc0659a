//! Editor runs: pinned node outputs checked against the plan, and the full
//! node values a run keeps when asked ([`super::RunOptions::record_values`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::values::{NodeState, Val};
use super::{NodeValues, Run};
use crate::plan::Plan;

/// Checks pinned values against the plan: every node and port must exist
/// and every value must fit its port's type. Reports every problem.
pub(super) fn pinned_values(
    plan: &Plan,
    pinned: &HashMap<String, Map<String, Value>>,
) -> Result<HashMap<usize, Ports>, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = HashMap::new();
    let mut names: Vec<&String> = pinned.keys().collect();
    names.sort();
    for id in names {
        let Some(i) = plan.nodes.iter().position(|n| n.id.as_ref() == id.as_str()) else {
            errors.push(format!("pinned node `{id}` is not in the flow"));
            continue;
        };
        let node = &plan.nodes[i];
        let mut ports = HashMap::new();
        let mut ports_given: Vec<(&String, &Value)> = pinned[id].iter().collect();
        ports_given.sort_by_key(|(port, _)| *port);
        for (port, value) in ports_given {
            match node.spec.output(port) {
                None => errors.push(format!(
                    "pinned `{id}.{port}`: `{id}` has no output `{port}`"
                )),
                Some(spec) => match spec.ty.check(value) {
                    Ok(()) => {
                        ports.insert(port.clone(), Val::from_value(value.clone()));
                    }
                    Err(e) => errors.push(format!("pinned `{id}.{port}` ({}): {e}", spec.ty)),
                },
            }
        }
        out.insert(i, Arc::new(ports));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The ports a node set.
pub(super) type Ports = Arc<HashMap<String, Val>>;

/// Full node values kept for [`RunOutcome::nodes`].
#[derive(Default)]
pub(super) struct RecordedValues {
    /// Inputs as gathered (JSON text), by node index.
    pub(super) inputs: HashMap<usize, Vec<(String, String)>>,
    /// Nodes in the order they settled with values.
    pub(super) settled: Vec<(usize, bool)>,
}

impl Run {
    /// The recorded values, in settle order (empty unless recording).
    pub(super) fn recorded_values(&mut self) -> indexmap::IndexMap<String, NodeValues> {
        let Some(record) = self.record.take() else {
            return Default::default();
        };
        let mut out = indexmap::IndexMap::with_capacity(record.settled.len());
        for (i, pinned) in record.settled {
            let ports = match &self.states[i] {
                NodeState::Done(ports) | NodeState::Handled(ports) => ports,
                _ => continue,
            };
            let mut outputs: Map<String, Value> = ports
                .iter()
                .map(|(k, v)| (k.clone(), v.value().clone()))
                .collect();
            outputs.sort_keys();
            let inputs = record
                .inputs
                .get(&i)
                .map(|pairs| {
                    pairs
                        .iter()
                        .map(|(k, text)| {
                            let value = serde_json::from_str(text)
                                .unwrap_or_else(|_| Value::String(text.clone()));
                            (k.clone(), value)
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.insert(
                self.plan.nodes[i].id.to_string(),
                NodeValues {
                    inputs,
                    outputs,
                    pinned,
                },
            );
        }
        out
    }
}
