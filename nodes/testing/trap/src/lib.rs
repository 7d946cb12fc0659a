//! `test.trap`: a guest that panics in `run` (a trap for the host).
//!
//! * Config: `{message?: string}` (default `test.trap: deliberate panic`).
//! * Input: `value: any` (optional, ignored). Output: `value: any` (never
//!   set).
//!
//! The panic message goes to the guest's stderr before the trap.

use weft_node_sdk::prelude::*;

/// `test.trap`'s config.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The panic message.
    #[serde(default)]
    pub message: Option<String>,
}

/// The `test.trap` node.
#[derive(Debug)]
pub struct Trap;

impl Node for Trap {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.trap",
        version: "1.0.0",
        summary: "Test guest: panics in run",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("value", "any").description("Never set")))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let message = ctx
            .config
            .message
            .as_deref()
            .unwrap_or("test.trap: deliberate panic");
        panic!("{message}");
    }
}

weft_node_sdk::export_node!(Trap);
