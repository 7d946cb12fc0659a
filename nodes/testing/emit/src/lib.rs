//! `test.emit`: streams partial results, then outputs them joined.
//!
//! * Config: `{count?: int (default 3), port?: string (default "token"),
//!   delay_ms?: int (default 0)}`.
//! * Input: `value: any` (optional, ignored).
//! * Output: `text: string`: the emitted tokens joined with spaces.
//!
//! Emits the strings `t1`, `t2`, ... `t<count>` with `host.emit` on `port`
//! (each a `node.emit` run event), sleeping `delay_ms` before each, then
//! sets `text` to `"t1 t2 ... t<count>"`.

use std::time::Duration;
use weft_node_sdk::prelude::*;

/// `test.emit`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How many tokens to emit (default 3).
    #[serde(default = "default_count")]
    pub count: u32,
    /// The port the tokens are emitted on (default `token`).
    #[serde(default = "default_port")]
    pub port: String,
    /// Milliseconds to sleep before each emit (default 0).
    #[serde(default)]
    pub delay_ms: u64,
}

fn default_count() -> u32 {
    3
}

fn default_port() -> String {
    "token".to_owned()
}

/// The `test.emit` node.
#[derive(Debug)]
pub struct Emit;

impl Node for Emit {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.emit",
        version: "1.0.0",
        summary: "Test guest: emits tokens as partial results, then outputs them joined",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(
                Port::new("text", "string").description("The emitted tokens, joined with spaces"),
            ))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let mut tokens = Vec::with_capacity(ctx.config.count as usize);
        for i in 1..=ctx.config.count {
            if ctx.config.delay_ms > 0 {
                std::thread::sleep(Duration::from_millis(ctx.config.delay_ms));
            }
            let token = format!("t{i}");
            ctx.emit(&ctx.config.port, &token)?;
            tokens.push(token);
        }
        Ok(Outputs::new().set("text", tokens.join(" ")))
    }
}

weft_node_sdk::export_node!(Emit);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn emits_then_joins() {
        let run = testing::run::<Emit>(json!({"count": 2}), &[]);
        assert_eq!(run.output("text"), Some(&json!("t1 t2")));
        assert_eq!(
            run.emits,
            [
                ("token".to_owned(), json!("t1")),
                ("token".to_owned(), json!("t2"))
            ]
        );
    }
}
