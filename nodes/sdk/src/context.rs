//! [`Context`]: what a running node can see and call.

use crate::__private::bindings::weft::node::{self as wit, host};
use crate::NodeError;
use crate::capabilities::{CapabilityError, embeddings, http, llm, vectors};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// Severity of a log line (`host.log`), shown as a `node.log` run event.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    #[default]
    Info,
    /// Something unexpected that the node could handle.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The level's name: `trace`, `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<LogLevel> for wit::types::LogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => wit::types::LogLevel::Trace,
            LogLevel::Debug => wit::types::LogLevel::Debug,
            LogLevel::Info => wit::types::LogLevel::Info,
            LogLevel::Warn => wit::types::LogLevel::Warn,
            LogLevel::Error => wit::types::LogLevel::Error,
        }
    }
}

/// Where host calls go: the real imports, or a recorder for
/// [`testing`](crate::testing).
#[derive(Debug, Clone, Default)]
pub(crate) enum Sink {
    #[default]
    Host,
    Capture(Rc<RefCell<Captured>>),
}

/// Host calls recorded under [`testing`](crate::testing).
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub(crate) logs: Vec<(LogLevel, String)>,
    pub(crate) emits: Vec<(String, Value)>,
}

/// What a running node can see and call: its config, its id in the flow,
/// the attempt number, host logging, partial results and capabilities.
pub struct Context<C> {
    /// The node's config (already validated against its schema by the host,
    /// and deserialized by the SDK).
    pub config: C,
    /// The node's id in the flow.
    pub node_id: String,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    sink: Sink,
}

impl<C: fmt::Debug> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("node_id", &self.node_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<C> Context<C> {
    pub(crate) fn new(config: C, node_id: String, attempt: u32, sink: Sink) -> Self {
        Context {
            config,
            node_id,
            attempt,
            sink,
        }
    }

    /// Writes a log line (a `node.log` run event).
    pub fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        match &self.sink {
            Sink::Host => host::log(level.into(), message.as_ref()),
            Sink::Capture(c) => c
                .borrow_mut()
                .logs
                .push((level, message.as_ref().to_owned())),
        }
    }

    /// Logs at `trace` level.
    pub fn log_trace(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Trace, message);
    }

    /// Logs at `debug` level.
    pub fn log_debug(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message);
    }

    /// Logs at `info` level.
    pub fn log_info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message);
    }

    /// Logs at `warn` level.
    pub fn log_warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message);
    }

    /// Logs at `error` level.
    pub fn log_error(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message);
    }

    /// Sends a partial result on `port` (a streamed token, progress): a
    /// `node.emit` run event. It does not set the port's final value; only
    /// the returned [`Outputs`](crate::Outputs) do.
    ///
    /// Fails with a fatal `output.serialize` error if `value` cannot be
    /// serialized to JSON.
    pub fn emit(&self, port: &str, value: impl Serialize) -> Result<(), NodeError> {
        match &self.sink {
            Sink::Host => {
                let json = serde_json::to_string(&value).map_err(|e| {
                    NodeError::new(
                        "output.serialize",
                        format!("value emitted on `{port}` cannot be serialized: {e}"),
                    )
                    .fatal()
                })?;
                host::emit(port, &json);
            }
            Sink::Capture(c) => {
                let value = serde_json::to_value(&value).map_err(|e| {
                    NodeError::new(
                        "output.serialize",
                        format!("value emitted on `{port}` cannot be serialized: {e}"),
                    )
                    .fatal()
                })?;
                c.borrow_mut().emits.push((port.to_owned(), value));
            }
        }
        Ok(())
    }

    fn unavailable(&self, what: &str) -> Option<CapabilityError> {
        match self.sink {
            Sink::Host => None,
            Sink::Capture(_) => Some(CapabilityError::Denied(format!(
                "{what} is not available under weft_node_sdk::testing"
            ))),
        }
    }

    /// Sends an HTTP request (capability `http`; declare it with
    /// [`Spec::capability`](crate::Spec::capability)).
    pub fn http(&self, request: &http::Request) -> Result<http::Response, CapabilityError> {
        match self.unavailable("http") {
            Some(e) => Err(e),
            None => http::send(request),
        }
    }

    /// Runs a chat completion (capability `llm`). With `stream_port` set,
    /// the host emits each token on that port while the call runs.
    pub fn llm_chat(
        &self,
        request: &llm::ChatRequest,
    ) -> Result<llm::ChatResponse, CapabilityError> {
        match self.unavailable("llm") {
            Some(e) => Err(e),
            None => llm::chat(request),
        }
    }

    /// Embeds texts (capability `embeddings`).
    pub fn embed(
        &self,
        request: &embeddings::EmbedRequest,
    ) -> Result<embeddings::EmbedResponse, CapabilityError> {
        match self.unavailable("embeddings") {
            Some(e) => Err(e),
            None => embeddings::embed(request),
        }
    }

    /// Inserts or replaces records in a vector collection (capability
    /// `vectors`).
    pub fn vectors_upsert(
        &self,
        collection: &str,
        records: &[vectors::VectorRecord],
    ) -> Result<(), CapabilityError> {
        match self.unavailable("vectors") {
            Some(e) => Err(e),
            None => vectors::upsert(collection, records),
        }
    }

    /// Searches a vector collection (capability `vectors`).
    pub fn vectors_search(
        &self,
        request: &vectors::SearchRequest,
    ) -> Result<Vec<vectors::Match>, CapabilityError> {
        match self.unavailable("vectors") {
            Some(e) => Err(e),
            None => vectors::search(request),
        }
    }

    /// Reads a secret by name (capability `secrets`). The host redacts the
    /// value from every event, log and output.
    pub fn secret(&self, name: &str) -> Result<String, CapabilityError> {
        match self.unavailable("secrets") {
            Some(e) => Err(e),
            None => crate::capabilities::secrets::get(name),
        }
    }
}
