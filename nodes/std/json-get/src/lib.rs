//! `json.get`: reads the value at a path inside its input.
//!
//! * Config: `{path: string, default?: any}`. `path` is a JSON pointer when
//!   it starts with `/` (`/a/0/b`, with `~0`/`~1` escapes) and dotted
//!   otherwise (`a.0.b`); the empty path is the whole input. A segment
//!   selects an object key or, when it is a decimal number, a list element.
//! * Input: `value: any`.
//! * Output: `value: any`.
//!
//! When the path does not exist, the output is `default` if the config has
//! one (even `null`), else the run fails with the non-retryable error
//! `json.missing` naming the path and its deepest existing prefix.

use weft_node_sdk::json::Path;
use weft_node_sdk::prelude::*;

/// `json.get`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to read: a JSON pointer (`/a/0/b`) or a dotted path (`a.0.b`).
    pub path: String,
    /// The output when the path does not exist; without it, a missing path
    /// fails the run.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Value")]
    pub default: Option<Value>,
}

/// `Some` for any present value, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn parse_path(config: &Config) -> Result<Path, ConfigProblem> {
    Path::parse(&config.path).map_err(|e| ConfigProblem::field("path", e))
}

/// The `json.get` node.
#[derive(Debug)]
pub struct Get;

impl Node for Get {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "json.get",
        version: "1.0.0",
        summary: "Reads the value at a path (JSON pointer or dotted) inside its input",
    };

    fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        parse_path(config).map_err(|p| vec![p])?;
        Ok(Spec::new()
            .input(Port::new("value", "any").description("The value to read from"))
            .output(Port::new("value", "any").description("The value at the path")))
    }

    fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
        let path = parse_path(&ctx.config)?;
        let found = match path.lookup(inputs.require("value")?) {
            Ok(found) => found.clone(),
            Err(missing) => match &ctx.config.default {
                Some(default) => default.clone(),
                None => {
                    let prefix = if missing.found == 0 {
                        "the input itself".to_owned()
                    } else {
                        format!("`{}`", path.prefix_text(missing.found))
                    };
                    return Err(NodeError::new(
                        "json.missing",
                        format!(
                            "path `{path}` not found: the deepest existing prefix is {prefix}, {}",
                            missing.reason
                        ),
                    )
                    .fatal());
                }
            },
        };
        Ok(Outputs::new().set_value("value", found))
    }
}

weft_node_sdk::export_node!(Get);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    fn get(config: Value, input: Value) -> testing::Run {
        testing::run::<Get>(config, &[("value", input)])
    }

    #[test]
    fn reads_paths() {
        let v = json!({"a": [{"b": 7}], "x/y": null});
        assert_eq!(
            get(json!({"path": "a.0.b"}), v.clone()).output("value"),
            Some(&json!(7))
        );
        assert_eq!(
            get(json!({"path": "/a/0"}), v.clone()).output("value"),
            Some(&json!({"b": 7}))
        );
        assert_eq!(
            get(json!({"path": "/x~1y"}), v.clone()).output("value"),
            Some(&json!(null))
        );
        assert_eq!(
            get(json!({"path": ""}), v.clone()).output("value"),
            Some(&v)
        );
    }

    #[test]
    fn missing_paths() {
        let v = json!({"a": [{"b": 7}]});
        let run = get(json!({"path": "a.0.c"}), v.clone());
        let e = run.error().unwrap();
        assert_eq!(e.code(), "json.missing");
        assert!(!e.is_retryable());
        assert!(
            e.message().contains("`a.0.c`") && e.message().contains("`a.0`"),
            "{e}"
        );
        let run = get(json!({"path": "/a/3", "default": null}), v.clone());
        assert_eq!(run.output("value"), Some(&json!(null)));
        let run = get(json!({"path": "zz", "default": 1}), v);
        assert_eq!(run.output("value"), Some(&json!(1)));
    }

    #[test]
    fn bad_paths_are_config_problems() {
        let problems = testing::describe::<Get>(json!({"path": "a..b"})).unwrap_err();
        assert_eq!(problems[0].path, "/path");
        assert!(testing::describe::<Get>(json!({"path": "/a~x"})).is_err());
        assert!(testing::describe::<Get>(json!({})).is_err());
    }
}
