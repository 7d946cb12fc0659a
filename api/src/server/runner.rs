//! Starting, following, cancelling and draining runs.
//!
//! [`Runner::start`] records the run (`running`), registers it with the
//! [`Hub`] and spawns it. A run asked to be recorded late
//! ([`RunRequest::record_late`]: a published route's sync and stream
//! modes, whose caller learns the run's id only with the answer) is
//! recorded by its first write instead: a run over within a few
//! milliseconds is stored whole in one write, and one cut off by a crash
//! before then leaves no record (its caller got no answer either). While
//! the database is unavailable such runs are recorded up front, and so
//! refused (503) as before. Its events go from the executor's sink into the
//! hub's in-memory log, which never blocks the run: websocket subscribers
//! read it, and so does the store: a run that lasts longer than a few
//! milliseconds has its events stored while it runs ([`Flusher`]), and when
//! it ends its last events, node records (full values) and end are stored
//! in one write: a finished run always has all its events and
//! records, and a run cut off by a crash stays `running` until the next
//! start marks it `failed: interrupted`. Every one of these writes goes
//! through the server's [`Journal`], which stores the writes of many runs
//! in one transaction under load.
//!
//! While the database is unavailable, these writes are retried (backoff up
//! to 2 s) until it answers: a run that ends during an outage is stored
//! whole once the database is back. Only a shutdown gives up on them, 5 s
//! after the drain deadline; such a run stays `running` (its stored events
//! a gap-free prefix) and the next start marks it interrupted.
//!
//! After each run, the flow's history is pruned to the server's
//! [`RetentionPolicy`] (count and/or age, per flow); `weft serve` also
//! sweeps every flow hourly so that age limits apply to idle flows.
//!
//! Compiled plans are cached by flow content hash, so a published flow is
//! validated and compiled once. A flow that reads secrets gets its
//! project's (for the run's stage, else the project-wide ones), never the
//! server's own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weft_editor_protocol::events::{EventBody, RunEvent};
use weft_runtime::capabilities::Secrets;
use weft_runtime::executor::{NodeValues, check_start, new_run_id};
use weft_runtime::plan::Plan;
use weft_runtime::{Engine, EngineError, EventSink, RunOptions, RunOutcome};

use super::error::ApiError;
use super::hub::{Hub, LiveRun};
use super::journal::{Finished, Flusher, Journal, persist};
use super::metrics::Metrics;
use crate::store::flows::Selector;
use crate::store::{
    Instance, JournalOp, NewRun, NodeRecord, NodeStatus, RetentionPolicy, RunFinish, Store,
    content_hash,
};

/// How long, after the drain deadline has passed and the remaining runs are
/// cancelled, their ends may take to be stored before the runner gives up.
const STORE_GRACE: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub project: String,
    pub flow: String,
    /// The stored version, or `None` for a draft.
    pub version: Option<String>,
    /// The flow document (the version's, or the draft).
    pub document: Arc<Value>,
    pub stage: Option<String>,
    /// `api`, `editor`, `http`.
    pub trigger: String,
    pub inputs: Map<String, Value>,
    pub pinned: HashMap<String, Map<String, Value>>,
    pub only: Option<HashSet<String>>,
    /// Record the run only once it has run for a while (or is over): for
    /// callers that get the run's id only with its answer (a published
    /// route's sync and stream modes). Saves a short run a write.
    pub record_late: bool,
}

/// A started run.
#[derive(Debug)]
pub struct Started {
    pub id: String,
    pub live: Arc<LiveRun>,
    /// Resolves when the run has ended and is stored.
    pub done: oneshot::Receiver<RunOutcome>,
}

/// The server's runs.
#[derive(Debug, Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    store: Store,
    journal: Journal,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    plans: Mutex<HashMap<String, Arc<Plan>>>,
    cancels: Mutex<HashMap<String, CancellationToken>>,
    tracker: TaskTracker,
    /// The runtime runs execute on (the one the runner was made on),
    /// whoever starts them: an editor session runs on a lower-priority
    /// runtime of its own ([`super::background`]), its runs must not.
    runtime: Option<tokio::runtime::Handle>,
    draining: AtomicBool,
    /// Cancelled when a shutdown stops waiting for the database.
    give_up: CancellationToken,
    preview_limit: usize,
    retention: RetentionPolicy,
    /// This process, recorded on every run it starts (see
    /// [`crate::store::instances`]).
    instance: std::sync::OnceLock<Arc<Instance>>,
}

/// Plans kept compiled, at most.
const PLAN_CACHE: usize = 512;

impl Runner {
    pub fn new(
        engine: Engine,
        store: Store,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        preview_limit: usize,
        retention: RetentionPolicy,
    ) -> Runner {
        let runtime = tokio::runtime::Handle::try_current().ok();
        Runner {
            inner: Arc::new(Inner {
                engine,
                journal: Journal::new(store.clone(), metrics.clone(), runtime.clone()),
                store,
                hub,
                metrics,
                plans: Mutex::new(HashMap::new()),
                cancels: Mutex::new(HashMap::new()),
                tracker: TaskTracker::new(),
                runtime,
                draining: AtomicBool::new(false),
                give_up: CancellationToken::new(),
                preview_limit,
                retention,
                instance: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Records `instance` on the runs started from now on (once).
    pub fn set_instance(&self, instance: Arc<Instance>) {
        let _ = self.inner.instance.set(instance);
    }

    /// This process's instance, once set.
    pub fn instance(&self) -> Option<Arc<Instance>> {
        self.inner.instance.get().cloned()
    }

    /// Spawns a run's task on the runs' runtime.
    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner.runtime {
            Some(rt) => self.inner.tracker.spawn_on(task, rt),
            None => self.inner.tracker.spawn(task),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Validates and compiles a document (cached by content hash).
    pub async fn plan(&self, document: &Value) -> Result<Arc<Plan>, ApiError> {
        self.plan_keyed(content_hash(document), document).await
    }

    /// The plan of what `request` runs: cached by its version when it
    /// names one by id (versions never change, and hashing the document
    /// on every run would cost more than the lookup), else by content.
    async fn plan_of(&self, request: &RunRequest) -> Result<Arc<Plan>, ApiError> {
        match &request.version {
            Some(version) if matches!(Selector::parse(version), Selector::Id(_)) => {
                let key = format!("{}\0{}\0{version}", request.project, request.flow);
                self.plan_keyed(key, &request.document).await
            }
            _ => self.plan(&request.document).await,
        }
    }

    async fn plan_keyed(&self, hash: String, document: &Value) -> Result<Arc<Plan>, ApiError> {
        if let Some(plan) = self
            .inner
            .plans
            .lock()
            .ok()
            .and_then(|p| p.get(&hash).cloned())
        {
            return Ok(plan);
        }
        let engine = &self.inner.engine;
        let text = document.to_string();
        let plan = match engine.compile_text(&text).await {
            Ok(plan) => plan,
            Err(EngineError::Invalid(diags)) => return Err(ApiError::invalid_flow(&diags)),
            Err(e) => return Err(ApiError::internal(e.to_string())),
        };
        if let Ok(mut plans) = self.inner.plans.lock() {
            if plans.len() >= PLAN_CACHE {
                plans.clear();
            }
            plans.insert(hash, plan.clone());
        }
        Ok(plan)
    }

    /// Records and starts a run.
    pub async fn start(&self, request: RunRequest) -> Result<Started, ApiError> {
        if self.inner.draining.load(Ordering::Acquire) {
            return Err(ApiError::unavailable(
                "the server is shutting down and starts no new runs",
            ));
        }
        let plan = self.plan_of(&request).await?;
        // Bad inputs or pins are the caller's mistake: refuse them before a
        // run exists (400, every problem listed).
        if let Err(errors) = check_start(&plan, &request.inputs, &request.pinned) {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_inputs",
                format!("the run cannot start: {errors}"),
            )
            .with_details(json!({"inputs": errors.inputs, "pinned": errors.pinned})));
        }
        // The project's secrets (for the stage), only for flows that read any.
        let secrets = if plan.grants.secrets.is_empty() {
            None
        } else {
            let values = self
                .inner
                .store
                .resolve_secrets(&request.project, request.stage.as_deref())
                .await?;
            let secrets = values
                .into_iter()
                .fold(Secrets::none(), |s, (name, value)| s.with(name, value));
            Some(Arc::new(secrets))
        };
        let id = new_run_id();
        // While the database is away, a run that cannot be recorded is
        // refused at once (503), as one recorded up front would be.
        let late = request.record_late && !self.inner.journal.is_down();
        let new = NewRun {
            id: id.clone(),
            project: request.project.clone(),
            flow: request.flow.clone(),
            version: request.version.clone(),
            document: request
                .version
                .is_none()
                .then(|| Value::clone(&request.document)),
            stage: request.stage.clone(),
            trigger: request.trigger.clone(),
            inputs: Value::Object(request.inputs.clone()),
            instance: self.inner.instance.get().map(|i| i.id()),
            started_at: late.then(crate::store::now_ms),
        };
        let unrecorded = if late {
            Some(new)
        } else {
            self.inner
                .journal
                .write(JournalOp::Create(new))
                .await
                .map_err(|(e, _)| ApiError::from(e))?;
            None
        };
        let live = self.inner.hub.begin(&id, &request.project, &request.flow);
        let cancel = CancellationToken::new();
        if let Ok(mut cancels) = self.inner.cancels.lock() {
            cancels.insert(id.clone(), cancel.clone());
        }
        let sink = Arc::new(ServerSink { live: live.clone() });
        let mut opts = RunOptions::new(id.clone(), sink);
        opts.cancel = cancel;
        opts.preview_limit = self.inner.preview_limit;
        opts.pinned = request.pinned;
        opts.only = request.only;
        opts.record_values = true;
        opts.secrets = secrets;
        let (done_tx, done_rx) = oneshot::channel();
        let inner = self.inner.clone();
        let run_id = id.clone();
        let (project, flow) = (request.project.clone(), request.flow.clone());
        let mut flusher = Flusher::new(inner.journal.clone(), inner.give_up.clone(), live.clone());
        if let Some(new) = unrecorded {
            flusher = flusher.unrecorded(new);
        }
        self.inner.metrics.run_started();
        self.spawn(async move {
            let started = Instant::now();
            let run = inner.engine.run(plan, request.inputs, opts);
            tokio::pin!(run);
            // A long run's events are stored while it runs.
            let outcome = loop {
                tokio::select! {
                    biased;
                    outcome = &mut run => break outcome,
                    () = flusher.due() => flusher.flush(),
                }
            };
            let Finished {
                stored,
                mut events,
                pending,
                unrecorded,
            } = flusher.finish().await;
            let records = node_records(&events, &outcome.nodes);
            let pending = events.split_off(pending);
            inner
                .metrics
                .run_finished(&outcome, &records, started.elapsed());
            let finish = RunFinish {
                status: outcome.status.into(),
                outputs: Some(Value::Object(outcome.outputs.clone().into_iter().collect())),
                error: outcome
                    .error
                    .as_ref()
                    .and_then(|e| serde_json::to_value(e).ok()),
                finished_at: crate::store::now_ms(),
                duration_ms: outcome.duration.as_secs_f64() * 1000.0,
            };
            // The last events, the node records and the end in one
            // write; only with every earlier event stored, otherwise it
            // stays `running` until a sweep marks it interrupted.
            if stored {
                let op = match unrecorded {
                    Some(new) => JournalOp::Record {
                        new: Box::new(new),
                        events: pending,
                        records,
                        finish,
                    },
                    None => JournalOp::Finish {
                        run: run_id.clone(),
                        events: pending,
                        records,
                        finish,
                    },
                };
                persist(
                    &inner.journal,
                    &inner.give_up,
                    &run_id,
                    "the end of the run",
                    op,
                )
                .await;
            } else {
                tracing::error!(run = %run_id, "the run's events are not all stored: \
                    it stays running until a sweep marks it interrupted");
            }
            if let Ok(mut cancels) = inner.cancels.lock() {
                cancels.remove(&run_id);
            }
            // Keep the flow's history within the retention policy.
            if !inner.retention.is_unlimited()
                && let Err(e) = inner.store.prune(&project, &flow, &inner.retention).await
            {
                tracing::warn!(flow = %flow, error = %e, "pruning run history failed");
            }
            inner.hub.retire(&run_id);
            let _ = done_tx.send(outcome);
        });
        Ok(Started {
            id,
            live,
            done: done_rx,
        })
    }

    /// Cancels a run of this server; false if it is not running here.
    pub fn cancel(&self, id: &str) -> bool {
        self.cancel_token(id).map(|t| t.cancel()).is_some()
    }

    /// What cancels run `id`, if it is running here: for a caller that
    /// must answer before the run reacts (the editor acks `run.cancel`
    /// ahead of the events the cancel causes).
    pub fn cancel_token(&self, id: &str) -> Option<CancellationToken> {
        self.inner
            .cancels
            .lock()
            .ok()
            .and_then(|c| c.get(id).cloned())
    }

    /// Waits (up to `limit`) until a run of this server is stored whole:
    /// its `run.finished` event reaches subscribers before its node records
    /// are written. Returns at once for runs not in flight here.
    pub async fn settled(&self, id: &str, limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until
            && self
                .inner
                .cancels
                .lock()
                .map(|c| c.contains_key(id))
                .unwrap_or(false)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How many runs are in flight.
    pub fn running(&self) -> usize {
        self.inner.cancels.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Stops starting runs, lets the running ones finish for up to
    /// `deadline`, cancels the rest and waits until they are stored (for
    /// up to `STORE_GRACE` more when the database does not answer).
    pub async fn drain(&self, deadline: Duration) {
        self.inner.draining.store(true, Ordering::Release);
        self.inner.tracker.close();
        if tokio::time::timeout(deadline, self.inner.tracker.wait())
            .await
            .is_err()
        {
            let tokens: Vec<CancellationToken> = self
                .inner
                .cancels
                .lock()
                .map(|c| c.values().cloned().collect())
                .unwrap_or_default();
            tracing::warn!(
                runs = tokens.len(),
                "drain deadline passed; cancelling runs"
            );
            for token in tokens {
                token.cancel();
            }
            if tokio::time::timeout(STORE_GRACE, self.inner.tracker.wait())
                .await
                .is_err()
            {
                tracing::error!(
                    "the database did not take the ends of the runs in time; giving up \
                     (the next start marks them interrupted)"
                );
                self.inner.give_up.cancel();
                self.inner.tracker.wait().await;
            }
        }
    }
}

/// The executor's sink: the hub's log (which the store's writes read).
struct ServerSink {
    live: Arc<LiveRun>,
}

impl EventSink for ServerSink {
    fn send(&self, event: RunEvent) {
        self.live.push(Arc::new(event));
    }
}

/// Per-node records from a run's events and recorded values.
fn node_records(
    events: &[Arc<RunEvent>],
    values: &indexmap::IndexMap<String, NodeValues>,
) -> Vec<NodeRecord> {
    let mut records: indexmap::IndexMap<String, NodeRecord> = indexmap::IndexMap::new();
    let entry = |records: &mut indexmap::IndexMap<String, NodeRecord>, node: &str| {
        records
            .entry(node.to_string())
            .or_insert_with(|| NodeRecord {
                node: node.to_string(),
                status: NodeStatus::Running,
                attempts: 0,
                started_at: None,
                duration_ms: None,
                inputs: None,
                outputs: None,
                error: None,
            })
            .node
            .clone()
    };
    for event in events {
        let Some(node) = event.body.node() else {
            continue;
        };
        let key = entry(&mut records, node);
        let Some(r) = records.get_mut(&key) else {
            continue;
        };
        match &event.body {
            EventBody::NodeStarted(s) => {
                r.attempts = s.attempt;
                r.started_at.get_or_insert(event.ts_ms as i64);
            }
            EventBody::NodeFinished(f) => {
                r.status = NodeStatus::Succeeded;
                r.attempts = f.attempts;
                r.duration_ms = Some(f.duration_ms);
                r.started_at.get_or_insert(event.ts_ms as i64);
            }
            EventBody::NodeFailed(f) if !f.will_retry => {
                r.status = if f.error.code == "cancelled" {
                    NodeStatus::Cancelled
                } else {
                    NodeStatus::Failed
                };
                if f.handled {
                    r.status = NodeStatus::Failed;
                }
                r.attempts = r.attempts.max(f.attempt);
                r.duration_ms = Some(f.duration_ms);
                r.error = serde_json::to_value(&f.error).ok();
            }
            EventBody::NodeSkipped(_) => r.status = NodeStatus::Skipped,
            _ => {}
        }
    }
    for (node, v) in values {
        let key = entry(&mut records, node);
        if let Some(r) = records.get_mut(&key) {
            r.inputs = Some(Value::Object(v.inputs.clone()));
            r.outputs = Some(Value::Object(v.outputs.clone()));
        }
    }
    records.into_values().collect()
}
