//! `test.grant`: declares the `http` capability without using it.
//!
//! * Config: none.
//! * Input: `value: any` (optional, ignored).
//! * Output: `ok: bool` (always `true`).
//!
//! Its spec lists capability `http`, so a flow that does not grant `http`
//! must be refused at validation, before anything runs.

use weft_node_sdk::prelude::*;

/// The `test.grant` node.
#[derive(Debug)]
pub struct Grant;

impl Node for Grant {
    type Config = NoConfig;

    const INFO: Info = Info {
        type_name: "test.grant",
        version: "1.0.0",
        summary: "Test guest: declares capability http, then just succeeds",
    };

    fn describe(_config: &NoConfig) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("ok", "bool").description("Always true"))
            .capability(Capability::Http))
    }

    fn run(_ctx: &Context<NoConfig>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        Ok(Outputs::new().set("ok", true))
    }
}

weft_node_sdk::export_node!(Grant);
