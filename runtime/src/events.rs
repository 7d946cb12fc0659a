//! The run-event stream: sinks that receive events, and the emitter that
//! numbers them.
//!
//! Sinks are called synchronously from the executor and from host calls, so
//! they must not block: buffer, send on an unbounded channel, or drop.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use weft_editor_protocol::events::{EventBody, RunEvent};

use crate::capabilities::Redactor;

/// Receives the events of runs. Must be cheap and must never block.
pub trait EventSink: Send + Sync + 'static {
    fn send(&self, event: RunEvent);
}

/// Discards every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn send(&self, _: RunEvent) {}
}

/// Collects events in memory (tests, small tools).
#[derive(Debug, Default, Clone)]
pub struct VecSink(Arc<Mutex<Vec<RunEvent>>>);

impl VecSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events received so far.
    pub fn events(&self) -> Vec<RunEvent> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl EventSink for VecSink {
    fn send(&self, event: RunEvent) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}

/// Forwards events to an unbounded tokio channel.
impl EventSink for tokio::sync::mpsc::UnboundedSender<RunEvent> {
    fn send(&self, event: RunEvent) {
        // A closed receiver means nobody is listening any more; that must not
        // disturb the run.
        let _ = tokio::sync::mpsc::UnboundedSender::send(self, event);
    }
}

/// Calls a closure for every event.
pub struct FnSink<F>(pub F);

impl<F: Fn(RunEvent) + Send + Sync + 'static> EventSink for FnSink<F> {
    fn send(&self, event: RunEvent) {
        (self.0)(event)
    }
}

impl<F> std::fmt::Debug for FnSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSink")
    }
}

/// Stamps events of one run with its id, a gap-free sequence number and
/// the time, and hands them to the sink in sequence order.
pub struct RunEmitter {
    run: String,
    redactor: Arc<Redactor>,
    frame: Option<String>,
    seq: Mutex<u64>,
    sink: Arc<dyn EventSink>,
    /// The secrets this run's flow reads (`secrets` capability), when they
    /// are not the host's (a server's per-project secrets).
    secrets: Option<Arc<crate::capabilities::Secrets>>,
}

impl std::fmt::Debug for RunEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunEmitter")
            .field("run", &self.run)
            .finish()
    }
}

impl RunEmitter {
    pub fn new(run: impl Into<String>, sink: Arc<dyn EventSink>) -> Self {
        RunEmitter {
            run: run.into(),
            redactor: Arc::new(Redactor::new()),
            frame: None,
            seq: Mutex::new(0),
            sink,
            secrets: None,
        }
    }

    /// This run's flow reads its secrets from `secrets` instead of the
    /// host's.
    pub fn with_secrets(mut self, secrets: Option<Arc<crate::capabilities::Secrets>>) -> Self {
        self.secrets = secrets;
        self
    }

    /// The run's own secrets, if it has them.
    pub fn secrets(&self) -> Option<&Arc<crate::capabilities::Secrets>> {
        self.secrets.as_ref()
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The secret values revealed to this run, kept out of its events.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    pub fn emit(&self, body: EventBody) {
        let body = self.redact(body);
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        // The lock spans numbering and sending so the sink sees events in
        // sequence order even when host calls emit from several tasks.
        let mut seq = match self.seq.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *seq += 1;
        self.sink.send(RunEvent {
            run: self.run.clone(),
            seq: *seq,
            ts_ms,
            frame: self.frame.clone(),
            body,
        });
    }
}

impl RunEmitter {
    /// The event with every revealed secret replaced (only when the run has
    /// revealed any: then the event goes through its JSON text).
    fn redact(&self, body: EventBody) -> EventBody {
        if self.redactor.is_empty() {
            return body;
        }
        let Ok(text) = serde_json::to_string(&body) else {
            return body;
        };
        match self.redactor.redact_json_text(&text) {
            None => body,
            Some(clean) => serde_json::from_str(&clean).unwrap_or(body),
        }
    }
}
