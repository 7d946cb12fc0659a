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
//!
//! # Layout
//!
//! This crate owns the node type `http.request` only: the host side of the
//! `http` and `secrets` capabilities (sending, grants, redaction) lives in
//! `runtime/src/capabilities`.
//!
//! * `lib.rs`: this overview, the [`Request`] node (`describe`, `run`) and
//!   the component export.
//! * `config`: the [`Config`] types ([`Method`], [`BodyMode`]) and their
//!   checks, which give the parsed templates or every config problem.
//! * `template`: the template language: parsing, and rendering against the
//!   inputs and secrets (with the URL's percent-encoding).
//! * `request`: builds the `http` capability's request from the config, the
//!   parsed templates and the inputs (query, headers, body).
//! * `response`: maps the response to the outputs (header joining, body
//!   decoding) or to the `http.status` error.
//!
//! A run goes: `config` (checks, templates) → `request` → `ctx.http` →
//! `response`. Each module's unit tests sit next to its code.

mod config;
mod request;
mod response;
mod template;

pub use config::{BodyMode, Config, Method};

use weft_node_sdk::prelude::*;

use crate::config::parse_config;
use crate::request::build_request;
use crate::response::{map_response, without_query};

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
