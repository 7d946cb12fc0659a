//! `text.upper`: upper-cases text (Unicode-aware).
//!
//! * Config: none (`{}`).
//! * Input: `text: string`.
//! * Output: `text: string`.
//!
//! The benchmarks' trivial node: it does as little as possible beyond the
//! SDK's decoding and encoding.

use weft_node_sdk::prelude::*;

/// The `text.upper` node.
#[derive(Debug)]
pub struct Upper;

impl Node for Upper {
    type Config = NoConfig;

    const INFO: Info = Info {
        type_name: "text.upper",
        version: "1.0.0",
        summary: "Upper-cases text",
    };

    fn describe(_config: &NoConfig) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("text", "string").description("The text to upper-case"))
            .output(Port::new("text", "string").description("The upper-cased text")))
    }

    fn run(_ctx: &Context<NoConfig>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let text: String = inputs.take("text")?;
        Ok(Outputs::new().set_value("text", Value::String(text.to_uppercase())))
    }
}

weft_node_sdk::export_node!(Upper);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn upper_cases() {
        let run = testing::run::<Upper>(json!({}), &[("text", json!("straße"))]);
        assert_eq!(run.output("text"), Some(&json!("STRASSE")));
        let run = testing::run::<Upper>(json!(null), &[("text", json!(["x"]))]);
        assert_eq!(run.error().unwrap().code(), "input.type");
    }
}
