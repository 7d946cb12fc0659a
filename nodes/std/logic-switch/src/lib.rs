//! `logic.switch`: sends its input to the first case it equals.
//!
//! * Config: `{path?: string, cases: [{name: string, equals: any}]}`. Case
//!   names are port names (a letter or `_`, then letters, digits, `_` or
//!   `-`), unique, and not `default`.
//! * Input: `value: any`.
//! * Outputs: one `any` port per case, in config order, then `default`.
//!
//! The *subject* is the value at `path` inside the input (dotted, `a.0.b`,
//! or a JSON pointer, `/a/0/b`; `null` if it does not exist), or the whole
//! input without `path`. The whole input goes to the first case whose
//! `equals` equals the subject (numbers by value, `1` = `1.0`; object key
//! order ignored), or to `default`; every other output stays unset (dead).

use weft_node_sdk::json::{Path, equal, pointer_of};
use weft_node_sdk::prelude::*;
use weft_node_sdk::types::is_port_name;

/// One case of `logic.switch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The output port this case sends to.
    pub name: String,
    /// The value the subject must equal.
    pub equals: Value,
}

/// `logic.switch`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the tested value is inside the input (dotted or JSON pointer);
    /// the whole input when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// The cases, tried in order.
    pub cases: Vec<Case>,
}

fn check(config: &Config) -> Result<Path, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let path = Path::parse(config.path.as_deref().unwrap_or(""))
        .map_err(|e| problems.push(ConfigProblem::field("path", e)))
        .ok();
    for (i, case) in config.cases.iter().enumerate() {
        let at = pointer_of(["cases", &i.to_string(), "name"]);
        let name = case.name.as_str();
        if name == "default" {
            problems.push(ConfigProblem::new(
                at,
                "`default` is reserved for the fallback output",
            ));
        } else if !is_port_name(name) {
            problems.push(ConfigProblem::new(
                at,
                format!("`{name}` is not a valid port name (a letter or `_`, then letters, digits, `_` or `-`)"),
            ));
        } else if config.cases[..i].iter().any(|c| c.name == name) {
            problems.push(ConfigProblem::new(
                at,
                format!("case `{name}` appears twice"),
            ));
        }
    }
    match path {
        Some(path) if problems.is_empty() => Ok(path),
        _ => Err(problems),
    }
}

/// The `logic.switch` node.
#[derive(Debug)]
pub struct Switch;

impl Node for Switch {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "logic.switch",
        version: "1.0.0",
        summary: "Sends its input to the first case it equals, or to default",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        check(config)?;
        let mut spec = Spec::new()
            .input(Port::new("value", "any").description("The value to test and pass on"));
        for case in &config.cases {
            spec = spec.output(Port::new(case.name.clone(), "any").description(format!(
                "The input, when it equals {}",
                weft_node_sdk::json::compact(&case.equals)
            )));
        }
        Ok(spec.output(Port::new("default", "any").description("The input, when no case matches")))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let path = check(&ctx.config).map_err(|mut p| NodeError::from(p.remove(0)))?;
        let value = inputs
            .take_value("value")
            .ok_or_else(|| NodeError::input_missing("value"))?;
        let subject = path.lookup(&value).unwrap_or(&Value::Null);
        let port = ctx
            .config
            .cases
            .iter()
            .find(|case| equal(subject, &case.equals))
            .map_or("default", |case| case.name.as_str());
        Ok(Outputs::new().set_value(port, value))
    }
}

weft_node_sdk::export_node!(Switch);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn routes_to_first_match_or_default() {
        let config = json!({"path": "kind", "cases": [
            {"name": "one", "equals": 1},
            {"name": "also_one", "equals": 1.0},
            {"name": "nothing", "equals": null},
        ]});
        let route = |v: Value| {
            testing::run::<Switch>(config.clone(), &[("value", v)])
                .ports()
                .join(",")
        };
        assert_eq!(route(json!({"kind": 1.0})), "one");
        assert_eq!(route(json!({})), "nothing");
        assert_eq!(route(json!({"kind": "x"})), "default");
        let spec = testing::describe::<Switch>(config).unwrap();
        let outs: Vec<_> = spec.outputs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(outs, ["one", "also_one", "nothing", "default"]);
    }

    #[test]
    fn bad_cases() {
        let problems = testing::describe::<Switch>(json!({"cases": [
            {"name": "a", "equals": 1}, {"name": "a", "equals": 2},
            {"name": "default", "equals": 3}, {"name": "9", "equals": 4},
        ]}))
        .unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/cases/1/name", "/cases/2/name", "/cases/3/name"]);
        let missing = testing::describe::<Switch>(json!({"cases": [{"name": "a"}]})).unwrap_err();
        assert_eq!(missing[0].path, "/cases/0", "{missing:?}");
    }
}
