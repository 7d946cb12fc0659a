//! Turning the [`http::Response`] into the node's outputs: lower-cased and
//! joined headers, the body decoded by content type (JSON, text, or base64
//! when not UTF-8), and the `http.status` error under `fail_on_status`.

use weft_node_sdk::capabilities::http;
use weft_node_sdk::json::compact;
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::{self, Map};

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether a content type is JSON: `application/json`, `text/json` or
/// `…+json`, ignoring parameters and case.
fn is_json_content_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

/// The first `n` characters of `text`, with `…` when cut.
fn excerpt(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// The URL without its query and fragment, for messages.
pub(crate) fn without_query(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |i| &url[..i])
}

/// Maps the response to the node's outputs (or the `http.status` error);
/// `log` receives the log lines.
pub(crate) fn map_response(
    response: http::Response,
    fail_on_status: bool,
    request: &http::Request,
    log: &mut dyn FnMut(LogLevel, String),
) -> Result<Outputs, NodeError> {
    let status = response.status;
    let mut headers = Map::new();
    for (name, value) in response.headers {
        let name = name.to_ascii_lowercase();
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name, Value::String(value));
            }
        }
    }
    let json = headers
        .get("content-type")
        .and_then(Value::as_str)
        .is_some_and(is_json_content_type);
    let bytes = response.body;
    let size = bytes.len();
    let body = match String::from_utf8(bytes) {
        Ok(text) if json && text.trim().is_empty() => Value::Null,
        Ok(text) if json => match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(e) => {
                log(
                    LogLevel::Warn,
                    format!(
                        "the response's content type is JSON but its body is not valid JSON \
                         ({e}); output as a string"
                    ),
                );
                Value::String(text)
            }
        },
        Ok(text) => Value::String(text),
        Err(e) => {
            log(
                LogLevel::Info,
                format!("the response body ({size} bytes) is not UTF-8; output as base64"),
            );
            Value::String(base64(e.as_bytes()))
        }
    };
    if fail_on_status && status >= 400 {
        let detail = match &body {
            Value::String(s) => excerpt(s, 200),
            Value::Null => String::new(),
            other => excerpt(&compact(other), 200),
        };
        let mut message = format!(
            "{} {} answered with status {status}",
            request.method,
            without_query(&request.url)
        );
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(&detail);
        }
        return Err(
            NodeError::new("http.status", message).with_retryable(status >= 500 || status == 429)
        );
    }
    Ok(Outputs::new()
        .set("status", status)
        .set_value("headers", Value::Object(headers))
        .set_value("body", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> http::Response {
        http::Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }

    fn map(
        resp: http::Response,
        fail_on_status: bool,
    ) -> (Result<Outputs, NodeError>, Vec<(LogLevel, String)>) {
        let request = http::Request {
            method: "GET".into(),
            url: "https://api.example.com/x?key=1".into(),
            headers: vec![],
            body: None,
            timeout_ms: None,
        };
        let mut logs = Vec::new();
        let result = map_response(resp, fail_on_status, &request, &mut |l, m| {
            logs.push((l, m))
        });
        (result, logs)
    }

    #[test]
    fn maps_responses() {
        let (result, logs) = map(
            response(
                200,
                &[
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("Set-Cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ],
                br#"{"ok": true, "n": [1, 2]}"#,
            ),
            false,
        );
        let outputs = result.unwrap();
        assert_eq!(outputs.get("status"), Some(&json!(200)));
        assert_eq!(
            outputs.get("headers"),
            Some(&json!({"content-type": "application/json; charset=utf-8",
                         "set-cookie": "a=1, b=2"}))
        );
        assert_eq!(outputs.get("body"), Some(&json!({"ok": true, "n": [1, 2]})));
        assert!(logs.is_empty());

        let (result, _) = map(
            response(200, &[("content-type", "application/problem+json")], b"[1]"),
            false,
        );
        assert_eq!(result.unwrap().get("body"), Some(&json!([1])));
        let (result, _) = map(
            response(204, &[("content-type", "application/json")], b""),
            false,
        );
        assert_eq!(result.unwrap().get("body"), Some(&json!(null)));

        // Declared JSON that is not: a string and a warning.
        let (result, logs) = map(
            response(200, &[("content-type", "application/json")], b"{oops"),
            false,
        );
        assert_eq!(result.unwrap().get("body"), Some(&json!("{oops")));
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0, LogLevel::Warn);

        // Text stays text, even when it looks like JSON.
        let (result, _) = map(
            response(200, &[("content-type", "text/plain")], b"{\"a\":1}"),
            false,
        );
        assert_eq!(result.unwrap().get("body"), Some(&json!("{\"a\":1}")));
        let (result, _) = map(response(200, &[], b"plain"), false);
        assert_eq!(result.unwrap().get("body"), Some(&json!("plain")));

        // Not UTF-8: base64 and a log line.
        let (result, logs) = map(
            response(
                200,
                &[("content-type", "application/json")],
                &[0xff, 0, 1, 2],
            ),
            false,
        );
        assert_eq!(result.unwrap().get("body"), Some(&json!("/wABAg==")));
        assert_eq!(logs.len(), 1);
        assert!(logs[0].1.contains("base64"));
    }

    #[test]
    fn status_failures() {
        // Without fail_on_status every status is an output.
        let (result, _) = map(response(503, &[], b"busy"), false);
        assert_eq!(result.unwrap().get("status"), Some(&json!(503)));
        for (status, retryable) in [
            (500, true),
            (503, true),
            (429, true),
            (404, false),
            (400, false),
        ] {
            let (result, _) = map(response(status, &[], b"nope"), true);
            let e = result.unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("http.status", retryable));
            assert!(e.message().contains(&status.to_string()), "{e}");
            assert!(e.message().contains("nope"), "{e}");
            assert!(!e.message().contains("key=1"), "{e}");
        }
        let long = "x".repeat(500);
        let (result, _) = map(response(400, &[], long.as_bytes()), true);
        let e = result.unwrap_err();
        assert!(e.message().len() < 300, "{e}");
        let (result, _) = map(response(399, &[], b""), true);
        assert!(result.is_ok());
    }

    #[test]
    fn helpers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert!(is_json_content_type("Application/JSON ; charset=x"));
        assert!(!is_json_content_type("application/jsonp"));
        assert_eq!(excerpt("héllo", 2), "hé…");
    }
}
