//! From an HTTP request to a flow's inputs: path parameters, the query
//! (multi-valued), headers (lower-case, credentials stripped) and the body
//! by its content type (JSON with the position of an error, a form, text,
//! or bytes as base64).

use axum::http::{HeaderMap, HeaderName, header};
use serde_json::{Map, Value, json};
use weft_router::ParamValue;

use crate::server::error::ApiError;

pub(super) fn wants(headers: &HeaderMap, name: HeaderName, needle: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(needle))
}

pub(super) fn param_value(v: &ParamValue) -> Value {
    match v {
        ParamValue::Str(s) | ParamValue::Uuid(s) => json!(s),
        ParamValue::Int(i) => json!(i),
    }
}

/// `?a=1&a=2&b` as `{"a": ["1", "2"], "b": [""]}` (percent-decoded).
pub(super) fn query_map(query: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if let Value::Array(values) = out.entry(k.into_owned()).or_insert_with(|| json!([])) {
            values.push(json!(v));
        }
    }
    out
}

pub(super) fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in headers {
        if name == header::AUTHORIZATION || name.as_str() == "x-api-key" || name == header::COOKIE {
            continue; // credentials never reach the flow
        }
        if let Ok(v) = value.to_str() {
            out.insert(name.as_str().to_string(), json!(v));
        }
    }
    out
}

/// The body by its content type: JSON (400 with the position when it does
/// not parse), a form, text, or bytes (base64).
pub(super) fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if kind.starts_with("application/json") || kind.contains("+json") {
        return serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        });
    }
    if kind.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(bytes);
        return Ok(Value::Object(query_map(Some(&text))));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(json!(text)),
        Err(_) => {
            use base64::Engine as _;
            Ok(json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}))
        }
    }
}

/// Each declared input from the path parameter of its name, else the JSON
/// body's field, else the query's single value; `request` gets `whole`.
pub(super) fn flow_inputs(
    document: &Value,
    params: &Map<String, Value>,
    query: &Map<String, Value>,
    body: &Value,
    whole: impl Fn() -> Value,
) -> Map<String, Value> {
    let mut inputs = Map::new();
    let Some(declared) = document.get("inputs").and_then(Value::as_object) else {
        return inputs;
    };
    for name in declared.keys() {
        let value = if name == "request" {
            Some(whole())
        } else if let Some(v) = params.get(name) {
            Some(v.clone())
        } else if let Some(v) = body.get(name) {
            Some(v.clone())
        } else {
            match query.get(name).and_then(Value::as_array) {
                Some(values) if values.len() == 1 => Some(values[0].clone()),
                Some(values) => Some(Value::Array(values.clone())),
                None => None,
            }
        };
        if let Some(v) = value {
            inputs.insert(name.clone(), v);
        }
    }
    inputs
}
