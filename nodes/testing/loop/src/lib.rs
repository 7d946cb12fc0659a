//! `test.loop`: a hostile guest whose `run` never returns.
//!
//! * Config: none. Input: `value: any` (optional, ignored). Output:
//!   `value: any` (never set).
//!
//! `run` spins forever on a counter kept opaque to the optimiser with
//! [`std::hint::black_box`], so the loop is real work the host must
//! interrupt (epoch deadline, fuel or timeout).

use weft_node_sdk::prelude::*;

/// The `test.loop` node.
#[derive(Debug)]
pub struct Loop;

impl Node for Loop {
    type Config = NoConfig;

    const INFO: Info = Info {
        type_name: "test.loop",
        version: "1.0.0",
        summary: "Test guest: loops forever in run",
    };

    fn describe(_config: &NoConfig) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("value", "any").description("Never set")))
    }

    fn run(_ctx: &Context<NoConfig>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let mut counter: u64 = 0;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

weft_node_sdk::export_node!(Loop);
