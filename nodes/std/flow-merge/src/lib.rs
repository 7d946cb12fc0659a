//! `flow.merge`: joins branches by passing on the first live value.
//!
//! * Config: `{type?: string}`, a Weft type (default `any`).
//! * Input: `values`: multi, required, of the configured type. The host
//!   passes the live values on its edges, in edge order.
//! * Output: `value`, of the configured type: the first element of the
//!   list. With no live value at all, `value` stays unset (dead).
//!
//! Typical use: after a `logic.if` or `logic.switch`, where only one branch
//! is live, to continue with whichever branch ran.

use weft_node_sdk::prelude::*;
use weft_node_sdk::types::Type;

/// `flow.merge`'s config.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Weft type of the merged values, e.g. `string` (default `any`).
    #[serde(default, rename = "type")]
    pub ty: Option<String>,
}

fn value_type(config: &Config) -> Result<String, ConfigProblem> {
    match &config.ty {
        None => Ok("any".to_owned()),
        Some(ty) => ty
            .parse::<Type>()
            .map(|t| t.to_string())
            .map_err(|e| ConfigProblem::field("type", format!("invalid type `{ty}`: {e}"))),
    }
}

/// The `flow.merge` node.
#[derive(Debug)]
pub struct Merge;

impl Node for Merge {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "flow.merge",
        version: "1.0.0",
        summary: "Passes on the first live value of several branches",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        let ty = value_type(config).map_err(|p| vec![p])?;
        Ok(Spec::new()
            .input(
                Port::new("values", ty.clone())
                    .multi()
                    .description("The branches to merge; the live values arrive in edge order"),
            )
            .output(Port::new("value", ty).description("The first live value")))
    }

    fn run(_ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let values: Vec<Value> = inputs.take("values")?;
        Ok(match values.into_iter().next() {
            Some(first) => Outputs::new().set_value("value", first),
            None => Outputs::new(),
        })
    }
}

weft_node_sdk::export_node!(Merge);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn first_live_value() {
        let run = testing::run::<Merge>(json!({}), &[("values", json!(["b", "a"]))]);
        assert_eq!(run.output("value"), Some(&json!("b")));
        let run = testing::run::<Merge>(json!({}), &[("values", json!([]))]);
        assert!(run.ports().is_empty());
        let run = testing::run::<Merge>(json!({}), &[("values", json!("x"))]);
        assert_eq!(run.error().unwrap().code(), "input.type");
    }

    #[test]
    fn typed() {
        let spec = testing::describe::<Merge>(json!({"type": "list< int >"})).unwrap();
        assert_eq!(spec.inputs[0].ty, "list<int>");
        assert!(spec.inputs[0].multi && spec.inputs[0].required);
        assert_eq!(spec.outputs[0].ty, "list<int>");
        let spec = testing::describe::<Merge>(json!(null)).unwrap();
        assert_eq!(spec.outputs[0].ty, "any");
        assert_eq!(
            testing::describe::<Merge>(json!({"type": "nope"})).unwrap_err()[0].path,
            "/type"
        );
    }
}
