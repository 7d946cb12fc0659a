//! Run events: what a run reports while it executes, one typed struct per
//! kind. The CLI prints them, the server stores them, the editor websocket
//! streams them. Every event carries the run id and a per-run sequence
//! number that starts at 1 and has no gaps.
//!
//! ```json
//! {"run":"r-01","seq":3,"ts_ms":1763800000123,"type":"node.finished","node":"greet",
//!  "duration_ms":0.011,"attempts":1,"outputs":{"text":{"kind":"full","value":"Hello Ada!"}}}
//! ```

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunEvent {
    /// The run's id.
    pub run: String,
    /// 1, 2, 3, ... within the run, no gaps.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// The nested execution frame this event belongs to (an iteration, a
    /// sub-flow), e.g. `each[3]`; absent for the flow's own nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "run.started")]
    RunStarted(RunStarted),
    #[serde(rename = "node.started")]
    NodeStarted(NodeStarted),
    #[serde(rename = "node.log")]
    NodeLog(NodeLog),
    #[serde(rename = "node.emit")]
    NodeEmit(NodeEmit),
    #[serde(rename = "node.finished")]
    NodeFinished(NodeFinished),
    #[serde(rename = "node.skipped")]
    NodeSkipped(NodeSkipped),
    #[serde(rename = "node.failed")]
    NodeFailed(NodeFailed),
    #[serde(rename = "run.finished")]
    RunFinished(RunFinished),
}

impl EventBody {
    /// The event's `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::RunStarted(_) => "run.started",
            EventBody::NodeStarted(_) => "node.started",
            EventBody::NodeLog(_) => "node.log",
            EventBody::NodeEmit(_) => "node.emit",
            EventBody::NodeFinished(_) => "node.finished",
            EventBody::NodeSkipped(_) => "node.skipped",
            EventBody::NodeFailed(_) => "node.failed",
            EventBody::RunFinished(_) => "run.finished",
        }
    }

    /// The node this event is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            EventBody::NodeStarted(e) => Some(&e.node),
            EventBody::NodeLog(e) => Some(&e.node),
            EventBody::NodeEmit(e) => Some(&e.node),
            EventBody::NodeFinished(e) => Some(&e.node),
            EventBody::NodeSkipped(e) => Some(&e.node),
            EventBody::NodeFailed(e) => Some(&e.node),
            EventBody::RunStarted(_) | EventBody::RunFinished(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunStarted {
    /// The flow's name.
    pub flow: String,
    /// The nodes of the plan, in a topological order.
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeStarted {
    pub node: String,
    /// The resolved node type, e.g. `text.template@1.0.0`.
    pub node_type: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The node called the host's `log`.
    Node,
    /// The guest wrote to its standard output.
    Stdout,
    /// The guest wrote to its standard error.
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeLog {
    pub node: String,
    pub level: LogLevel,
    pub source: LogSource,
    pub message: String,
}

/// A partial output (a streamed token, progress).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeEmit {
    pub node: String,
    pub port: String,
    pub value: Value,
}

/// A value as shown in an event: whole when small, else its size and the
/// start of its JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preview {
    Full {
        value: Value,
    },
    Truncated {
        /// Size of the whole value as compact JSON.
        bytes: usize,
        /// The first bytes of that JSON text (cut at a character boundary).
        head: String,
        /// Where the server serves the whole value (a path on its REST
        /// API), when it stores it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        href: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeFinished {
    pub node: String,
    /// Wall time of the successful attempt, in milliseconds.
    pub duration_ms: f64,
    /// Attempts made, including the successful one.
    pub attempts: u32,
    /// The ports the node set; ports it left unset are dead.
    pub outputs: IndexMap<String, Preview>,
    /// Token usage, for nodes that call an LLM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Cost, when the provider has prices configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// The node did not run: its outputs were pinned by the caller.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

/// Token usage of LLM calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeSkipped {
    pub node: String,
    /// Why, e.g. "input `text` is dead (`check.true` was not set)".
    pub reason: String,
}

/// An error, as events and API responses show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    /// Machine-readable: `deadline_exceeded`, `memory_limit_exceeded`,
    /// `trap`, `cancelled`, `input.type`, or the node's own code.
    pub code: String,
    pub message: String,
    /// The node that failed, if a node did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeFailed {
    pub node: String,
    pub attempt: u32,
    pub duration_ms: f64,
    pub error: ErrorInfo,
    /// Another attempt follows (after `retry_in_ms`).
    pub will_retry: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// The failure was routed to the node's `error` output
    /// (`on_error: continue`); the run goes on.
    #[serde(default)]
    pub handled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunFinished {
    pub status: RunStatus,
    /// The flow's outputs (outputs whose source was dead are absent).
    pub outputs: IndexMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_flat_wire_shape() {
        let ev = RunEvent {
            run: "r1".into(),
            seq: 2,
            ts_ms: 5,
            frame: None,
            body: EventBody::NodeSkipped(NodeSkipped {
                node: "b".into(),
                reason: "dead".into(),
            }),
        };
        let text = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            text,
            r#"{"run":"r1","seq":2,"ts_ms":5,"type":"node.skipped","node":"b","reason":"dead"}"#
        );
        let back: RunEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ev);
    }
}
