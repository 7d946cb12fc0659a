//! Building the [`http::Request`] at run time: rendering the URL, query and
//! header templates, merging the `query` and `headers` inputs over the
//! configured ones, checking the result, and encoding the `body` input.

use weft_node_sdk::capabilities::http;
use weft_node_sdk::json::compact;
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::Map;

use crate::config::{BodyMode, Config, Parsed, has_http_scheme, has_line_break, is_token};
use crate::template::{Secrets, percent_encode, render, text_of};

/// A JSON value as one or more parameter/header values: a scalar is one
/// value, a list one value per (scalar) element. `Err` names what is wrong.
fn values_of(value: &Value) -> Result<Vec<String>, &'static str> {
    fn scalar(value: &Value) -> Result<String, &'static str> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Null => Err("a list element is null"),
            Value::Array(_) => Err("a list element is a list"),
            Value::Object(_) => Err("a list element is an object"),
        }
    }
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        Value::Object(_) => Err("it is an object"),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// `(name, values)` pairs, replaced or extended by the entries of an input
/// object (`null` removes). `same` compares names.
fn merge(
    pairs: &mut Vec<(String, Vec<String>)>,
    extra: Map<String, Value>,
    same: fn(&str, &str) -> bool,
    error: impl Fn(&str, &str) -> NodeError,
) -> Result<(), NodeError> {
    for (name, value) in extra {
        let slot = pairs.iter().position(|(n, _)| same(n, &name));
        if value.is_null() {
            if let Some(i) = slot {
                pairs.remove(i);
            }
            continue;
        }
        let values = values_of(&value).map_err(|why| error(&name, why))?;
        match slot {
            Some(i) => pairs[i].1 = values,
            None => pairs.push((name, values)),
        }
    }
    Ok(())
}

/// Builds the request from the config, its parsed templates and the inputs;
/// `secret` looks a secret up by name.
pub(crate) fn build_request(
    config: &Config,
    parsed: &Parsed,
    inputs: &Inputs,
    secret: &mut dyn FnMut(&str) -> Result<String, CapabilityError>,
) -> Result<http::Request, NodeError> {
    let mut secrets = Secrets::new(secret);
    let mut url = render(&parsed.url, "url", true, inputs, &mut secrets)?;
    if !has_http_scheme(&url) {
        return Err(NodeError::new(
            "http.url",
            format!("the URL `{url}` does not start with `http://` or `https://`"),
        )
        .fatal());
    }

    let mut query = Vec::new();
    for (name, pieces) in &parsed.query {
        let value = render(
            pieces,
            &format!("query `{name}`"),
            false,
            inputs,
            &mut secrets,
        )?;
        query.push((name.clone(), vec![value]));
    }
    if let Some(extra) = inputs.opt::<Map<String, Value>>("query")? {
        merge(
            &mut query,
            extra,
            |a, b| a == b,
            |name, why| {
                NodeError::new(
                    "http.query",
                    format!("input `query`: parameter `{name}` cannot be sent: {why}"),
                )
                .fatal()
            },
        )?;
    }
    append_query(&mut url, &query);

    let mut headers = Vec::new();
    for (name, pieces) in &parsed.headers {
        let value = render(
            pieces,
            &format!("header `{name}`"),
            false,
            inputs,
            &mut secrets,
        )?;
        headers.push((name.clone(), vec![value]));
    }
    if let Some(extra) = inputs.opt::<Map<String, Value>>("headers")? {
        merge(
            &mut headers,
            extra,
            |a, b| a.eq_ignore_ascii_case(b),
            |name, why| {
                NodeError::new(
                    "http.header",
                    format!("input `headers`: header `{name}` cannot be sent: {why}"),
                )
                .fatal()
            },
        )?;
    }
    for (name, values) in &headers {
        if !is_token(name) {
            return Err(NodeError::new(
                "http.header",
                format!("input `headers`: `{name}` is not a valid header name"),
            )
            .fatal());
        }
        if values.iter().any(|v| has_line_break(v)) {
            return Err(NodeError::new(
                "http.header",
                format!("the value of header `{name}` contains a line break or NUL"),
            )
            .fatal());
        }
    }

    let body = match inputs.value("body") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let (bytes, content_type) = match config.body {
                BodyMode::Json => (compact(value).into_bytes(), "application/json"),
                BodyMode::Text => (text_of(value).into_bytes(), "text/plain; charset=utf-8"),
            };
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".to_owned(), vec![content_type.to_owned()]));
            }
            Some(bytes)
        }
    };

    Ok(http::Request {
        method: config.method.as_str().to_owned(),
        url,
        headers: headers
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect(),
        body,
        timeout_ms: config.timeout_ms,
    })
}

/// Appends percent-encoded query parameters to `url`, before any fragment.
fn append_query(url: &mut String, query: &[(String, Vec<String>)]) {
    let pairs: Vec<String> = query
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| format!("{}={}", percent_encode(name), percent_encode(v)))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let fragment = url.find('#').map(|i| url.split_off(i));
    if !url.contains('?') {
        url.push('?');
    } else if !url.ends_with(['?', '&']) {
        url.push('&');
    }
    url.push_str(&pairs.join("&"));
    if let Some(fragment) = fragment {
        url.push_str(&fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    fn config(value: Value) -> Config {
        weft_node_sdk::serde_json::from_value(value).unwrap()
    }

    fn no_secrets(name: &str) -> Result<String, CapabilityError> {
        Err(CapabilityError::NotFound(format!("no secret {name}")))
    }

    /// Builds the request for `config` and `inputs`, with the secret
    /// `TOKEN` = `s3cr/t`.
    fn build(config_json: Value, inputs: &[(&str, Value)]) -> Result<http::Request, NodeError> {
        let config = config(config_json);
        let parsed = parse_config(&config).unwrap();
        let inputs = Inputs::from_pairs(inputs.iter().map(|(p, v)| (*p, v.clone())));
        build_request(&config, &parsed, &inputs, &mut |name| {
            if name == "TOKEN" {
                Ok("s3cr/t".to_owned())
            } else {
                no_secrets(name)
            }
        })
    }

    fn header<'r>(request: &'r http::Request, name: &str) -> Vec<&'r str> {
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn builds_url_with_encoding_query_and_secrets() {
        let request = build(
            json!({
                "url": "https://api.example.com/users/{{ user.id }}/{{ name }}?fixed=1#frag",
                "query": {"q": "{{ name }} & co", "key": "{{ secret.TOKEN }}"},
                "timeout_ms": 2500,
            }),
            &[
                ("user", json!({"id": 42})),
                ("name", json!("a/b c")),
                (
                    "query",
                    json!({"page": 2, "tags": ["x", "y"], "fixed2": true}),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            request.url,
            "https://api.example.com/users/42/a%2Fb%20c?fixed=1&q=a%2Fb%20c%20%26%20co\
             &key=s3cr%2Ft&page=2&tags=x&tags=y&fixed2=true#frag"
        );
        assert_eq!(request.method, "GET");
        assert_eq!(request.timeout_ms, Some(2500));
        assert_eq!(request.body, None);
        assert!(request.headers.is_empty());

        // The query input replaces or removes configured parameters.
        let request = build(
            json!({"url": "http://x/", "query": {"a": "1", "b": "2"}}),
            &[("query", json!({"a": "one", "b": null}))],
        )
        .unwrap();
        assert_eq!(request.url, "http://x/?a=one");

        // A leading placeholder supplies the base URL verbatim.
        let request = build(
            json!({"url": "{{ base }}/items/{{ id }}"}),
            &[
                ("base", json!("https://h.example:8080/v1")),
                ("id", json!("é")),
            ],
        )
        .unwrap();
        assert_eq!(request.url, "https://h.example:8080/v1/items/%C3%A9");
    }

    #[test]
    fn url_errors() {
        let e = build(
            json!({"url": "{{ base }}/x"}),
            &[("base", json!("ftp://h"))],
        )
        .unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("http.url", false));
        let e = build(json!({"url": "http://x/{{ a.b }}"}), &[("a", json!({}))]).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("template.missing", false));
        assert!(
            e.message().starts_with("url: ") && e.message().contains("`a.b`"),
            "{e}"
        );
        let e = build(json!({"url": "http://x/{{ a }}"}), &[]).unwrap_err();
        assert_eq!(e.code(), "input.missing");
        let e = build(json!({"url": "http://x/{{ secret.OTHER }}"}), &[]).unwrap_err();
        assert_eq!(
            (e.code(), e.is_retryable()),
            ("capability.not-found", false)
        );
        assert!(e.message().contains("secret `OTHER`"), "{e}");
        let e = build(
            json!({"url": "http://x/"}),
            &[("query", json!({"a": {"b": 1}}))],
        )
        .unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("http.query", false));
        assert!(
            e.message().contains("`a`") && e.message().contains("object"),
            "{e}"
        );
        let e = build(json!({"url": "http://x/"}), &[("query", json!([1]))]).unwrap_err();
        assert_eq!(e.code(), "input.type");
    }

    #[test]
    fn builds_headers_and_bodies() {
        let request = build(
            json!({
                "method": "POST",
                "url": "https://x/",
                "headers": {"Authorization": "Bearer {{ secret.TOKEN }}", "X-Id": "{{ id }}",
                            "X-Gone": "1"},
            }),
            &[
                ("id", json!([1, 2])),
                ("body", json!({"a": [1, "é"]})),
                (
                    "headers",
                    json!({"x-gone": null, "Accept": ["a/b", "c/d"], "X-N": 5}),
                ),
            ],
        )
        .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(header(&request, "authorization"), ["Bearer s3cr/t"]);
        assert_eq!(header(&request, "x-id"), ["[1,2]"]);
        assert!(header(&request, "x-gone").is_empty());
        assert_eq!(header(&request, "accept"), ["a/b", "c/d"]);
        assert_eq!(header(&request, "x-n"), ["5"]);
        assert_eq!(header(&request, "content-type"), ["application/json"]);
        assert_eq!(request.body.as_deref(), Some(r#"{"a":[1,"é"]}"#.as_bytes()));

        // A configured content-type wins; text bodies are sent as is.
        let request = build(
            json!({"method": "PUT", "url": "https://x/", "body": "text",
                   "headers": {"Content-Type": "text/csv"}}),
            &[("body", json!("a,b\n1,2"))],
        )
        .unwrap();
        assert_eq!(header(&request, "content-type"), ["text/csv"]);
        assert_eq!(request.body.as_deref(), Some("a,b\n1,2".as_bytes()));
        let request = build(
            json!({"url": "https://x/", "body": "text"}),
            &[("body", json!({"n": 1}))],
        )
        .unwrap();
        assert_eq!(
            header(&request, "content-type"),
            ["text/plain; charset=utf-8"]
        );
        assert_eq!(request.body.as_deref(), Some(r#"{"n":1}"#.as_bytes()));
        // A null body sends nothing.
        let request = build(json!({"url": "https://x/"}), &[("body", json!(null))]).unwrap();
        assert_eq!(request.body, None);
        assert!(request.headers.is_empty());

        for (headers, needle) in [
            (json!({"bad name": "x"}), "`bad name`"),
            (json!({"x-a": "a\r\nb"}), "line break"),
            (json!({"x-a": {"b": 1}}), "object"),
            (json!({"x-a": [null]}), "null"),
        ] {
            let e = build(json!({"url": "https://x/"}), &[("headers", headers)]).unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("http.header", false));
            assert!(e.message().contains(needle), "{e}");
        }
        let e = build(
            json!({"url": "https://x/", "headers": {"X-A": "{{ v }}"}}),
            &[("v", json!("a\nb"))],
        )
        .unwrap_err();
        assert_eq!(e.code(), "http.header");
        assert!(e.message().contains("`X-A`"), "{e}");
    }

    #[test]
    fn appends_query() {
        let mut url = "http://x/a?".to_owned();
        append_query(&mut url, &[("k".into(), vec!["v".into()])]);
        assert_eq!(url, "http://x/a?k=v");
    }
}
