//! `test.cap-loop`: calls the `secrets` capability `calls` times, for
//! measuring the cost of a capability call (guest → host → guest) without
//! any network.
//!
//! * Config: `{calls: int, secret?: string (default "BENCH")}`.
//! * Output: `calls: int`, the number of successful calls.

use weft_node_sdk::prelude::*;

/// `test.cap-loop`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How many capability calls to make.
    pub calls: u32,
    /// The secret to read.
    #[serde(default)]
    pub secret: Option<String>,
}

/// The `test.cap-loop` node.
#[derive(Debug)]
pub struct CapLoop;

impl Node for CapLoop {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.cap-loop",
        version: "1.0.0",
        summary: "Test guest: makes N secrets capability calls",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .output(Port::new("calls", "int").description("Successful calls"))
            .capability(Capability::Secrets))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let name = ctx.config.secret.as_deref().unwrap_or("BENCH");
        let mut ok = 0u32;
        for _ in 0..ctx.config.calls {
            std::hint::black_box(ctx.secret(name)?);
            ok += 1;
        }
        Ok(Outputs::new().set("calls", ok))
    }
}

weft_node_sdk::export_node!(CapLoop);
