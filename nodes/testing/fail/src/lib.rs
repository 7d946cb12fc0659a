//! `test.fail`: always fails with the configured node error.
//!
//! * Config: `{code?: string (default "test.fail"), message?: string
//!   (default "deliberate failure"), retryable?: bool (default false)}`.
//! * Input: `value: any` (optional, ignored). Output: `value: any` (never
//!   set).

use weft_node_sdk::prelude::*;

/// `test.fail`'s config.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The error code (default `test.fail`).
    #[serde(default)]
    pub code: Option<String>,
    /// The error message (default `deliberate failure`).
    #[serde(default)]
    pub message: Option<String>,
    /// Whether the error is retryable (default false).
    #[serde(default)]
    pub retryable: bool,
}

/// The `test.fail` node.
#[derive(Debug)]
pub struct Fail;

impl Node for Fail {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.fail",
        version: "1.0.0",
        summary: "Test guest: always fails with the configured error",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("value", "any").description("Never set")))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let config = &ctx.config;
        Err(NodeError::new(
            config.code.as_deref().unwrap_or("test.fail"),
            config.message.as_deref().unwrap_or("deliberate failure"),
        )
        .with_retryable(config.retryable))
    }
}

weft_node_sdk::export_node!(Fail);
