//! Live runs and their event logs, shared by the executor (one writer per
//! run) and any number of websocket subscribers.
//!
//! Each running run has a [`LiveRun`]: the events emitted so far, in `seq`
//! order, plus a `watch` of the last `seq`. The executor's sink only
//! appends and notifies: it never waits for a reader, so a slow client can
//! never slow a run down. A subscriber is a cursor over that log (see
//! [`LiveRun::events_after`]): it reads what is new when notified, which
//! gives replay-then-live without gaps or duplicates by construction.
//! A finished run stays here for [`LINGER`] after its events are stored,
//! so that late subscribers read from memory; later ones read the store.
//! At most [`MAX_LINGERING`] finished runs stay: under a heavy load the
//! oldest go sooner, so memory does not grow with the request rate. One
//! sweeper task per hub expires them (not a timer per run).
//! Each [`Logged`] event also keeps its websocket frame, made by the first
//! subscriber that sends it and shared by the others (one JSON encoding per
//! event, not one per client).
//!
//! [`Hub::watch_started`] announces new runs to subscriptions of a flow or
//! a project. Watchers are indexed by project, so a run wakes only the
//! subscriptions it matches: a hundred editors watching other flows cost a
//! run one map lookup, not a hundred wake-ups.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use weft_editor_protocol::events::RunEvent;

/// How long a finished run's log stays in memory after it was stored.
pub const LINGER: Duration = Duration::from_secs(2);
/// The most finished runs kept in memory at once (about 4 KiB each for a
/// small flow); older ones are forgotten before their [`LINGER`] is up.
pub const MAX_LINGERING: usize = 1024;

/// One run whose events are (or were recently) being produced here.
#[derive(Debug)]
pub struct LiveRun {
    pub id: String,
    pub project: String,
    pub flow: String,
    log: Mutex<Vec<Arc<Logged>>>,
    /// The last `seq` in the log; `finished` once `run.finished` is in.
    head: watch::Sender<Head>,
}

/// One event of a run's log.
#[derive(Debug)]
pub struct Logged {
    pub event: Arc<RunEvent>,
    /// The event as a websocket text frame, made once (see [`Logged::frame`]).
    frame: OnceLock<Utf8Bytes>,
}

impl Logged {
    /// The event's frame: made by `make` the first time, then shared.
    pub fn frame(&self, make: impl FnOnce(&RunEvent) -> Utf8Bytes) -> Utf8Bytes {
        self.frame.get_or_init(|| make(&self.event)).clone()
    }
}

/// Where a run's log ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub seq: u64,
    pub finished: bool,
}

impl LiveRun {
    fn new(id: String, project: String, flow: String) -> LiveRun {
        LiveRun {
            id,
            project,
            flow,
            log: Mutex::new(Vec::new()),
            head: watch::Sender::new(Head::default()),
        }
    }

    /// Appends one event (the executor's sink). Never blocks on readers.
    pub fn push(&self, event: Arc<RunEvent>) {
        let finished = matches!(
            event.body,
            weft_editor_protocol::events::EventBody::RunFinished(_)
        );
        let seq = event.seq;
        let logged = Arc::new(Logged {
            event,
            frame: OnceLock::new(),
        });
        if let Ok(mut log) = self.log.lock() {
            log.push(logged);
        }
        self.head.send_replace(Head { seq, finished });
    }

    /// The events with `seq > after`, at most `limit` of them.
    pub fn events_after(&self, after: u64, limit: usize) -> Vec<Arc<Logged>> {
        let Ok(log) = self.log.lock() else {
            return Vec::new();
        };
        // seq n is at index n - 1 (the emitter numbers from 1, no gaps).
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(log.len());
        log[start..].iter().take(limit).cloned().collect()
    }

    /// Every event with `seq > after`.
    pub fn events_since(&self, after: u64) -> Vec<Arc<RunEvent>> {
        let Ok(log) = self.log.lock() else {
            return Vec::new();
        };
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(log.len());
        log[start..].iter().map(|l| l.event.clone()).collect()
    }

    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// A receiver that wakes whenever the log grows.
    pub fn watch(&self) -> watch::Receiver<Head> {
        self.head.subscribe()
    }
}

/// Every live run of this server.
#[derive(Debug, Default)]
pub struct Hub {
    runs: Mutex<HashMap<String, Arc<LiveRun>>>,
    /// Subscriptions to new runs, by project.
    watchers: Mutex<HashMap<String, Vec<Watcher>>>,
    /// Finished runs still in `runs`, oldest first, with when they go.
    lingering: Mutex<VecDeque<(Instant, String)>>,
    sweeper: OnceLock<()>,
}

/// One flow or project subscription's inbox of new runs.
#[derive(Debug)]
struct Watcher {
    /// `None`: every flow of the project.
    flow: Option<String>,
    tx: mpsc::UnboundedSender<Arc<LiveRun>>,
}

/// New runs of one project (or one flow), from [`Hub::watch_started`].
/// Dropping it ends the subscription (the hub forgets it at its project's
/// next run, or at the next watch of that project).
#[derive(Debug)]
pub struct StartedRuns {
    rx: mpsc::UnboundedReceiver<Arc<LiveRun>>,
}

impl StartedRuns {
    /// The next run that started; `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<Arc<LiveRun>> {
        self.rx.recv().await
    }
}

impl Hub {
    /// Registers a run before its first event, and tells the subscriptions
    /// of its flow and project.
    pub fn begin(&self, id: &str, project: &str, flow: &str) -> Arc<LiveRun> {
        let run = Arc::new(LiveRun::new(id.into(), project.into(), flow.into()));
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(id.to_string(), run.clone());
        }
        if let Ok(mut watchers) = self.watchers.lock()
            && let Some(list) = watchers.get_mut(project)
        {
            list.retain(|w| {
                if w.flow.as_deref().is_some_and(|f| f != flow) {
                    return !w.tx.is_closed();
                }
                w.tx.send(run.clone()).is_ok()
            });
            if list.is_empty() {
                watchers.remove(project);
            }
        }
        run
    }

    pub fn get(&self, id: &str) -> Option<Arc<LiveRun>> {
        self.runs.lock().ok().and_then(|r| r.get(id).cloned())
    }

    /// Forgets a finished run after [`LINGER`] (its events are stored),
    /// or sooner when more than [`MAX_LINGERING`] finished runs are kept.
    pub fn retire(self: &Arc<Self>, id: &str) {
        self.sweeper.get_or_init(|| {
            let hub = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LINGER / 2).await;
                    let Some(hub) = hub.upgrade() else { break };
                    hub.expire(Instant::now());
                }
            });
        });
        let now = Instant::now();
        if let Ok(mut lingering) = self.lingering.lock() {
            lingering.push_back((now + LINGER, id.to_string()));
        }
        self.expire(now);
    }

    /// Forgets the finished runs whose time is up, and the oldest beyond
    /// [`MAX_LINGERING`].
    fn expire(&self, now: Instant) {
        let mut gone = Vec::new();
        if let Ok(mut lingering) = self.lingering.lock() {
            while let Some((until, _)) = lingering.front() {
                if *until > now && lingering.len() <= MAX_LINGERING {
                    break;
                }
                if let Some((_, id)) = lingering.pop_front() {
                    gone.push(id);
                }
            }
        }
        if !gone.is_empty()
            && let Ok(mut runs) = self.runs.lock()
        {
            for id in &gone {
                runs.remove(id);
            }
        }
    }

    /// Runs of `project` (of one `flow` of it, if given) that start from
    /// now on.
    pub fn watch_started(&self, project: &str, flow: Option<&str>) -> StartedRuns {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut watchers) = self.watchers.lock() {
            let list = watchers.entry(project.to_string()).or_default();
            list.retain(|w| !w.tx.is_closed());
            list.push(Watcher {
                flow: flow.map(str::to_string),
                tx,
            });
        }
        StartedRuns { rx }
    }

    /// How many runs are in memory (metrics).
    pub fn len(&self) -> usize {
        self.runs.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use weft_editor_protocol::events::{EventBody, NodeSkipped};

    fn ev(seq: u64) -> Arc<RunEvent> {
        Arc::new(RunEvent {
            run: "r".into(),
            seq,
            ts_ms: 0,
            frame: None,
            body: EventBody::NodeSkipped(NodeSkipped {
                node: "n".into(),
                reason: String::new(),
            }),
        })
    }

    #[tokio::test]
    async fn cursors_read_after_a_seq_and_wake_on_growth() {
        let hub = Hub::default();
        let run = hub.begin("r", "p", "f");
        let mut watch = run.watch();
        for seq in 1..=5 {
            run.push(ev(seq));
        }
        let seqs: Vec<u64> = run
            .events_after(2, 10)
            .iter()
            .map(|e| e.event.seq)
            .collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(run.events_after(4, 10).len(), 1);
        assert!(run.events_after(9, 10).is_empty());
        assert_eq!(run.events_after(0, 2).len(), 2);
        watch.changed().await.unwrap();
        assert_eq!(watch.borrow_and_update().seq, 5);
        assert!(hub.get("r").is_some());
    }

    #[tokio::test]
    async fn a_new_run_reaches_only_the_watchers_it_matches() {
        let hub = Hub::default();
        let mut project = hub.watch_started("p", None);
        let mut flow = hub.watch_started("p", Some("f"));
        let mut other_flow = hub.watch_started("p", Some("g"));
        let mut other_project = hub.watch_started("q", None);
        let dropped = hub.watch_started("p", Some("f"));
        drop(dropped);
        hub.begin("r1", "p", "f");
        assert_eq!(project.recv().await.unwrap().id, "r1");
        assert_eq!(flow.recv().await.unwrap().id, "r1");
        assert!(other_flow.rx.try_recv().is_err());
        assert!(other_project.rx.try_recv().is_err());
        // The dropped watcher was forgotten; the others stay.
        assert_eq!(hub.watchers.lock().unwrap()["p"].len(), 3);
        hub.begin("r2", "p", "g");
        assert_eq!(other_flow.recv().await.unwrap().id, "r2");
        assert_eq!(project.recv().await.unwrap().id, "r2");
        assert!(flow.rx.try_recv().is_err());
        // A project whose watchers are all gone is dropped from the index.
        drop(other_project);
        hub.begin("r3", "q", "f");
        assert!(!hub.watchers.lock().unwrap().contains_key("q"));
    }

    #[tokio::test]
    async fn finished_runs_linger_for_a_while_and_never_beyond_the_cap() {
        let hub = Arc::new(Hub::default());
        hub.begin("first", "p", "f");
        hub.retire("first");
        assert!(hub.get("first").is_some(), "kept for late subscribers");
        hub.expire(Instant::now() + LINGER / 2);
        assert!(hub.get("first").is_some(), "kept until its time is up");
        hub.expire(Instant::now() + LINGER);
        assert!(hub.get("first").is_none(), "forgotten once it is");

        // A burst of finished runs: only the newest MAX_LINGERING stay.
        for i in 0..MAX_LINGERING + 10 {
            let id = format!("r{i}");
            hub.begin(&id, "p", "f");
            hub.retire(&id);
        }
        assert_eq!(hub.len(), MAX_LINGERING);
        assert!(hub.get("r9").is_none());
        assert!(hub.get("r10").is_some());
        hub.begin("running", "p", "f");
        hub.expire(Instant::now() + LINGER * 2);
        assert_eq!(hub.len(), 1, "a running run is never forgotten");
        assert!(hub.get("running").is_some());
    }

    #[test]
    fn a_frame_is_made_once_and_shared() {
        let hub = Hub::default();
        let run = hub.begin("r", "p", "f");
        run.push(ev(1));
        let made = std::sync::atomic::AtomicUsize::new(0);
        let make = |e: &RunEvent| {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Utf8Bytes::from(format!("seq {}", e.seq))
        };
        let first = run.events_after(0, 1)[0].frame(make);
        let second = run.events_after(0, 1)[0].frame(make);
        assert_eq!((first.as_str(), second.as_str()), ("seq 1", "seq 1"));
        assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
