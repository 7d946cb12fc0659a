//! The node's config: its types ([`Config`], [`Method`], [`BodyMode`]) and
//! the checks that turn it into [`Parsed`] templates, or into every
//! [`ConfigProblem`] at once (unknown variables, bad header names, a URL
//! without `http://` or `https://`, ...). The header-name and scheme checks
//! are shared with `request`, which repeats them at run time.

use weft_node_sdk::json::pointer_of;
use weft_node_sdk::prelude::*;

use crate::template::{Piece, parse_template};

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
    pub(crate) fn as_str(self) -> &'static str {
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
/// An HTTP token (RFC 9110 `tchar`s): a valid header name.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a header value contains a line break (CR or LF) or NUL.
pub(crate) fn has_line_break(value: &str) -> bool {
    value.contains(['\r', '\n', '\0'])
}

/// The config's templates, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) url: Vec<Piece>,
    pub(crate) headers: Vec<(String, Vec<Piece>)>,
    pub(crate) query: Vec<(String, Vec<Piece>)>,
}

impl Parsed {
    fn all(&self) -> impl Iterator<Item = &Piece> {
        self.url
            .iter()
            .chain(self.headers.iter().flat_map(|(_, p)| p))
            .chain(self.query.iter().flat_map(|(_, p)| p))
    }

    /// The distinct top-level variables, in order of first use.
    pub(crate) fn variables(&self) -> Vec<&str> {
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

    pub(crate) fn uses_secrets(&self) -> bool {
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
pub(crate) fn has_http_scheme(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Checks the config and parses its templates, or returns every problem.
pub(crate) fn parse_config(config: &Config) -> Result<Parsed, Vec<ConfigProblem>> {
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

#[cfg(test)]
mod tests {
    use weft_node_sdk::testing;

    use super::*;
    use crate::Request;

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
}
