//! `debug.fail`: fails on purpose, to stop a branch with a clear error
//! (like n8n's "Stop and Error") or to exercise a flow's retry and
//! `on_error` handling.
//!
//! * Config: `{message: string, code?: string (default "debug.fail"),
//!   retryable?: bool (default false), fail_attempts?: int}`. With
//!   `fail_attempts: N` only the first N attempts fail and later ones pass
//!   the value through; without it every attempt fails.
//! * Input: `value: any` (optional). Output: `value: any`, the input passed
//!   through when the attempt does not fail.

use weft_node_sdk::prelude::*;

/// `debug.fail`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The error message.
    pub message: String,
    /// The error code (default `debug.fail`).
    #[serde(default)]
    pub code: Option<String>,
    /// Whether the node's retry policy applies (default false).
    #[serde(default)]
    pub retryable: bool,
    /// Fail only the first N attempts; later attempts succeed.
    #[serde(default)]
    pub fail_attempts: Option<u32>,
}

/// The `debug.fail` node.
#[derive(Debug)]
pub struct Fail;

impl Node for Fail {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "debug.fail",
        version: "1.0.0",
        summary: "Fails with a chosen error (optionally only the first N attempts)",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        if config.message.trim().is_empty() {
            return Err(vec![ConfigProblem::field("message", "must not be empty")]);
        }
        Ok(Spec::new()
            .input(
                Port::new("value", "any")
                    .optional()
                    .description("Passed through when the attempt does not fail"),
            )
            .output(Port::new("value", "any").description("The input, when not failing")))
    }

    fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
        let failing = ctx.config.fail_attempts.is_none_or(|n| ctx.attempt <= n);
        if failing {
            let code = ctx.config.code.as_deref().unwrap_or("debug.fail");
            return Err(NodeError::new(code, ctx.config.message.clone())
                .with_retryable(ctx.config.retryable));
        }
        let mut out = Outputs::new();
        if let Some(v) = inputs.value("value") {
            out = out.set_value("value", v.clone());
        }
        Ok(out)
    }
}

weft_node_sdk::export_node!(Fail);
