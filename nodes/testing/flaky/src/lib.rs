//! `test.flaky`: fails with a retryable error for its first attempts.
//!
//! * Config: `{fail_attempts: int}`.
//! * Input: `value: any` (optional, ignored).
//! * Output: `attempt: int`, the attempt number that succeeded.
//!
//! While `attempt <= fail_attempts`, the run fails with the retryable error
//! `test.flaky`; later attempts succeed.

use weft_node_sdk::prelude::*;

/// `test.flaky`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How many attempts fail before one succeeds.
    pub fail_attempts: u32,
}

/// The `test.flaky` node.
#[derive(Debug)]
pub struct Flaky;

impl Node for Flaky {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.flaky",
        version: "1.0.0",
        summary: "Test guest: fails with a retryable error for its first attempts",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("attempt", "int").description("The attempt that succeeded")))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        if ctx.attempt <= ctx.config.fail_attempts {
            return Err(NodeError::new(
                "test.flaky",
                format!(
                    "attempt {} fails (the first {} do)",
                    ctx.attempt, ctx.config.fail_attempts
                ),
            ));
        }
        Ok(Outputs::new().set("attempt", ctx.attempt))
    }
}

weft_node_sdk::export_node!(Flaky);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn fails_then_succeeds() {
        let config = json!({"fail_attempts": 2});
        let e = testing::run_attempt::<Flaky>(config.clone(), &[], 2);
        assert!(e.error().unwrap().is_retryable());
        let ok = testing::run_attempt::<Flaky>(config, &[], 3);
        assert_eq!(ok.output("attempt"), Some(&json!(3)));
    }
}
