//! The live view of a run on stderr: one line per node as it settles, its
//! logs, retries and skips. Or, with `--events jsonl`, every event as JSON.

use std::io::Write;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use weft_editor_protocol::events::{EventBody, RunEvent, RunStatus};

pub struct Printer {
    task: JoinHandle<()>,
}

impl Printer {
    /// Prints events from `rx` until every sender is gone.
    pub fn spawn(mut rx: UnboundedReceiver<RunEvent>, jsonl: bool) -> Printer {
        let task = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let mut err = std::io::stderr().lock();
                let _ = if jsonl {
                    serde_json::to_string(&event)
                        .map(|line| writeln!(err, "{line}"))
                        .unwrap_or(Ok(()))
                } else {
                    write_human(&mut err, &event)
                };
            }
        });
        Printer { task }
    }

    /// Waits until everything sent so far is printed.
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

fn write_human(out: &mut impl Write, event: &RunEvent) -> std::io::Result<()> {
    match &event.body {
        EventBody::RunStarted(e) => writeln!(out, "▶ {} ({} nodes)", e.flow, e.nodes.len()),
        EventBody::NodeStarted(e) if e.attempt > 1 => {
            writeln!(out, "  … {} attempt {}", e.node, e.attempt)
        }
        EventBody::NodeStarted(_) => Ok(()),
        EventBody::NodeLog(e) => writeln!(
            out,
            "    [{}] {}: {}",
            e.node,
            serde_json::to_value(e.level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            e.message
        ),
        EventBody::NodeEmit(_) => Ok(()),
        EventBody::NodeFinished(e) => {
            let retries = if e.attempts > 1 {
                format!(" after {} attempts", e.attempts)
            } else {
                String::new()
            };
            writeln!(out, "  ✓ {:<20} {:>9.3} ms{retries}", e.node, e.duration_ms)
        }
        EventBody::NodeSkipped(e) => writeln!(out, "  ↷ {:<20} skipped: {}", e.node, e.reason),
        EventBody::NodeFailed(e) if e.will_retry => writeln!(
            out,
            "  ↻ {:<20} attempt {} failed: {} [{}]; retrying in {} ms",
            e.node,
            e.attempt,
            e.error.message,
            e.error.code,
            e.retry_in_ms.unwrap_or(0)
        ),
        EventBody::NodeFailed(e) => {
            let handled = if e.handled {
                " (continuing: sent to its error port)"
            } else {
                ""
            };
            writeln!(
                out,
                "  ✗ {:<20} {:>9.3} ms {} [{}]{handled}",
                e.node, e.duration_ms, e.error.message, e.error.code
            )
        }
        EventBody::RunFinished(e) => {
            let status = match e.status {
                RunStatus::Succeeded => "succeeded",
                RunStatus::Failed => "failed",
                RunStatus::Cancelled => "cancelled",
            };
            writeln!(out, "■ {status} in {:.3} ms", e.duration_ms)
        }
    }
}
