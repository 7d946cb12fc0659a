//! Where a run's node futures execute.
//!
//! Spawning every node onto the tokio pool costs two thread hand-offs per
//! node (spawn, then join back), which dominates a chain of cheap nodes.
//! Running every node inside the run's own task would serialise CPU-bound
//! branches. So: one node at a time runs *inline*, polled by the run's
//! task itself, and any other node that becomes ready while it runs is
//! spawned. A chain never leaves the run's thread; a fan-out still spreads
//! over the cores. (Measured in BENCHMARKS.md: the 40-node chain went from
//! 2.80 ms to 0.43 ms with this and the pooling settings.)
//!
//! A guest yields at every epoch tick, so an inline node never keeps the
//! run's task from noticing cancellation or other nodes finishing.

use std::future::Future;
use std::pin::Pin;

use tokio::task::JoinSet;

use super::attempt::Attempted;

type NodeFuture = Pin<Box<dyn Future<Output = (usize, Attempted)> + Send>>;

/// The running nodes of one run.
#[derive(Default)]
pub(super) struct Tasks {
    inline: Option<NodeFuture>,
    spawned: JoinSet<(usize, Attempted)>,
}

impl Tasks {
    /// Starts a node: inline if no node is running inline, else spawned.
    pub(super) fn spawn(&mut self, f: impl Future<Output = (usize, Attempted)> + Send + 'static) {
        if self.inline.is_none() {
            self.inline = Some(Box::pin(f));
        } else {
            self.spawned.spawn(f);
        }
    }

    /// The next node to finish; `None` when none is running. A spawned task
    /// that panicked or was aborted gives `Err` with the reason.
    pub(super) async fn join_next(&mut self) -> Option<Result<(usize, Attempted), String>> {
        let Some(inline) = self.inline.as_mut() else {
            return self
                .spawned
                .join_next()
                .await
                .map(|r| r.map_err(|e| e.to_string()));
        };
        let done = if self.spawned.is_empty() {
            Ok(inline.await)
        } else {
            tokio::select! {
                done = inline => Ok(done),
                Some(joined) = self.spawned.join_next() => Err(joined),
            }
        };
        match done {
            Ok(done) => {
                self.inline = None;
                Some(Ok(done))
            }
            Err(joined) => Some(joined.map_err(|e| e.to_string())),
        }
    }

    /// Drops every running node (their stores are freed as they drop).
    pub(super) fn abort_all(&mut self) {
        self.inline = None;
        self.spawned.abort_all();
    }

    /// Drops every running node and waits until the spawned ones are gone.
    pub(super) async fn shutdown(&mut self) {
        self.inline = None;
        self.spawned.shutdown().await;
    }
}
