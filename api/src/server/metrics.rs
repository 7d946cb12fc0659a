//! `/metrics`: Prometheus text exposition of runs, node durations and
//! errors, kept in atomics (no lock on the run path).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weft_editor_protocol::events::RunStatus;
use weft_runtime::RunOutcome;

use crate::store::{NodeRecord, NodeStatus};

/// Upper bounds (seconds) of the duration histograms.
const BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    runs_started: AtomicU64,
    runs_succeeded: AtomicU64,
    runs_failed: AtomicU64,
    runs_cancelled: AtomicU64,
    nodes_failed: AtomicU64,
    run_seconds: Histogram,
    node_seconds: Histogram,
    ws_connections: AtomicU64,
    ws_lagged: AtomicU64,
    history_groups: AtomicU64,
    history_writes: AtomicU64,
    history_failed: AtomicU64,
}

impl Metrics {
    pub fn run_started(&self) {
        self.runs_started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn run_finished(&self, outcome: &RunOutcome, nodes: &[NodeRecord], took: Duration) {
        match outcome.status {
            RunStatus::Succeeded => &self.runs_succeeded,
            RunStatus::Failed => &self.runs_failed,
            RunStatus::Cancelled => &self.runs_cancelled,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.run_seconds.observe(took.as_secs_f64());
        for node in nodes {
            if let Some(ms) = node.duration_ms {
                self.node_seconds.observe(ms / 1000.0);
            }
            if node.status == NodeStatus::Failed {
                self.nodes_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn ws_opened(&self) {
        self.ws_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ws_closed(&self) {
        self.ws_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Editor websockets open now.
    pub fn ws_open(&self) -> u64 {
        self.ws_connections.load(Ordering::Relaxed)
    }

    pub fn ws_lagged(&self) {
        self.ws_lagged.fetch_add(1, Ordering::Relaxed);
    }

    /// One group of run-history writes stored ([`super::journal`]):
    /// `writes` of them, `failed` of which the database refused.
    pub fn history_group(&self, writes: usize, failed: usize) {
        self.history_groups.fetch_add(1, Ordering::Relaxed);
        self.history_writes
            .fetch_add(writes as u64, Ordering::Relaxed);
        self.history_failed
            .fetch_add(failed as u64, Ordering::Relaxed);
    }

    /// The Prometheus text format; `running` is sampled by the caller.
    pub fn render(&self, running: usize) -> String {
        let mut out = String::with_capacity(2048);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP weft_runs_started_total Runs started.\n# TYPE weft_runs_started_total counter\n");
        let _ = writeln!(out, "weft_runs_started_total {}", load(&self.runs_started));
        out.push_str("# HELP weft_runs_finished_total Runs finished, by status.\n# TYPE weft_runs_finished_total counter\n");
        for (status, c) in [
            ("succeeded", &self.runs_succeeded),
            ("failed", &self.runs_failed),
            ("cancelled", &self.runs_cancelled),
        ] {
            let _ = writeln!(
                out,
                "weft_runs_finished_total{{status=\"{status}\"}} {}",
                load(c)
            );
        }
        out.push_str("# HELP weft_runs_running Runs in flight.\n# TYPE weft_runs_running gauge\n");
        let _ = writeln!(out, "weft_runs_running {running}");
        out.push_str("# HELP weft_node_failures_total Nodes that failed for good.\n# TYPE weft_node_failures_total counter\n");
        let _ = writeln!(out, "weft_node_failures_total {}", load(&self.nodes_failed));
        out.push_str("# HELP weft_run_duration_seconds Run wall time.\n# TYPE weft_run_duration_seconds histogram\n");
        self.run_seconds
            .render(&mut out, "weft_run_duration_seconds");
        out.push_str("# HELP weft_node_duration_seconds Node wall time (successful attempt).\n# TYPE weft_node_duration_seconds histogram\n");
        self.node_seconds
            .render(&mut out, "weft_node_duration_seconds");
        out.push_str("# HELP weft_editor_connections Open editor websockets.\n# TYPE weft_editor_connections gauge\n");
        let _ = writeln!(
            out,
            "weft_editor_connections {}",
            load(&self.ws_connections)
        );
        out.push_str("# HELP weft_editor_lagged_total Subscriptions dropped for a slow client.\n# TYPE weft_editor_lagged_total counter\n");
        let _ = writeln!(out, "weft_editor_lagged_total {}", load(&self.ws_lagged));
        out.push_str("# HELP weft_history_transactions_total Transactions of run-history writes (group commit: writes / transactions is the group size).\n# TYPE weft_history_transactions_total counter\n");
        let _ = writeln!(
            out,
            "weft_history_transactions_total {}",
            load(&self.history_groups)
        );
        out.push_str("# HELP weft_history_writes_total Run-history writes (run starts, event batches, run ends), by result.\n# TYPE weft_history_writes_total counter\n");
        let failed = load(&self.history_failed);
        let stored = load(&self.history_writes).saturating_sub(failed);
        let _ = writeln!(
            out,
            "weft_history_writes_total{{result=\"stored\"}} {stored}"
        );
        let _ = writeln!(
            out,
            "weft_history_writes_total{{result=\"failed\"}} {failed}"
        );
        out
    }
}
