//! `http.respond`: builds the HTTP response a published flow answers with.
//!
//! * Config: `{status?: int (default 200), headers?: {name: string}}`.
//! * Inputs (all optional): `body: any`, `status: int`, `headers: object`.
//! * Output: `response: object{status: int, headers: object, body: any}`.
//!
//! Inputs override the config: the `status` input replaces the configured
//! status, and each header of the `headers` input replaces the configured
//! header of the same name (a `null` value removes it; numbers and bools
//! become strings). Header names are lower-cased. Without a `body` input the
//! body is `null`. A status outside 100–599 is a config problem (config) or
//! the non-retryable error `http.status` (input); a header name that is not
//! an HTTP token, or a value with a line break, is a config problem or the
//! non-retryable error `http.header`.

use weft_node_sdk::json::pointer_of;
use weft_node_sdk::prelude::*;
use weft_node_sdk::serde_json::Map;

/// `http.respond`'s config.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The response status, 100-599 (default 200).
    #[serde(default)]
    #[schemars(range(min = 100, max = 599))]
    pub status: Option<u16>,
    /// Response headers, name → value.
    #[serde(default)]
    pub headers: OrderedMap<String>,
}

/// An HTTP token (RFC 9110 `tchar`s).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_status(status: i64) -> Result<(), String> {
    if (100..=599).contains(&status) {
        Ok(())
    } else {
        Err(format!("{status} is not an HTTP status (100-599)"))
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    if !is_token(name) {
        Err(format!("`{name}` is not a valid header name"))
    } else if value.contains(['\r', '\n', '\0']) {
        Err(format!(
            "the value of header `{name}` contains a line break or NUL"
        ))
    } else {
        Ok(())
    }
}

fn check(config: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if let Some(status) = config.status
        && let Err(e) = check_status(status.into())
    {
        problems.push(ConfigProblem::field("status", e));
    }
    for (i, (name, value)) in config.headers.0.iter().enumerate() {
        let at = pointer_of(["headers", name]);
        if let Err(e) = check_header(name, value) {
            problems.push(ConfigProblem::new(at, e));
        } else if config.headers.0[..i]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            problems.push(ConfigProblem::new(
                at,
                format!("header `{name}` appears twice (names are case-insensitive)"),
            ));
        }
    }
    problems
}

/// The `http.respond` node.
#[derive(Debug)]
pub struct Respond;

impl Node for Respond {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "http.respond",
        version: "1.0.0",
        summary: "Builds the HTTP response (status, headers, body) a published flow answers with",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let problems = check(config);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Spec::new()
            .input(
                Port::new("body", "any")
                    .optional()
                    .description("The response body"),
            )
            .input(
                Port::new("status", "int")
                    .optional()
                    .description("The status; overrides the config"),
            )
            .input(
                Port::new("headers", "object")
                    .optional()
                    .description("Headers; each overrides the configured header of that name"),
            )
            .output(
                Port::new(
                    "response",
                    "object{status: int, headers: object, body: any}",
                )
                .description("The response"),
            ))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        if let Some(problem) = check(&ctx.config).into_iter().next() {
            return Err(problem.into());
        }
        let status = match inputs.opt::<i64>("status")? {
            Some(status) => {
                check_status(status).map_err(|e| NodeError::new("http.status", e).fatal())?;
                status
            }
            None => ctx.config.status.unwrap_or(200).into(),
        };
        let mut headers = Map::new();
        for (name, value) in ctx.config.headers.iter() {
            headers.insert(name.to_ascii_lowercase(), Value::String(value.clone()));
        }
        if let Some(extra) = inputs.opt::<Map<String, Value>>("headers")? {
            for (name, value) in extra {
                let name = name.to_ascii_lowercase();
                let value = match value {
                    Value::Null => {
                        headers.remove(&name);
                        continue;
                    }
                    Value::String(s) => s,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(NodeError::new(
                            "input.type",
                            format!("input `headers`: the value of `{name}` must be a string, number, bool or null"),
                        )
                        .fatal());
                    }
                };
                check_header(&name, &value)
                    .map_err(|e| NodeError::new("http.header", e).fatal())?;
                headers.insert(name, Value::String(value));
            }
        }
        let body = inputs.take_value("body").unwrap_or(Value::Null);
        Ok(Outputs::new().set_value(
            "response",
            json!({"status": status, "headers": headers, "body": body}),
        ))
    }
}

weft_node_sdk::export_node!(Respond);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn defaults() {
        let run = testing::run::<Respond>(json!({}), &[]);
        assert_eq!(
            run.output("response"),
            Some(&json!({"status": 200, "headers": {}, "body": null}))
        );
    }

    #[test]
    fn inputs_override_config() {
        let run = testing::run::<Respond>(
            json!({"status": 201, "headers": {"Content-Type": "text/plain", "X-A": "1"}}),
            &[
                ("body", json!({"ok": true})),
                ("status", json!(202)),
                (
                    "headers",
                    json!({"content-type": "application/json", "x-a": null, "X-N": 5}),
                ),
            ],
        );
        assert_eq!(
            run.output("response"),
            Some(&json!({
                "status": 202,
                "headers": {"content-type": "application/json", "x-n": "5"},
                "body": {"ok": true}
            }))
        );
    }

    #[test]
    fn problems() {
        let p = testing::describe::<Respond>(
            json!({"status": 42, "headers": {"a b": "x", "A": "1", "a": "2"}}),
        )
        .unwrap_err();
        let paths: Vec<_> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/status", "/headers/a b", "/headers/a"]);
        let run = testing::run::<Respond>(json!({}), &[("status", json!(700))]);
        assert_eq!(run.error().unwrap().code(), "http.status");
        let run = testing::run::<Respond>(json!({}), &[("headers", json!({"a": [1]}))]);
        assert_eq!(run.error().unwrap().code(), "input.type");
    }
}
