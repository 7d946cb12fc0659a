//! Storing run history: the server's journal (group commit) and the
//! per-run event writer that feeds it.
//!
//! Every run-history write of the server goes through one [`Journal`]: a
//! queue served by a few writer tasks (one on SQLite, which takes one
//! writer at a time; [`PG_WRITERS`] on PostgreSQL). A writer takes what
//! has queued up while it was busy, up to [`GROUP_MAX`] writes, and stores
//! them in one transaction ([`Store::write_group`]). An idle server writes
//! each run as it comes; a loaded one stores tens of runs per transaction,
//! so the database's cost per run falls as the load rises. Each caller
//! waits for its own write's result, as with a direct store call.
//!
//! [`Journal::is_down`] tells whether the last write found the database
//! unavailable. [`persist`] retries a write while it is;
//! [`Flusher`] stores a long run's events while it runs (see there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weft_editor_protocol::events::RunEvent;

use super::hub::LiveRun;
use super::metrics::Metrics;
use crate::store::{Backend, JournalOp, NewRun, Store, StoreError};

/// Writes stored per transaction at most.
const GROUP_MAX: usize = 256;
/// Writer tasks on PostgreSQL (each holds a connection while it writes).
const PG_WRITERS: usize = 3;
/// How long a run's events may wait to be stored while it runs.
const FLUSH_AFTER: Duration = Duration::from_millis(20);
/// The longest pause between two tries of a write the database refused.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A write's result: on failure, the op comes back for a retry (unless
/// it was lost with a writer torn down by a runtime's shutdown).
type Reply = Result<(), (StoreError, Option<JournalOp>)>;

struct Entry {
    op: JournalOp,
    reply: oneshot::Sender<Reply>,
}

/// The queue of run-history writes (cheap to clone).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Shared>,
}

struct Shared {
    store: Store,
    metrics: Arc<Metrics>,
    queue: mpsc::UnboundedSender<Entry>,
    waiting: Arc<Mutex<mpsc::UnboundedReceiver<Entry>>>,
    /// Where the writers run; the caller's runtime when `None`.
    runtime: Option<tokio::runtime::Handle>,
    started: OnceLock<()>,
    /// Whether the last group found the database unavailable.
    down: Arc<AtomicBool>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal writing to `store`; its writers start with the first
    /// write, on `runtime` (else on the writing task's runtime).
    pub fn new(
        store: Store,
        metrics: Arc<Metrics>,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Journal {
        let (queue, waiting) = mpsc::unbounded_channel();
        Journal {
            inner: Arc::new(Shared {
                store,
                metrics,
                queue,
                waiting: Arc::new(Mutex::new(waiting)),
                runtime,
                started: OnceLock::new(),
                down: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// Stores `op` (with whatever else is queued), giving the op back
    /// with the error when it failed.
    pub async fn write(&self, op: JournalOp) -> Reply {
        self.start_writers();
        let (reply, answer) = oneshot::channel();
        if let Err(refused) = self.inner.queue.send(Entry { op, reply }) {
            return Err((stopped(), Some(refused.0.op)));
        }
        match answer.await {
            Ok(reply) => reply,
            // A writer only drops a reply when its task is torn down (the
            // runtime is shutting down); the op is lost with it.
            Err(_) => Err((stopped(), None)),
        }
    }

    /// Whether the database was unavailable to the last write (until a
    /// write succeeds).
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Relaxed)
    }

    fn start_writers(&self) {
        self.inner.started.get_or_init(|| {
            let writers = match self.inner.store.backend() {
                Backend::Sqlite => 1,
                Backend::Postgres => PG_WRITERS,
            };
            for _ in 0..writers {
                let task = writer(
                    self.inner.store.clone(),
                    self.inner.metrics.clone(),
                    self.inner.waiting.clone(),
                    self.inner.down.clone(),
                );
                match &self.inner.runtime {
                    Some(rt) => drop(rt.spawn(task)),
                    None => drop(tokio::spawn(task)),
                }
            }
        });
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        message: "the run journal has stopped".into(),
    }
}

/// One writer: takes the queue's first write and whatever else is
/// waiting, stores them as one group, answers each; until every
/// [`Journal`] is gone.
async fn writer(
    store: Store,
    metrics: Arc<Metrics>,
    waiting: Arc<Mutex<mpsc::UnboundedReceiver<Entry>>>,
    down: Arc<AtomicBool>,
) {
    loop {
        let entries = {
            let mut queue = waiting.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut entries = vec![first];
            while entries.len() < GROUP_MAX {
                match queue.try_recv() {
                    Ok(entry) => entries.push(entry),
                    Err(_) => break,
                }
            }
            entries
        };
        let (ops, replies): (Vec<JournalOp>, Vec<_>) =
            entries.into_iter().map(|e| (e.op, e.reply)).unzip();
        let results = store.write_group(&ops).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        metrics.history_group(results.len(), failed);
        if results.iter().any(|r| r.is_ok()) {
            down.store(false, Ordering::Relaxed);
        } else if results
            .iter()
            .any(|r| r.as_ref().is_err_and(StoreError::is_unavailable))
        {
            down.store(true, Ordering::Relaxed);
        }
        for ((op, reply), result) in ops.into_iter().zip(replies).zip(results) {
            let _ = reply.send(result.map_err(|e| (e, Some(op))));
        }
    }
}

/// Stores `op` through `journal`, retrying while the database is
/// unavailable (backoff up to [`RETRY_MAX`]) until it answers or
/// `give_up` is cancelled. A conflict on a retry means an earlier try was
/// committed and its answer lost: that counts as stored. False (logged)
/// when it was not stored.
pub async fn persist(
    journal: &Journal,
    give_up: &CancellationToken,
    run: &str,
    what: &str,
    op: JournalOp,
) -> bool {
    let mut delay = Duration::from_millis(50);
    let mut op = op;
    for attempt in 1u32.. {
        let result = tokio::select! {
            result = journal.write(op) => result,
            () = give_up.cancelled() => break,
        };
        match result {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(run = %run, "stored {what} after {attempt} tries");
                }
                return true;
            }
            Err((StoreError::Conflict { .. }, _)) if attempt > 1 => return true,
            Err((e, Some(back))) if e.is_unavailable() => {
                if attempt == 1 {
                    tracing::warn!(run = %run, error = %e, "storing {what} failed; retrying until the database answers");
                }
                op = back;
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = give_up.cancelled() => break,
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
            Err((e, _)) => {
                tracing::error!(run = %run, error = %e, "storing {what} failed");
                return false;
            }
        }
    }
    tracing::error!(run = %run, "gave up storing {what}: the server is stopping");
    false
}

/// Stores a running run's events while it runs: every [`FLUSH_AFTER`],
/// what its log in the hub holds beyond what was stored, in a write of its
/// own (a task, so that a slow database never holds the run up; one at a
/// time, in order). A run shorter than that writes nothing until its end
/// ([`JournalOp::Finish`] takes the rest): one write for the whole run.
/// Nothing here runs per event.
///
/// A run started without a record ([`Flusher::unrecorded`]) gets one with
/// the first write: the first flush creates it before storing its events,
/// and a run over before that is recorded whole by one
/// [`JournalOp::Record`].
pub struct Flusher {
    journal: Journal,
    give_up: CancellationToken,
    live: Arc<LiveRun>,
    /// The last `seq` handed to a write.
    taken: u64,
    /// The write in flight, if any: whether everything so far was stored.
    writing: Option<JoinHandle<bool>>,
    /// False once a write failed: later events are not stored (the run
    /// stays `running` until a sweep marks it interrupted).
    stored: bool,
    /// The run's record, while it is not stored.
    unrecorded: Option<NewRun>,
    next: tokio::time::Instant,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("run", &self.live.id)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl Flusher {
    pub fn new(journal: Journal, give_up: CancellationToken, live: Arc<LiveRun>) -> Flusher {
        Flusher {
            journal,
            give_up,
            live,
            taken: 0,
            writing: None,
            stored: true,
            unrecorded: None,
            next: tokio::time::Instant::now() + FLUSH_AFTER,
        }
    }

    /// A flusher of a run that is not recorded yet: `new` (with its start
    /// time) is stored by the first write.
    pub fn unrecorded(mut self, new: NewRun) -> Flusher {
        self.unrecorded = Some(new);
        self
    }

    /// Resolves when the next write is due.
    pub async fn due(&self) {
        tokio::time::sleep_until(self.next).await;
    }

    /// Starts a write of the events logged since the last one (after the
    /// one in flight, if any).
    pub fn flush(&mut self) {
        self.next = tokio::time::Instant::now() + FLUSH_AFTER;
        let events = self.live.events_since(self.taken);
        let Some(last) = events.last() else {
            return;
        };
        self.taken = last.seq;
        let before = self.writing.take();
        let (journal, give_up, run) = (
            self.journal.clone(),
            self.give_up.clone(),
            self.live.id.clone(),
        );
        let create = self.unrecorded.take();
        self.writing = Some(tokio::spawn(async move {
            if let Some(before) = before
                && !before.await.unwrap_or(false)
            {
                return false;
            }
            if let Some(new) = create
                && !persist(&journal, &give_up, &run, "the run", JournalOp::Create(new)).await
            {
                return false;
            }
            let op = JournalOp::Append {
                run: run.clone(),
                events,
            };
            persist(&journal, &give_up, &run, "run events", op).await
        }));
    }

    /// Once the run has ended: whether every event written so far is
    /// stored, all of the run's events, where in them those still to
    /// store begin, and the run's record if it is not stored yet.
    pub async fn finish(mut self) -> Finished {
        if let Some(writing) = self.writing.take() {
            self.stored = writing.await.unwrap_or(false);
        }
        let events = self.live.events_since(0);
        let pending = events.partition_point(|e| e.seq <= self.taken);
        Finished {
            stored: self.stored,
            events,
            pending,
            unrecorded: self.unrecorded,
        }
    }
}

/// What [`Flusher::finish`] leaves to store.
#[derive(Debug)]
pub struct Finished {
    /// Whether every event written so far is stored.
    pub stored: bool,
    /// All of the run's events.
    pub events: Vec<Arc<RunEvent>>,
    /// Where in `events` those still to store begin.
    pub pending: usize,
    /// The run's record, when no write has stored it.
    pub unrecorded: Option<NewRun>,
}
