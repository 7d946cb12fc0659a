//! `test.sleep`: sleeps, for timeout, cancellation and concurrency tests.
//!
//! * Config: `{ms: int}`.
//! * Input: `value: any` (optional).
//! * Outputs: `slept: int` (the configured `ms`) and `value: any` (the
//!   input, when there is one).
//!
//! Sleeps with `std::thread::sleep`, i.e. a blocking WASI
//! `monotonic-clock` subscription and `poll`.

use std::time::Duration;
use weft_node_sdk::prelude::*;

/// `test.sleep`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
}

/// The `test.sleep` node.
#[derive(Debug)]
pub struct Sleep;

impl Node for Sleep {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.sleep",
        version: "1.0.0",
        summary: "Test guest: sleeps for the configured time",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(
                Port::new("value", "any")
                    .optional()
                    .description("Passed through"),
            )
            .output(Port::new("slept", "int").description("The configured milliseconds"))
            .output(Port::new("value", "any").description("The input, when there is one")))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        std::thread::sleep(Duration::from_millis(ctx.config.ms));
        let mut outputs = Outputs::new().set("slept", ctx.config.ms);
        if let Some(value) = inputs.take_value("value") {
            outputs.insert_value("value", value);
        }
        Ok(outputs)
    }
}

weft_node_sdk::export_node!(Sleep);
