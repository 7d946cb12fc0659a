//! Triggers: how a published flow is started from outside. Today one kind,
//! HTTP routes; the list is tagged by `kind` so that others can follow.
//!
//! ```json
//! "triggers": [
//!   { "kind": "http", "id": "greet", "methods": ["POST"], "path": "/hello/{name}",
//!     "auth": "api_key", "modes": ["sync", "stream", "async"],
//!     "cors": { "origins": ["https://app.example.com"], "headers": ["content-type"],
//!               "max_age_secs": 600 } }
//! ]
//! ```
//!
//! These are the serde types only; the rules a valid trigger follows
//! (method names, the route pattern language of `weft-router`, unique ids,
//! no two routes of the flow answering the same request, CORS origins) are
//! checked by the runtime's validation and described in
//! `docs/flow-format.md` ("Triggers"). Publishing a flow version to a stage
//! is to register its HTTP triggers as routes of that (project, stage).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One trigger of a flow, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// An HTTP route: requests matching `methods` and `path` start a run.
    Http(HttpTrigger),
}

impl Trigger {
    /// The `kind` tag as written (`http`).
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Http(_) => "http",
        }
    }

    /// The trigger's id: the one written, else `KIND-INDEX` (`http-0`),
    /// where `index` is the trigger's position in the flow's `triggers`.
    pub fn id_or_default(&self, index: usize) -> String {
        let written = match self {
            Trigger::Http(t) => t.id.as_deref(),
        };
        match written {
            Some(id) => id.to_string(),
            None => default_id(self.kind(), index),
        }
    }
}

/// The id of a trigger that does not give one: `KIND-INDEX` (`http-0`).
pub fn default_id(kind: &str, index: usize) -> String {
    format!("{kind}-{index}")
}

/// An HTTP route to the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// Names the route in messages (a conflict at publish time names the
    /// flow and this id). Unique among the flow's triggers;
    /// `[A-Za-z_][A-Za-z0-9_-]*`. Default: `http-INDEX`, the trigger's
    /// position in `triggers` (`http-0` for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The HTTP methods the route answers, upper-case: `GET`, `HEAD`,
    /// `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`, `CONNECT`, `TRACE`. At
    /// least one, each once. Default: `["POST"]`.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// The route pattern, below the stage's base path: static segments,
    /// `{name}`, `{id:int}`, `{id:uuid}`, `{code:regex(RE)}` and a trailing
    /// `{*rest}` (the `weft-router` pattern language).
    pub path: String,
    /// Who may call the route. Default: `api_key`.
    #[serde(default)]
    pub auth: HttpAuth,
    /// How a caller may run the flow through this route: at least one, each
    /// once. Default: `["sync"]`.
    #[serde(default = "default_modes")]
    pub modes: Vec<TriggerMode>,
    /// Cross-origin access from browsers. Default: none (no CORS headers
    /// are sent, so browsers refuse cross-origin calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
}

impl HttpTrigger {
    /// `methods` when not given.
    pub const DEFAULT_METHODS: &'static [&'static str] = &["POST"];
    /// `modes` when not given.
    pub const DEFAULT_MODES: &'static [TriggerMode] = &[TriggerMode::Sync];
}

fn default_methods() -> Vec<String> {
    HttpTrigger::DEFAULT_METHODS
        .iter()
        .map(|m| m.to_string())
        .collect()
}

fn default_modes() -> Vec<TriggerMode> {
    HttpTrigger::DEFAULT_MODES.to_vec()
}

/// Who may call an HTTP trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpAuth {
    /// Callers present an API key of the project (the default: a route is
    /// never public by accident).
    #[default]
    ApiKey,
    /// Anyone may call the route.
    Public,
}

impl HttpAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpAuth::ApiKey => "api_key",
            HttpAuth::Public => "public",
        }
    }
}

/// How a caller may run a flow through a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMode {
    /// The response waits for the run and carries its outputs.
    Sync,
    /// The response is a server-sent event stream of the run's events.
    Stream,
    /// The response (202) carries the run's id at once; the run goes on.
    Async,
}

impl TriggerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerMode::Sync => "sync",
            TriggerMode::Stream => "stream",
            TriggerMode::Async => "async",
        }
    }
}

/// Cross-origin resource sharing for one HTTP trigger. Preflight requests
/// (`OPTIONS`) are answered for the trigger's own methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// The origins allowed to call, each `scheme://host[:port]` exactly as
    /// browsers send it (lower-case, no default port, no path), or `["*"]`
    /// for any origin. At least one.
    pub origins: Vec<String>,
    /// Request headers a caller may send besides the CORS-safelisted ones
    /// (`content-type: application/json` needs `content-type`). Names are
    /// case-insensitive. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Response headers scripts may read besides the safelisted ones.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Whether browsers may send credentials (cookies, HTTP
    /// authentication); not with `origins: ["*"]`. Default: `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub credentials: bool,
    /// How long browsers may cache a preflight answer, in seconds (at most
    /// 86 400). Default: not sent (browsers use 5 seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
}

impl Cors {
    /// The largest `max_age_secs` (one day; browsers cap it lower anyway).
    pub const MAX_AGE_SECS: u32 = 86_400;
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowDocument;

    const WITH_TRIGGERS: &str = r#"{
      "weft": 1, "name": "hello",
      "inputs": { "name": "string" },
      "nodes": [ { "id": "shout", "type": "text.upper" } ],
      "edges": [ { "from": "input.name", "to": "shout.text" } ],
      "outputs": { "greeting": "shout.text" },
      "triggers": [
        { "kind": "http", "id": "greet", "methods": ["POST", "PUT"], "path": "/hello/{name}",
          "auth": "public", "modes": ["sync", "stream", "async"],
          "cors": { "origins": ["https://app.example.com"], "headers": ["content-type"],
                    "expose_headers": ["x-run-id"], "credentials": true, "max_age_secs": 600 } },
        { "kind": "http", "path": "/hello" }
      ]
    }"#;

    #[test]
    fn defaults_are_filled_in() {
        let doc: FlowDocument = serde_json::from_str(WITH_TRIGGERS).unwrap();
        let Trigger::Http(t) = &doc.triggers[1];
        assert_eq!(t.id, None);
        assert_eq!(doc.triggers[1].id_or_default(1), "http-1");
        assert_eq!(doc.triggers[0].id_or_default(0), "greet");
        assert_eq!(t.methods, vec!["POST"]);
        assert_eq!(t.auth, HttpAuth::ApiKey);
        assert_eq!(t.modes, vec![TriggerMode::Sync]);
        assert_eq!(t.cors, None);
    }

    #[test]
    fn a_document_with_triggers_round_trips() {
        let doc: FlowDocument = serde_json::from_str(WITH_TRIGGERS).unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let again: FlowDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(doc, again);
        let Trigger::Http(t) = &again.triggers[0];
        let cors = t.cors.as_ref().unwrap();
        assert!(cors.credentials);
        assert_eq!(cors.max_age_secs, Some(600));
        // The defaults are written out once parsed; unset options are not.
        let value = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            value["triggers"][1],
            serde_json::json!({"kind": "http", "methods": ["POST"], "path": "/hello",
                               "auth": "api_key", "modes": ["sync"]})
        );
    }

    #[test]
    fn a_document_without_triggers_has_no_triggers_key() {
        let text = r#"{"weft":1,"name":"hello","nodes":[],"edges":[]}"#;
        let doc: FlowDocument = serde_json::from_str(text).unwrap();
        assert!(doc.triggers.is_empty());
        assert_eq!(serde_json::to_string(&doc).unwrap(), text);
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let parse = |trigger: &str| {
            serde_json::from_str::<FlowDocument>(&format!(
                r#"{{"weft": 1, "name": "x", "triggers": [{trigger}]}}"#
            ))
            .unwrap_err()
            .to_string()
        };
        let err = parse(r#"{"kind": "http", "path": "/", "method": ["GET"]}"#);
        assert!(err.contains("unknown field `method`"), "{err}");
        let err = parse(r#"{"kind": "cron", "path": "/"}"#);
        assert!(err.contains("unknown variant `cron`"), "{err}");
        let err = parse(r#"{"kind": "http", "path": "/", "cors": {"origin": []}}"#);
        assert!(err.contains("unknown field `origin`"), "{err}");
        let err = parse(r#"{"kind": "http", "path": "/", "auth": "none"}"#);
        assert!(err.contains("unknown variant `none`"), "{err}");
        let err = parse(r#"{"kind": "http"}"#);
        assert!(err.contains("missing field `path`"), "{err}");
    }
}
