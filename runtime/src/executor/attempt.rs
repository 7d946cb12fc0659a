//! One node's attempts: concurrency permit, deadline per attempt, retries
//! with exponential backoff, output checks, and the node's own events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use tokio::sync::Semaphore;
use weft_editor_protocol::events::{
    ErrorInfo, EventBody, NodeFailed, NodeFinished, NodeStarted, Usage,
};

use super::ms;
use super::values::{Val, preview};
use crate::events::RunEmitter;
use crate::host::state::NodeEvents;
use crate::host::{NodeCall, NodeFailure};
use crate::plan::Plan;

/// A node's final failure.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: ErrorInfo,
    pub attempt: u32,
    pub duration: Duration,
}

/// What a node task reports back to the scheduler.
#[derive(Debug)]
pub enum Attempted {
    Ok(Arc<HashMap<String, Val>>),
    Failed(Failure),
}

pub async fn run_node(
    plan: &Plan,
    i: usize,
    inputs: Vec<(String, String)>,
    emitter: Arc<RunEmitter>,
    permits: Arc<Semaphore>,
    preview_limit: usize,
) -> Attempted {
    let node = &plan.nodes[i];
    let error = |code: &str, message: String| ErrorInfo {
        code: code.into(),
        message,
        node: Some(node.id.to_string()),
    };
    // The semaphore is never closed, so this only fails if the run is being
    // torn down; treat it like cancellation.
    let Ok(_permit) = permits.acquire().await else {
        return Attempted::Failed(Failure {
            error: error("cancelled", "the run was cancelled".into()),
            attempt: 0,
            duration: Duration::ZERO,
        });
    };

    let events = NodeEvents {
        emitter: emitter.clone(),
        node: node.id.clone(),
    };
    let max_attempts = node
        .retry
        .as_ref()
        .map(|r| r.max_attempts.max(1))
        .unwrap_or(1);
    let mut backoff = node
        .retry
        .as_ref()
        .map(|r| r.backoff_ms as f64)
        .unwrap_or(0.0);
    let multiplier = node.retry.as_ref().map(|r| r.multiplier).unwrap_or(1.0);
    let label = node.component.label();

    let mut attempt = 1;
    loop {
        emitter.emit(EventBody::NodeStarted(NodeStarted {
            node: node.id.to_string(),
            node_type: label.clone(),
            attempt,
        }));
        let started = Instant::now();
        let result = node
            .component
            .run(NodeCall {
                node_id: &node.id,
                config: &node.config,
                attempt,
                inputs: inputs.clone(),
                events: Some(events.clone()),
                timeout: node.timeout,
                memory_limit: node.memory_limit,
                grants: plan.grants.clone(),
            })
            .await
            .and_then(|run| Ok((check_outputs(plan, i, run.outputs)?, run.usage, run.cost)));
        let duration = started.elapsed();

        match result {
            Ok((ports, usage, cost)) => {
                let previews: IndexMap<String, _> = node
                    .spec
                    .outputs
                    .iter()
                    .filter_map(|p| {
                        ports
                            .get(&p.name)
                            .map(|v| (p.name.clone(), preview(v, preview_limit)))
                    })
                    .collect();
                emitter.emit(EventBody::NodeFinished(NodeFinished {
                    node: node.id.to_string(),
                    duration_ms: ms(duration),
                    attempts: attempt,
                    outputs: previews,
                    usage: usage.map(|u| Usage {
                        prompt_tokens: u.prompt,
                        completion_tokens: u.completion,
                        total_tokens: u.total,
                    }),
                    cost,
                    pinned: false,
                }));
                return Attempted::Ok(Arc::new(ports));
            }
            Err(failure) => {
                let info = error(failure.code(), failure.to_string());
                if attempt < max_attempts && failure.retryable() {
                    let wait = Duration::from_millis(backoff.round() as u64);
                    emitter.emit(EventBody::NodeFailed(NodeFailed {
                        node: node.id.to_string(),
                        attempt,
                        duration_ms: ms(duration),
                        error: info,
                        will_retry: true,
                        retry_in_ms: Some(wait.as_millis() as u64),
                        handled: false,
                    }));
                    tokio::time::sleep(wait).await;
                    backoff *= multiplier;
                    attempt += 1;
                    continue;
                }
                return Attempted::Failed(Failure {
                    error: info,
                    attempt,
                    duration,
                });
            }
        }
    }
}

/// Parses the node's outputs and holds them to its spec: every port must
/// be declared, and every value must have the port's type.
fn check_outputs(
    plan: &Plan,
    i: usize,
    outputs: Vec<(String, String)>,
) -> Result<HashMap<String, Val>, NodeFailure> {
    let node = &plan.nodes[i];
    let mut ports = HashMap::with_capacity(outputs.len());
    for (port, text) in outputs {
        let Some(spec) = node.spec.output(&port) else {
            return Err(NodeFailure::Node {
                code: "output.unknown".into(),
                message: format!("the node set output `{port}`, which its spec does not declare"),
                retryable: false,
            });
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| NodeFailure::Node {
                code: "output.json".into(),
                message: format!("output `{port}` is not valid JSON: {e}"),
                retryable: false,
            })?;
        spec.ty.check(&value).map_err(|e| NodeFailure::Node {
            code: "output.type".into(),
            message: format!("output `{port}` does not match its declared type: {e}"),
            retryable: false,
        })?;
        ports.insert(port, Val::from_parts(value, text.into()));
    }
    Ok(ports)
}
