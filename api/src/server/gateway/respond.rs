//! A finished run as the HTTP answer: the `response` output of the flow's
//! `http.respond` node when one ran (status, headers, body), else 200 with
//! the outputs as JSON.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The `http.respond` node's response when one ran, else the outputs.
pub(super) fn respond(document: &Value, outcome: &weft_runtime::RunOutcome) -> Response {
    let responder = document
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| {
            n.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t == "http.respond" || t.starts_with("http.respond@"))
        })
        .filter_map(|n| n.get("id").and_then(Value::as_str))
        .find_map(|id| outcome.nodes.get(id)?.outputs.get("response").cloned());
    let Some(response) = responder else {
        return (
            StatusCode::OK,
            axum::Json(Value::Object(outcome.outputs.clone().into_iter().collect())),
        )
            .into_response();
    };
    let status = response
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body = response.get("body").cloned().unwrap_or(Value::Null);
    let mut out = match &body {
        Value::String(text) => (status, text.clone()).into_response(),
        other => (status, axum::Json(other.clone())).into_response(),
    };
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            // Header names and values were checked by the node; anything
            // that is still not a valid header is dropped, never sent raw.
            if let (Ok(n), Some(Ok(v))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                out.headers_mut().insert(n, v);
            }
        }
    }
    out
}
