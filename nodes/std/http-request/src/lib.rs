//! `http.request`: sends an HTTP request (capability `http`) and outputs the
//! response.
//!
//! * Config: `{method?: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE"
//!   | "OPTIONS" (default GET), url: template, headers?: {name: template},
//!   query?: {name: template}, body?: "json" | "text" (default json),
//!   timeout_ms?: int, fail_on_status?: bool (default false)}`.
//! * Inputs: one required `any` input per distinct template variable across
//!   `url`, `headers` and `query` (in that order of first use), then the
//!   optional `body: any`, `query: object` and `headers: object`.
//! * Outputs: `status: int`, `headers: object`, `body: any`.
//! * Capabilities: `http`, plus `secrets` when a template uses
//!   `{{ secret.NAME }}`.
//!
//! # Templates
//!
//! `url`, header values and query values are templates with the syntax of
//! `text.template`: `{{ var }}`, `{{ var.path.0 }}`; strings are inserted
//! raw, `null` as nothing, other values as compact JSON. `{{ secret.NAME }}`
//! is not an input: it is replaced by the secret `NAME` (`ctx.secret`), and
//! the host redacts the value from every event, log and output. `body`,
//! `query` and `headers` cannot be template variables (they are the names of
//! the fixed inputs), and `secret` is reserved.
//!
//! In `url`, every substituted value is percent-encoded (everything except
//! `A-Z a-z 0-9 - . _ ~`, so a `/` in a value stays inside its path
//! segment) — except a placeholder at the very start of the URL, which is
//! inserted verbatim so that it can supply the base URL (`{{ base }}/items`).
//! A URL that starts with literal text must start with `http://` or
//! `https://` (a config problem otherwise); the rendered URL is checked again
//! at run time (non-retryable `http.url`).
//!
//! # Query and headers
//!
//! Query parameters (configured ones, then the `query` input's) are
//! percent-encoded and appended to the URL (after any query already in it).
//! The `query` input's entries replace configured parameters of the same
//! name; a `null` removes one, a list repeats the parameter, other scalars
//! are written as text; an object is the non-retryable error `http.query`.
//!
//! Configured header names must be HTTP tokens, and are unique ignoring
//! case. The `headers` input's entries replace configured headers of the
//! same name (ignoring case); `null` removes one and a list sends the header
//! once per element. A bad name, a value with a line break or NUL, or an
//! object value is the non-retryable error `http.header`.
//!
//! # Body
//!
//! Without a live `body` input (or with `null`), no body is sent. With
//! `body: "json"` (the default) the value is sent as JSON and
//! `content-type: application/json` is added unless a `content-type` header
//! is set; with `body: "text"` a string is sent as is (other values as
//! compact JSON) with `content-type: text/plain; charset=utf-8` unless set.
//!
//! # Response
//!
//! `status` is the status code; `headers` an object with lower-case names
//! (repeated headers joined with `", "`); `body` the parsed JSON when the
//! response's content type is JSON (`application/json`, `text/json` or
//! `…+json`; an empty body is then `null`, and a body that is not valid JSON
//! is output as a string with a `warn` log line), else the text as a string.
//! A body that is not UTF-8 is output as a base64 string, with an `info` log
//! line.
//!
//! With `fail_on_status: false` (the default) every status is a normal
//! output. With `fail_on_status: true`, a status of 400 or more fails the
//! node with `http.status`, retryable for 5xx and 429 and not for other 4xx.
//!
//! A transport failure (the host's capability error) fails the node with
//! `capability.<kind>`: `capability.timeout` and `capability.failed` are
//! retryable, `capability.denied` / `.invalid` / `.not-found` are not. To
//! handle failures inside the flow instead, set `policy.on_error:
//! "continue"` on the node: its `error` port then carries `{node, code,
//! message}`.

use weft_node_sdk::capabilities::http;
use weft_node_sdk::json::{Path, compact, pointer_of};
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::{self, Map};
use weft_node_sdk::types::is_port_name;

/// An HTTP method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET (the default).
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

/// How the `body` input is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyMode {
    /// As JSON, with `content-type: application/json` unless set (the
    /// default).
    #[default]
    Json,
    /// A string as is (other values as compact JSON), with `content-type:
    /// text/plain; charset=utf-8` unless set.
    Text,
}

/// `http.request`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP method (default `GET`).
    #[serde(default)]
    pub method: Method,
    /// The URL, a template: `{{ var }}` placeholders become inputs (values
    /// are percent-encoded, except a placeholder at the very start, which
    /// may supply the base URL); `{{ secret.NAME }}` inserts a secret. Must
    /// start with `http://` or `https://`.
    pub url: String,
    /// Request headers: name → value template.
    #[serde(default)]
    pub headers: OrderedMap<String>,
    /// Query parameters appended to the URL: name → value template.
    #[serde(default)]
    pub query: OrderedMap<String>,
    /// How the `body` input is sent: `json` (default) or `text`.
    #[serde(default)]
    pub body: BodyMode,
    /// The request's time limit in milliseconds (the host's default when
    /// unset).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u32>,
    /// Fail the node on a status of 400 or more (`http.status`, retryable
    /// for 5xx and 429). Default false: every status is a normal output.
    #[serde(default)]
    pub fail_on_status: bool,
}

/// The names of the fixed inputs, which templates cannot use.
const FIXED_INPUTS: [&str; 3] = ["body", "query", "headers"];

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// A placeholder: its dotted path (first segment = input port).
    Var(Path),
    /// `{{ secret.NAME }}`: the secret's name.
    Secret(String),
}

/// Parses a template, or returns every problem found (messages name the
/// character offset of the placeholder).
fn parse_template(template: &str) -> Result<Vec<Piece>, Vec<String>> {
    let char_offset = |byte: usize| template[..byte].chars().count();
    let mut pieces = Vec::new();
    let mut problems = Vec::new();
    let mut pos = 0;
    while let Some(found) = template[pos..].find("{{") {
        let open = pos + found;
        if open > pos {
            pieces.push(Piece::Text(template[pos..open].to_owned()));
        }
        let at = char_offset(open);
        let Some(len) = template[open + 2..].find("}}") else {
            problems.push(format!("unclosed `{{{{` at character {at}"));
            return Err(problems);
        };
        let inner = template[open + 2..open + 2 + len].trim();
        if inner.is_empty() {
            problems.push(format!("empty `{{{{ }}}}` at character {at}"));
        } else {
            match Path::dotted(inner) {
                Err(e) => problems.push(format!("invalid placeholder at character {at}: {e}")),
                Ok(path) => {
                    let segments = path.segments();
                    if segments[0] == "secret" {
                        if segments.len() < 2 {
                            problems.push(format!(
                                "`{{{{ secret }}}}` at character {at} needs a secret name: \
                                 write `{{{{ secret.NAME }}}}`"
                            ));
                        } else {
                            pieces.push(Piece::Secret(segments[1..].join(".")));
                        }
                    } else if is_port_name(&segments[0]) {
                        pieces.push(Piece::Var(path));
                    } else {
                        problems.push(format!(
                            "`{}` at character {at} is not a valid variable name \
                             (a letter or `_`, then letters, digits, `_` or `-`)",
                            segments[0]
                        ));
                    }
                }
            }
        }
        pos = open + 2 + len + 2;
    }
    if pos < template.len() {
        pieces.push(Piece::Text(template[pos..].to_owned()));
    }
    if problems.is_empty() {
        Ok(pieces)
    } else {
        Err(problems)
    }
}

/// An HTTP token (RFC 9110 `tchar`s): a valid header name.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn has_line_break(value: &str) -> bool {
    value.contains(['\r', '\n', '\0'])
}

/// The config's templates, parsed.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    url: Vec<Piece>,
    headers: Vec<(String, Vec<Piece>)>,
    query: Vec<(String, Vec<Piece>)>,
}

impl Parsed {
    fn all(&self) -> impl Iterator<Item = &Piece> {
        self.url
            .iter()
            .chain(self.headers.iter().flat_map(|(_, p)| p))
            .chain(self.query.iter().flat_map(|(_, p)| p))
    }

    /// The distinct top-level variables, in order of first use.
    fn variables(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for piece in self.all() {
            if let Piece::Var(path) = piece {
                let top = path.segments()[0].as_str();
                if !names.contains(&top) {
                    names.push(top);
                }
            }
        }
        names
    }

    fn uses_secrets(&self) -> bool {
        self.all().any(|p| matches!(p, Piece::Secret(_)))
    }
}

/// Parses one template of the config, adding its problems (at `at`) to
/// `problems`.
fn parse_field(template: &str, at: &str, problems: &mut Vec<ConfigProblem>) -> Vec<Piece> {
    match parse_template(template) {
        Ok(pieces) => {
            for piece in &pieces {
                if let Piece::Var(path) = piece {
                    let top = path.segments()[0].as_str();
                    if FIXED_INPUTS.contains(&top) {
                        problems.push(ConfigProblem::new(
                            at,
                            format!(
                                "`{top}` cannot be a template variable: it is the name of the \
                                 `{top}` input"
                            ),
                        ));
                    }
                }
            }
            pieces
        }
        Err(messages) => {
            problems.extend(messages.into_iter().map(|m| ConfigProblem::new(at, m)));
            Vec::new()
        }
    }
}

/// Whether `url` starts with `http://` or `https://` (ignoring case).
fn has_http_scheme(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Checks the config and parses its templates, or returns every problem.
fn parse_config(config: &Config) -> Result<Parsed, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let url = parse_field(&config.url, "/url", &mut problems);
    match url.first() {
        Some(Piece::Var(_) | Piece::Secret(_)) => {} // checked at run time
        Some(Piece::Text(text)) if has_http_scheme(text) => {}
        _ if problems.iter().any(|p| p.path == "/url") => {}
        _ => problems.push(ConfigProblem::field(
            "url",
            "the URL must start with `http://` or `https://`",
        )),
    }
    let mut headers = Vec::new();
    for (i, (name, value)) in config.headers.0.iter().enumerate() {
        let at = pointer_of(["headers", name]);
        if !is_token(name) {
            problems.push(ConfigProblem::new(
                at,
                format!("`{name}` is not a valid header name"),
            ));
            continue;
        }
        if config.headers.0[..i]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            problems.push(ConfigProblem::new(
                at,
                format!("header `{name}` appears twice (names are case-insensitive)"),
            ));
            continue;
        }
        if has_line_break(value) {
            problems.push(ConfigProblem::new(
                at,
                format!("the value of header `{name}` contains a line break or NUL"),
            ));
            continue;
        }
        let pieces = parse_field(value, &at, &mut problems);
        headers.push((name.clone(), pieces));
    }
    let mut query = Vec::new();
    for (name, value) in config.query.iter() {
        let at = pointer_of(["query", name]);
        if name.is_empty() {
            problems.push(ConfigProblem::new(
                at,
                "a query parameter name must not be empty",
            ));
            continue;
        }
        let pieces = parse_field(value, &at, &mut problems);
        query.push((name.to_owned(), pieces));
    }
    if config.timeout_ms == Some(0) {
        problems.push(ConfigProblem::field("timeout_ms", "must be at least 1"));
    }
    if problems.is_empty() {
        Ok(Parsed {
            url,
            headers,
            query,
        })
    } else {
        Err(problems)
    }
}

/// Percent-encodes everything except the unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// A value as template text: strings raw, `null` as nothing, other values
/// as compact JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => compact(other),
    }
}

/// Looks secrets up (once per name and run).
struct Secrets<'a> {
    lookup: &'a mut dyn FnMut(&str) -> Result<String, CapabilityError>,
    cache: Vec<(String, String)>,
}

impl Secrets<'_> {
    fn get(&mut self, name: &str) -> Result<String, NodeError> {
        if let Some((_, value)) = self.cache.iter().find(|(n, _)| n == name) {
            return Ok(value.clone());
        }
        let value = (self.lookup)(name).map_err(|e| {
            let e = NodeError::from(e);
            NodeError::new(e.code(), format!("secret `{name}`: {}", e.message()))
                .with_retryable(e.is_retryable())
        })?;
        self.cache.push((name.to_owned(), value.clone()));
        Ok(value)
    }
}

/// Renders a template; `field` names it in error messages. With
/// `url_encode`, substituted values are percent-encoded, except one at the
/// very start.
fn render(
    pieces: &[Piece],
    field: &str,
    url_encode: bool,
    inputs: &Inputs,
    secrets: &mut Secrets<'_>,
) -> Result<String, NodeError> {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let value = match piece {
            Piece::Text(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Secret(name) => secrets.get(name)?,
            Piece::Var(path) => {
                let Some((top, rest)) = path.split_first() else {
                    continue;
                };
                let value = rest.lookup(inputs.require(top)?).map_err(|missing| {
                    NodeError::new(
                        "template.missing",
                        format!(
                            "{field}: template variable `{path}` not found: `{}` is {}",
                            path.prefix_text(missing.found + 1),
                            missing.reason
                        ),
                    )
                    .fatal()
                })?;
                text_of(value)
            }
        };
        if url_encode && i > 0 {
            out.push_str(&percent_encode(&value));
        } else {
            out.push_str(&value);
        }
    }
    Ok(out)
}

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
fn build_request(
    config: &Config,
    parsed: &Parsed,
    inputs: &Inputs,
    secret: &mut dyn FnMut(&str) -> Result<String, CapabilityError>,
) -> Result<http::Request, NodeError> {
    let mut secrets = Secrets {
        lookup: secret,
        cache: Vec::new(),
    };
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
fn without_query(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |i| &url[..i])
}

/// Maps the response to the node's outputs (or the `http.status` error);
/// `log` receives the log lines.
fn map_response(
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

/// The `http.request` node.
#[derive(Debug)]
pub struct Request;

impl Node for Request {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "http.request",
        version: "1.0.0",
        summary: "Sends an HTTP request built from templates and outputs the response's \
                  status, headers and body",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let parsed = parse_config(config)?;
        let mut spec = Spec::new();
        for name in parsed.variables() {
            spec = spec
                .input(Port::new(name, "any").description(format!("Value for {{{{ {name} }}}}")));
        }
        let body = match config.body {
            BodyMode::Json => "The request body, sent as JSON (none when absent or null)",
            BodyMode::Text => "The request body, sent as text (none when absent or null)",
        };
        spec = spec
            .input(Port::new("body", "any").optional().description(body))
            .input(Port::new("query", "object").optional().description(
                "Extra query parameters, name → value (a list repeats the parameter, null \
                 removes a configured one)",
            ))
            .input(Port::new("headers", "object").optional().description(
                "Extra headers, name → value (replace configured ones ignoring case; null \
                 removes one)",
            ))
            .output(Port::new("status", "int").description("The response status"))
            .output(Port::new("headers", "object").description(
                "The response headers, lower-case names (repeated headers joined with \", \")",
            ))
            .output(Port::new("body", "any").description(
                "The response body: parsed JSON for a JSON content type, else text (base64 \
                 when not UTF-8)",
            ))
            .capability(Capability::Http);
        if parsed.uses_secrets() {
            spec = spec.capability(Capability::Secrets);
        }
        Ok(spec)
    }

    fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
        let parsed = parse_config(&ctx.config)
            .map_err(|mut problems| NodeError::from(problems.remove(0)))?;
        let request = build_request(&ctx.config, &parsed, &inputs, &mut |name| ctx.secret(name))?;
        ctx.log_debug(format!(
            "{} {}",
            request.method,
            without_query(&request.url)
        ));
        let response = ctx.http(&request)?;
        ctx.log_debug(format!(
            "status {}, {} byte(s)",
            response.status,
            response.body.len()
        ));
        map_response(
            response,
            ctx.config.fail_on_status,
            &request,
            &mut |level, message| ctx.log(level, message),
        )
    }
}

weft_node_sdk::export_node!(Request);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

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
    fn describes_ports_per_config() {
        let spec = testing::describe::<Request>(json!({
            "method": "POST",
            "url": "https://api.example.com/users/{{ user.id }}/{{ kind }}",
            "headers": {"Authorization": "Bearer {{ secret.TOKEN }}", "X-Trace": "{{ trace }}"},
            "query": {"page": "{{ page }}", "kind": "{{ kind }}"},
        }))
        .unwrap();
        let inputs: Vec<_> = spec
            .inputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.required))
            .collect();
        assert_eq!(
            inputs,
            [
                ("user", "any", true),
                ("kind", "any", true),
                ("trace", "any", true),
                ("page", "any", true),
                ("body", "any", false),
                ("query", "object", false),
                ("headers", "object", false),
            ]
        );
        let outputs: Vec<_> = spec
            .outputs
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str()))
            .collect();
        assert_eq!(
            outputs,
            [("status", "int"), ("headers", "object"), ("body", "any")]
        );
        assert_eq!(spec.capabilities, [Capability::Http, Capability::Secrets]);
        assert!(spec.inputs.iter().all(|p| !p.description.is_empty()));

        let spec = testing::describe::<Request>(json!({"url": "http://x/"})).unwrap();
        assert_eq!(spec.capabilities, [Capability::Http]);
        assert_eq!(spec.inputs.len(), 3);
    }

    #[test]
    fn config_problems() {
        let problems = testing::describe::<Request>(json!({
            "url": "ftp://x/{{ a }}",
            "headers": {"Bad Name": "x", "X-A": "1", "x-a": "2", "X-B": "{{ body }}",
                        "X-C": "a\nb", "X-D": "{{ secret }}"},
            "query": {"": "x", "q": "{{ oops"},
            "timeout_ms": 0,
        }))
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/url",
                "/headers/Bad Name",
                "/headers/x-a",
                "/headers/X-B",
                "/headers/X-C",
                "/headers/X-D",
                "/query/",
                "/query/q",
                "/timeout_ms"
            ],
            "{problems:?}"
        );
        assert!(problems[0].message.contains("http://"));
        assert!(problems[3].message.contains("`body` input"));
        assert!(problems[5].message.contains("secret.NAME"));
        assert!(problems[7].message.contains("unclosed"));

        let problem = |config: Value| testing::describe::<Request>(config).unwrap_err();
        assert_eq!(problem(json!({"url": ""}))[0].path, "/url");
        assert_eq!(problem(json!({"url": "x{{ a }}"}))[0].path, "/url");
        assert_eq!(problem(json!({"url": "http://x/{{ }}"}))[0].path, "/url");
        let bad_method = problem(json!({"url": "http://x", "method": "FETCH"}));
        assert_eq!(bad_method[0].path, "/method");
        assert!(bad_method[0].message.contains("GET"), "{bad_method:?}");
        assert_eq!(
            problem(json!({"url": "http://x", "body": "xml"}))[0].path,
            "/body"
        );
        assert_eq!(
            problem(json!({"url": "http://x", "verb": 1}))[0].path,
            "/verb"
        );
        assert_eq!(problem(json!({}))[0].path, "");
        // A URL starting with a placeholder is checked at run time.
        assert!(testing::describe::<Request>(json!({"url": "{{ base }}/x"})).is_ok());
        assert!(testing::describe::<Request>(json!({"url": "HTTPS://X"})).is_ok());
        let schema = testing::config_schema::<Request>();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["url"]));
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
        assert_eq!(
            percent_encode("aZ09-._~ /?&=é"),
            "aZ09-._~%20%2F%3F%26%3D%C3%A9"
        );
        let mut url = "http://x/a?".to_owned();
        append_query(&mut url, &[("k".into(), vec!["v".into()])]);
        assert_eq!(url, "http://x/a?k=v");
        assert!(is_json_content_type("Application/JSON ; charset=x"));
        assert!(!is_json_content_type("application/jsonp"));
        assert_eq!(excerpt("héllo", 2), "hé…");
    }

    #[test]
    fn run_reaches_the_capability() {
        // Under `testing` the capability call is denied: everything before it
        // ran (config, templates, inputs).
        let run =
            testing::run::<Request>(json!({"url": "https://x/{{ id }}"}), &[("id", json!(1))]);
        let e = run.error().unwrap();
        assert_eq!((e.code(), e.is_retryable()), ("capability.denied", false));
        assert!(e.message().contains("http"), "{e}");
        assert!(
            run.logs.iter().any(|(_, m)| m == "GET https://x/1"),
            "{:?}",
            run.logs
        );

        let run = testing::run::<Request>(json!({"url": "https://x/{{ secret.K }}"}), &[]);
        let e = run.error().unwrap();
        assert_eq!(e.code(), "capability.denied");
        assert!(e.message().contains("secret `K`"), "{e}");

        let run = testing::run::<Request>(json!({"url": "https://x/{{ id }}"}), &[]);
        assert_eq!(run.error().unwrap().code(), "input.missing");
    }
}
