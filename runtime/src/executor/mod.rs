//! The DAG executor.
//!
//! A run walks its [`Plan`]: every node starts as soon as all the nodes it
//! reads from have settled, and independent branches run concurrently
//! (at most `max_concurrency` nodes of one run at a time).
//!
//! **Dead branches.** An output port a node leaves unset is dead, and so
//! are the edges leaving it. When its producers have settled, a node runs
//! only if each of its *required* inputs has a live value; otherwise it is
//! skipped (`node.skipped`) and all its outputs are dead, so the skip
//! propagates. Optional inputs with no live value are simply absent. A
//! `multi` input receives the list of its live values in edge order, and is
//! live when at least one is; `flow.merge` uses that to take the first live
//! branch. A single-valued input has exactly one edge (validation enforces
//! it).
//!
//! **Failures.** Each attempt has a deadline (`policy.timeout_ms`); failed
//! attempts are retried per `policy.retry` with exponential backoff unless
//! the error is not retryable. A node that fails for good fails the run and
//! cancels its other nodes — unless its policy is `on_error: continue`:
//! then its `error` output carries `{node, code, message}` and its other
//! outputs are dead.
//!
//! **Editor runs.** [`RunOptions`] can pin nodes (they do not run; their
//! outputs are given values, checked against the output port types, and
//! reported by a `node.finished` with `pinned: true`), restrict a run to a
//! set of nodes (the others are skipped, so a run can stop at a node), and
//! keep every node's full inputs and outputs in [`RunOutcome::nodes`] (with
//! secrets redacted) for run history and "start from here" runs.
//!
//! ## Layout
//! - this module: the scheduling loop, cancellation, run events.
//! - [`attempt`]: one node's attempts, retries and output checks.
//! - [`values`]: values, input gathering, previews, flow inputs/outputs.
//! - `partial`: pinned outputs and recorded node values (editor runs).

mod attempt;
mod partial;
mod tasks;
pub mod values;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use weft_editor_protocol::events::{
    ErrorInfo, EventBody, NodeFailed, NodeFinished, NodeSkipped, RunFinished, RunStarted, RunStatus,
};
use weft_editor_protocol::flow::OnError;

use crate::events::{EventSink, RunEmitter};
use crate::plan::Plan;
use attempt::{Attempted, run_node};
use partial::{Ports, RecordedValues, pinned_values};
use tasks::Tasks;
use values::{GatherError, NodeState, Val, flow_outputs, gather, prepare_inputs};

/// Default size above which event previews are truncated (bytes of JSON).
pub const DEFAULT_PREVIEW_LIMIT: usize = 4096;

/// How to run a plan.
#[derive(Clone)]
pub struct RunOptions {
    pub run_id: String,
    pub sink: Arc<dyn EventSink>,
    /// Cancelling it stops the run's nodes at their next epoch tick.
    pub cancel: CancellationToken,
    /// Node output previews in events are cut above this many bytes.
    pub preview_limit: usize,
    /// Nodes that do not run: their outputs are these values
    /// (node id → port → value). Unknown nodes or ports and values of the
    /// wrong type fail the run before any node starts.
    pub pinned: HashMap<String, Map<String, Value>>,
    /// When set, only these nodes run (or are pinned); every other node is
    /// skipped, and what reads from it is skipped in turn.
    pub only: Option<HashSet<String>>,
    /// Keep each node's full inputs and outputs in [`RunOutcome::nodes`].
    pub record_values: bool,
    /// The secrets the flow reads (`secrets` capability) in this run; the
    /// host's when `None`. (LLM provider keys always come from the host.)
    pub secrets: Option<Arc<crate::capabilities::Secrets>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("run_id", &self.run_id)
            .finish()
    }
}

impl RunOptions {
    pub fn new(run_id: impl Into<String>, sink: Arc<dyn EventSink>) -> Self {
        RunOptions {
            run_id: run_id.into(),
            sink,
            cancel: CancellationToken::new(),
            preview_limit: DEFAULT_PREVIEW_LIMIT,
            pinned: HashMap::new(),
            only: None,
            record_values: false,
            secrets: None,
        }
    }
}

/// What is wrong with a run's inputs and pinned values, found by
/// [`check_start`] (every problem, each naming its input, node or port).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartErrors {
    pub inputs: Vec<String>,
    pub pinned: Vec<String>,
}

impl StartErrors {
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.pinned.is_empty()
    }
}

impl std::fmt::Display for StartErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: Vec<&str> = self
            .inputs
            .iter()
            .chain(&self.pinned)
            .map(String::as_str)
            .collect();
        f.write_str(&all.join("; "))
    }
}

/// Checks the inputs and pinned values a run would start with, so that a
/// server can refuse a bad request before creating the run (the run checks
/// them again, and fails with code `input` or `pinned`).
pub fn check_start(
    plan: &Plan,
    inputs: &Map<String, Value>,
    pinned: &HashMap<String, Map<String, Value>>,
) -> Result<(), StartErrors> {
    let errors = StartErrors {
        inputs: prepare_inputs(plan, inputs).err().unwrap_or_default(),
        pinned: pinned_values(plan, pinned).err().unwrap_or_default(),
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// The flow's outputs (dead ones absent).
    pub outputs: indexmap::IndexMap<String, Value>,
    pub error: Option<ErrorInfo>,
    pub duration: Duration,
    /// With [`RunOptions::record_values`]: the full inputs and outputs of
    /// every node that ran or was pinned, in the order they settled.
    pub nodes: indexmap::IndexMap<String, NodeValues>,
}

/// One node's full values (secrets redacted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeValues {
    pub inputs: Map<String, Value>,
    /// The ports it set (a node with `on_error: continue` that failed has
    /// only `error`).
    pub outputs: Map<String, Value>,
    /// It was pinned, not run.
    pub pinned: bool,
}

/// A new run id: time-ordered and unique within the process and, with
/// overwhelming probability, across processes.
pub fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt = std::collections::hash_map::RandomState::new();
    let mix = std::hash::BuildHasher::hash_one(&salt, (n, std::process::id()));
    format!("r{:011x}{:08x}", now.as_millis(), mix as u32)
}

/// Runs a plan to completion (or failure, or cancellation). Never panics on
/// bad input: invalid flow inputs end the run as `failed` with code `input`.
pub async fn execute(plan: Arc<Plan>, inputs: Map<String, Value>, opts: RunOptions) -> RunOutcome {
    let started = Instant::now();
    let emitter = Arc::new(
        RunEmitter::new(opts.run_id.clone(), opts.sink.clone()).with_secrets(opts.secrets.clone()),
    );
    emitter.emit(EventBody::RunStarted(RunStarted {
        flow: plan.flow.clone(),
        nodes: plan
            .order
            .iter()
            .map(|&i| plan.nodes[i].id.to_string())
            .collect(),
    }));

    let finish = |status: RunStatus,
                  outputs: indexmap::IndexMap<String, Value>,
                  error: Option<ErrorInfo>,
                  nodes: indexmap::IndexMap<String, NodeValues>| {
        let duration = started.elapsed();
        // Nothing a run reports may contain a secret it revealed.
        let redactor = emitter.redactor();
        let outputs: indexmap::IndexMap<String, Value> = outputs
            .into_iter()
            .map(|(k, v)| (k, redactor.redact_value(&v)))
            .collect();
        let error = error.map(|e| ErrorInfo {
            message: redactor.redact_str(&e.message),
            ..e
        });
        emitter.emit(EventBody::RunFinished(RunFinished {
            status,
            outputs: Clone::clone(&outputs),
            error: error.clone(),
            duration_ms: ms(duration),
        }));
        let nodes = nodes
            .into_iter()
            .map(|(id, v)| {
                let redact = |m: Map<String, Value>| -> Map<String, Value> {
                    m.into_iter()
                        .map(|(k, v)| (k, redactor.redact_value(&v)))
                        .collect()
                };
                let values = NodeValues {
                    inputs: redact(v.inputs),
                    outputs: redact(v.outputs),
                    pinned: v.pinned,
                };
                (id, values)
            })
            .collect();
        RunOutcome {
            status,
            outputs,
            error,
            duration,
            nodes,
        }
    };

    let flow_inputs = match prepare_inputs(&plan, &inputs) {
        Ok(v) => v,
        Err(errors) => {
            let error = ErrorInfo {
                code: "input".into(),
                message: errors.join("; "),
                node: None,
            };
            return finish(
                RunStatus::Failed,
                Default::default(),
                Some(error),
                Default::default(),
            );
        }
    };
    let pinned = match pinned_values(&plan, &opts.pinned) {
        Ok(p) => p,
        Err(errors) => {
            let error = ErrorInfo {
                code: "pinned".into(),
                message: errors.join("; "),
                node: None,
            };
            return finish(
                RunStatus::Failed,
                Default::default(),
                Some(error),
                Default::default(),
            );
        }
    };

    let mut run = Run {
        plan: plan.clone(),
        emitter: emitter.clone(),
        states: vec![NodeState::Waiting; plan.nodes.len()],
        remaining: plan.nodes.iter().map(|n| n.upstream.len()).collect(),
        flow_inputs: Arc::new(flow_inputs),
        tasks: Tasks::default(),
        permits: Arc::new(Semaphore::new(plan.max_concurrency)),
        preview_limit: opts.preview_limit,
        settled: 0,
        started_at: HashMap::new(),
        pinned,
        only: opts.only.clone(),
        record: opts.record_values.then(RecordedValues::default),
    };

    let run_deadline = plan.run_timeout.map(|t| tokio::time::Instant::now() + t);
    let result = run.drive(&opts.cancel, run_deadline).await;
    // Aborted node tasks must be gone before `run.finished`, so no event of
    // theirs can follow it.
    run.tasks.shutdown().await;
    let outputs = match &result {
        Ok(()) => flow_outputs(&plan, &run.states, &run.flow_inputs),
        Err(_) => Default::default(),
    };
    let nodes = run.recorded_values();
    match result {
        Ok(()) => finish(RunStatus::Succeeded, outputs, None, nodes),
        Err(Stop::Failed(error)) => finish(RunStatus::Failed, outputs, Some(error), nodes),
        Err(Stop::Cancelled(error)) => finish(RunStatus::Cancelled, outputs, Some(error), nodes),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

enum Stop {
    Failed(ErrorInfo),
    Cancelled(ErrorInfo),
}

struct Run {
    plan: Arc<Plan>,
    emitter: Arc<RunEmitter>,
    states: Vec<NodeState>,
    /// Producers of each node that have not settled yet.
    remaining: Vec<usize>,
    flow_inputs: Arc<HashMap<String, Val>>,
    tasks: Tasks,
    permits: Arc<Semaphore>,
    preview_limit: usize,
    settled: usize,
    started_at: HashMap<usize, Instant>,
    pinned: HashMap<usize, Ports>,
    only: Option<HashSet<String>>,
    record: Option<RecordedValues>,
}

impl Run {
    async fn drive(
        &mut self,
        cancel: &CancellationToken,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), Stop> {
        let roots: Vec<usize> = self
            .plan
            .order
            .iter()
            .copied()
            .filter(|&i| self.remaining[i] == 0)
            .collect();
        for i in roots {
            self.schedule(i)?;
        }
        while self.settled < self.plan.nodes.len() {
            let joined = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    return Err(self.abort("cancelled", "the run was cancelled", Stop::Cancelled));
                }
                _ = sleep_until(deadline) => {
                    return Err(self.abort("run_timeout", "the run exceeded its deadline (settings.run_timeout_ms)", Stop::Failed));
                }
                joined = self.tasks.join_next() => joined,
            };
            let Some(joined) = joined else {
                // Nothing running and not everything settled: cannot happen
                // for a validated plan; report instead of hanging.
                return Err(Stop::Failed(ErrorInfo {
                    code: "internal".into(),
                    message: "the executor stalled with nodes left to run".into(),
                    node: None,
                }));
            };
            let (i, attempted) = joined.map_err(|message| {
                Stop::Failed(ErrorInfo {
                    code: "internal".into(),
                    message: format!("a node task ended abnormally: {message}"),
                    node: None,
                })
            })?;
            self.started_at.remove(&i);
            match attempted {
                Attempted::Ok(ports) => {
                    if let Some(record) = &mut self.record {
                        record.settled.push((i, false));
                    }
                    self.settle(i, NodeState::Done(ports))?
                }
                Attempted::Failed(failure) => self.fail(i, failure)?,
            }
        }
        Ok(())
    }

    /// Decides what to do with a node whose producers have all settled.
    fn schedule(&mut self, i: usize) -> Result<(), Stop> {
        let node = &self.plan.nodes[i];
        if let Some(ports) = self.pinned.get(&i).cloned() {
            let previews = node
                .spec
                .outputs
                .iter()
                .filter_map(|p| {
                    ports
                        .get(&p.name)
                        .map(|v| (p.name.clone(), values::preview(v, self.preview_limit)))
                })
                .collect();
            self.emitter.emit(EventBody::NodeFinished(NodeFinished {
                node: node.id.to_string(),
                duration_ms: 0.0,
                attempts: 0,
                outputs: previews,
                usage: None,
                cost: None,
                pinned: true,
            }));
            if let Some(record) = &mut self.record {
                record.settled.push((i, true));
            }
            return self.settle(i, NodeState::Done(ports));
        }
        if let Some(only) = &self.only
            && !only.contains(node.id.as_ref())
        {
            self.emitter.emit(EventBody::NodeSkipped(NodeSkipped {
                node: node.id.to_string(),
                reason: "not part of this partial run".into(),
            }));
            return self.settle(i, NodeState::Skipped);
        }
        match gather(&self.plan, node, &self.states, &self.flow_inputs) {
            Ok(inputs) => {
                if let Some(record) = &mut self.record {
                    record.inputs.insert(i, inputs.clone());
                }
                self.states[i] = NodeState::Running;
                self.started_at.insert(i, Instant::now());
                let plan = self.plan.clone();
                let emitter = self.emitter.clone();
                let permits = self.permits.clone();
                let preview_limit = self.preview_limit;
                self.tasks.spawn(async move {
                    let attempted =
                        run_node(&plan, i, inputs, emitter, permits, preview_limit).await;
                    (i, attempted)
                });
                Ok(())
            }
            Err(GatherError::Dead(reason)) => {
                self.emitter.emit(EventBody::NodeSkipped(NodeSkipped {
                    node: node.id.to_string(),
                    reason,
                }));
                self.settle(i, NodeState::Skipped)
            }
            Err(GatherError::Invalid { code, message }) => self.fail(
                i,
                attempt::Failure {
                    error: ErrorInfo {
                        code: code.into(),
                        message,
                        node: Some(node.id.to_string()),
                    },
                    attempt: 0,
                    duration: Duration::ZERO,
                },
            ),
        }
    }

    /// Records a node's final state and schedules consumers that became ready.
    fn settle(&mut self, i: usize, state: NodeState) -> Result<(), Stop> {
        self.states[i] = state;
        self.settled += 1;
        let plan = self.plan.clone();
        for &d in &plan.nodes[i].downstream {
            self.remaining[d] -= 1;
            if self.remaining[d] == 0 {
                self.schedule(d)?;
            }
        }
        Ok(())
    }

    /// A node failed for good: continue via its `error` port, or fail the run.
    fn fail(&mut self, i: usize, failure: attempt::Failure) -> Result<(), Stop> {
        let node = &self.plan.nodes[i];
        let handled = node.on_error == OnError::Continue;
        self.emitter.emit(EventBody::NodeFailed(NodeFailed {
            node: node.id.to_string(),
            attempt: failure.attempt,
            duration_ms: ms(failure.duration),
            error: failure.error.clone(),
            will_retry: false,
            retry_in_ms: None,
            handled,
        }));
        if handled {
            let error = serde_json::json!({
                "node": node.id.as_ref(),
                "code": failure.error.code,
                "message": failure.error.message,
            });
            let ports = HashMap::from([(
                weft_editor_protocol::flow::ERROR_PORT.to_string(),
                Val::from_value(error),
            )]);
            if let Some(record) = &mut self.record {
                record.settled.push((i, false));
            }
            return self.settle(i, NodeState::Handled(Arc::new(ports)));
        }
        self.states[i] = NodeState::Failed;
        let error = failure.error;
        Err(self.abort_with(Stop::Failed(error)))
    }

    /// Stops every running node, reporting each as cancelled.
    fn abort(&mut self, code: &str, message: &str, wrap: fn(ErrorInfo) -> Stop) -> Stop {
        self.abort_with(wrap(ErrorInfo {
            code: code.into(),
            message: message.into(),
            node: None,
        }))
    }

    fn abort_with(&mut self, stop: Stop) -> Stop {
        self.tasks.abort_all();
        let reason = match &stop {
            Stop::Cancelled(_) => "the run was cancelled".to_string(),
            Stop::Failed(e) => match &e.node {
                Some(n) => format!("stopped because `{n}` failed"),
                None => format!("stopped: {}", e.message),
            },
        };
        let mut running: Vec<usize> = self.started_at.keys().copied().collect();
        running.sort_unstable();
        for i in running {
            let started = self
                .started_at
                .remove(&i)
                .map(|t| t.elapsed())
                .unwrap_or_default();
            self.emitter.emit(EventBody::NodeFailed(NodeFailed {
                node: self.plan.nodes[i].id.to_string(),
                attempt: 0,
                duration_ms: ms(started),
                error: ErrorInfo {
                    code: "cancelled".into(),
                    message: reason.clone(),
                    node: Some(self.plan.nodes[i].id.to_string()),
                },
                will_retry: false,
                retry_in_ms: None,
                handled: false,
            }));
        }
        stop
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
