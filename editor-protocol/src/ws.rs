//! The editor websocket (`GET /v1/editor`): every message either side
//! sends, as one JSON object per text frame, tagged by `type`.
//!
//! A session goes:
//!
//! 1. The client sends [`ClientMessage::Hello`] with the protocol version it
//!    speaks (and its token, unless it sent `Authorization: Bearer` on the
//!    upgrade request). The server answers [`ServerMessage::Welcome`], or an
//!    [`ServerMessage::Error`] and closes the connection.
//! 2. Every later client message is a command with a correlation `id` the
//!    client chooses; the server answers each with exactly one
//!    [`ServerMessage::Ack`] or [`ServerMessage::Error`] carrying that id.
//! 3. Run events of subscribed topics arrive as [`ServerMessage::Event`], in
//!    `seq` order per run, without gaps or duplicates. Subscribing to a run
//!    that already started first replays its stored events (after
//!    `after_seq`, when given), then continues live.
//! 4. A client that reads too slowly to keep up gets
//!    [`ServerMessage::Lagged`] for the events it missed, and can subscribe
//!    again with `after_seq` to catch up; the server never waits for it.
//!
//! ```json
//! → {"type":"hello","protocol":1,"token":"wft_…"}
//! ← {"type":"welcome","protocol":1,"server":"weft 0.1.0"}
//! → {"type":"run.start","id":"c1","project":"demo","flow":"hello","source":{"kind":"draft","document":{…}},"inputs":{"name":"Ada"}}
//! ← {"type":"ack","id":"c1","run":"r-01J…"}
//! ← {"type":"event","event":{"run":"r-01J…","seq":1,"ts_ms":…,"type":"run.started",…}}
//! ```

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::RunEvent;

/// The protocol version this crate describes. A server accepts the
/// versions it knows and refuses others in its `error`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message from the editor to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message of a session.
    #[serde(rename = "hello")]
    Hello {
        /// The protocol version the client speaks ([`PROTOCOL_VERSION`]).
        protocol: u32,
        /// An API token, unless the upgrade request carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Receive the events of a topic from now on (and, for a run, the
    /// stored ones first).
    #[serde(rename = "subscribe")]
    Subscribe {
        id: String,
        topic: Topic,
        /// For a run: replay only the events with a larger `seq` (a
        /// reconnecting client passes the last `seq` it saw).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_seq: Option<u64>,
    },
    /// Stop receiving a topic's events.
    #[serde(rename = "unsubscribe")]
    Unsubscribe { id: String, topic: Topic },
    /// Start a run; the ack carries its id, and the client is subscribed to
    /// it before its first event.
    #[serde(rename = "run.start")]
    RunStart(Box<RunStart>),
    /// Cancel a running run.
    #[serde(rename = "run.cancel")]
    RunCancel { id: String, run: String },
    #[serde(rename = "ping")]
    Ping { id: String },
}

impl ClientMessage {
    /// The command's correlation id (`hello` has none).
    pub fn id(&self) -> Option<&str> {
        match self {
            ClientMessage::Hello { .. } => None,
            ClientMessage::Subscribe { id, .. }
            | ClientMessage::Unsubscribe { id, .. }
            | ClientMessage::RunCancel { id, .. }
            | ClientMessage::Ping { id } => Some(id),
            ClientMessage::RunStart(start) => Some(&start.id),
        }
    }
}

/// What a subscription follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Topic {
    /// One run's events.
    Run { run: String },
    /// The events of every run of one flow that starts from now on.
    Flow { project: String, flow: String },
    /// The events of every run in a project that starts from now on.
    Project { project: String },
}

/// `run.start`: what to run and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStart {
    pub id: String,
    pub project: String,
    /// The flow the run belongs to (its history lists the run).
    pub flow: String,
    pub source: RunSource,
    /// The flow's inputs.
    #[serde(default)]
    pub inputs: IndexMap<String, Value>,
    /// Nodes that do not run: their outputs are these values
    /// (`{"node": {"port": value}}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pinned: IndexMap<String, serde_json::Map<String, Value>>,
    /// Run only this node and what depends on it, reusing an earlier run's
    /// outputs for everything upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_from: Option<StartFrom>,
    /// Run only this node and what it depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_at: Option<String>,
}

/// Which document a run executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunSource {
    /// An unsaved document from the editor.
    Draft { document: Value },
    /// A stored version (its id); the latest when absent.
    Version {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
}

/// `start_from`: the node to start at and the run whose outputs feed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartFrom {
    pub node: String,
    /// An earlier run of the same flow.
    pub run: String,
}

/// A message from the server to the editor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// The answer to `hello`.
    #[serde(rename = "welcome")]
    Welcome {
        protocol: u32,
        /// The server's name and version, e.g. `weft 0.1.0`.
        server: String,
    },
    /// A command succeeded.
    #[serde(rename = "ack")]
    Ack {
        id: String,
        /// For `run.start`: the new run's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
    },
    /// A command (or a frame that was not one) failed.
    #[serde(rename = "error")]
    Error {
        /// The command's id, when the frame had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        error: WsError,
    },
    /// One run event of a subscribed topic.
    #[serde(rename = "event")]
    Event { event: RunEvent },
    /// The connection fell behind: `missed` events of `run` after
    /// `after_seq` were dropped for this client. Subscribe to the run
    /// again with that `after_seq` to get them.
    #[serde(rename = "lagged")]
    Lagged {
        run: String,
        after_seq: u64,
        missed: u64,
    },
    #[serde(rename = "pong")]
    Pong { id: String },
}

/// An error as the websocket reports it (the REST API's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WsError {
    /// Machine-readable: `bad_message`, `unauthorized`, `not_found`,
    /// `invalid_flow`, `unsupported_protocol`, ...
    pub code: String,
    pub message: String,
    /// Structured detail, e.g. the diagnostics of an invalid flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn client_messages_round_trip() {
        let text =
            r#"{"type":"subscribe","id":"c1","topic":{"kind":"run","run":"r1"},"after_seq":7}"#;
        let msg: ClientMessage = serde_json::from_str(text).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Subscribe {
                id: "c1".into(),
                topic: Topic::Run { run: "r1".into() },
                after_seq: Some(7)
            }
        );
        assert_eq!(serde_json::to_string(&msg).unwrap(), text);
        assert_eq!(msg.id(), Some("c1"));

        let start: ClientMessage = serde_json::from_value(json!({
            "type": "run.start", "id": "c2", "project": "p", "flow": "f",
            "source": {"kind": "version"},
            "pinned": {"a": {"text": "x"}}
        }))
        .unwrap();
        let ClientMessage::RunStart(start) = start else {
            panic!("not a run.start")
        };
        assert_eq!(start.source, RunSource::Version { version: None });
        assert_eq!(start.pinned["a"]["text"], "x");
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"ping","id":"1","x":2}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance","id":"1"}"#).is_err());
    }

    #[test]
    fn server_messages_have_a_flat_tag() {
        let msg = ServerMessage::Lagged {
            run: "r1".into(),
            after_seq: 3,
            missed: 10,
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"type":"lagged","run":"r1","after_seq":3,"missed":10}"#
        );
    }
}
