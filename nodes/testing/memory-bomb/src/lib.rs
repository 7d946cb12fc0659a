//! `test.memory-bomb`: a hostile guest that allocates until it cannot.
//!
//! * Config: `{mib_per_step?: int}` (default 4, at least 1).
//! * Input: `value: any` (optional, ignored). Output: `value: any` (never
//!   set).
//!
//! Each step allocates `mib_per_step` MiB with an ordinary, infallible
//! allocation (as careless code would), writes every byte of it (so the
//! pages are really touched) and keeps it. When the host refuses to grow
//! linear memory, the allocation aborts the guest with a trap; the host
//! reports that as `memory limit exceeded`.

use weft_node_sdk::prelude::*;

/// `test.memory-bomb`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// MiB allocated per step (default 4).
    #[serde(default = "default_step")]
    pub mib_per_step: u32,
}

fn default_step() -> u32 {
    4
}

/// The `test.memory-bomb` node.
#[derive(Debug)]
pub struct MemoryBomb;

impl Node for MemoryBomb {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.memory-bomb",
        version: "1.0.0",
        summary: "Test guest: allocates and touches memory until allocation fails",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        if config.mib_per_step == 0 {
            return Err(vec![ConfigProblem::field(
                "mib_per_step",
                "must be at least 1",
            )]);
        }
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("value", "any").description("Never set")))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let step = ctx.config.mib_per_step.max(1) as usize * 1024 * 1024;
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            chunks.push(std::hint::black_box(vec![0xA5u8; step]));
            std::hint::black_box(&chunks);
        }
    }
}

weft_node_sdk::export_node!(MemoryBomb);
