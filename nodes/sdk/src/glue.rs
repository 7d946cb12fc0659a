//! The bridge between the generated `weft:node/node` exports and [`Node`].
//!
//! Everything except [`Adapter`] is plain Rust over JSON text, so that
//! [`testing`](crate::testing) exercises exactly the code the exports run.

use crate::__private::bindings::{self as wit, weft::node::types as wt};
use crate::context::Sink;
use crate::{Capability, ConfigProblem, Context, Inputs, Node, NodeError, Spec};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// Parses a node's config text: empty or `null` means `{}`. A problem
/// carries the JSON pointer of the offending field.
pub(crate) fn parse_config<C: DeserializeOwned>(text: &str) -> Result<C, ConfigProblem> {
    let text = text.trim();
    let value: Value = if text.is_empty() {
        Value::Object(Default::default())
    } else {
        match serde_json::from_str(text) {
            Ok(Value::Null) => Value::Object(Default::default()),
            Ok(value) => value,
            Err(e) => {
                return Err(ConfigProblem::whole(format!(
                    "config is not valid JSON: {e}"
                )));
            }
        }
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        // An unknown field's path ends with the field itself.
        ConfigProblem::new(
            crate::json::pointer_of_path(e.path()),
            e.inner().to_string(),
        )
    })
}

/// The JSON Schema of `C`, as text.
pub(crate) fn config_schema<C: schemars::JsonSchema>() -> String {
    let schema = schemars::schema_for!(C);
    serde_json::to_string(&schema).unwrap_or_else(|_| "true".to_owned())
}

/// `describe`: the node's spec for `config`.
///
/// The host has already checked `config` against the schema from `info`,
/// but deserialization can still fail where the schema is looser than the
/// Rust type, so its problems are reported here too.
pub(crate) fn describe<N: Node>(config: &str) -> Result<Spec, Vec<ConfigProblem>> {
    let config: N::Config = parse_config(config).map_err(|p| vec![p])?;
    N::describe(&config)
}

/// `run`: decodes config and inputs, runs the node, encodes its outputs.
pub(crate) fn run<N: Node>(
    node_id: String,
    config: &str,
    attempt: u32,
    inputs: Vec<(String, String)>,
    sink: Sink,
) -> Result<Vec<(String, String)>, NodeError> {
    let config: N::Config = parse_config(config).map_err(NodeError::from)?;
    let mut decoded = Inputs::default();
    for (port, text) in inputs {
        match serde_json::from_str(&text) {
            Ok(value) => decoded.insert(port, value),
            Err(e) => {
                return Err(NodeError::new(
                    "input.json",
                    format!("input `{port}` is not valid JSON: {e}"),
                )
                .fatal());
            }
        }
    }
    let ctx = Context::new(config, node_id, attempt, sink);
    let outputs = N::run(&ctx, decoded)?.into_result()?;
    Ok(outputs
        .into_iter()
        .map(|(port, value)| (port, crate::json::compact(&value)))
        .collect())
}

/// Implements the generated `Guest` trait for any [`Node`]; see
/// [`export_node!`](crate::export_node).
pub struct Adapter<N>(PhantomData<N>);

impl<N> fmt::Debug for Adapter<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Adapter")
    }
}

fn port_spec(port: crate::Port) -> wt::PortSpec {
    wt::PortSpec {
        name: port.name,
        type_: port.ty,
        required: port.required,
        multi: port.multi,
        description: port.description,
    }
}

fn capability(capability: Capability) -> wt::Capability {
    match capability {
        Capability::Http => wt::Capability::Http,
        Capability::Llm => wt::Capability::Llm,
        Capability::Embeddings => wt::Capability::Embeddings,
        Capability::Vectors => wt::Capability::Vectors,
        Capability::Secrets => wt::Capability::Secrets,
    }
}

impl<N: Node> wit::Guest for Adapter<N> {
    fn info() -> wit::NodeInfo {
        wit::NodeInfo {
            type_name: N::INFO.type_name.to_owned(),
            version: N::INFO.version.to_owned(),
            summary: N::INFO.summary.to_owned(),
            config_schema: config_schema::<N::Config>(),
        }
    }

    fn describe(config: wit::Json) -> Result<wit::NodeSpec, Vec<wit::ConfigProblem>> {
        match describe::<N>(&config) {
            Ok(spec) => Ok(wit::NodeSpec {
                inputs: spec.inputs.into_iter().map(port_spec).collect(),
                outputs: spec.outputs.into_iter().map(port_spec).collect(),
                capabilities: spec.capabilities.into_iter().map(capability).collect(),
                uses: spec
                    .uses
                    .into_iter()
                    .map(|(c, name)| wt::CapabilityUse {
                        capability: capability(c),
                        name,
                    })
                    .collect(),
            }),
            Err(problems) => Err(problems
                .into_iter()
                .map(|p| wit::ConfigProblem {
                    path: p.path,
                    message: p.message,
                })
                .collect()),
        }
    }

    fn run(
        call: wit::Invocation,
        inputs: Vec<wit::PortValue>,
    ) -> Result<Vec<wit::PortValue>, wit::NodeError> {
        let inputs = inputs.into_iter().map(|pv| (pv.port, pv.value)).collect();
        match run::<N>(call.node_id, &call.config, call.attempt, inputs, Sink::Host) {
            Ok(outputs) => Ok(outputs
                .into_iter()
                .map(|(port, value)| wit::PortValue { port, value })
                .collect()),
            Err(e) => Err(wit::NodeError {
                retryable: e.is_retryable(),
                code: e.code().to_owned(),
                message: e.message().to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::testing;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Config {
        template: String,
        #[serde(default)]
        #[allow(dead_code)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[allow(dead_code)]
        n: u32,
    }

    struct Echo;
    impl Node for Echo {
        type Config = Config;
        const INFO: Info = Info {
            type_name: "test.echo",
            version: "1.0.0",
            summary: "Echoes",
        };
        fn describe(config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
            if config.template.is_empty() {
                return Err(vec![ConfigProblem::field("template", "must not be empty")]);
            }
            Ok(Spec::new()
                .input(Port::new("text", "string"))
                .input(Port::new("n", "int").optional())
                .output(Port::new("text", "string"))
                .capability(Capability::Http)
                .capability(Capability::Http))
        }
        fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
            let text: String = inputs.get("text")?;
            let n: Option<i64> = inputs.opt("n")?;
            ctx.log_info("echo");
            ctx.emit("text", "partial")?;
            assert!(ctx.secret("x").is_err());
            Ok(Outputs::new().set("text", format!("{}{text}{n:?}", ctx.config.template)))
        }
    }

    #[test]
    fn config_problems_have_pointers() {
        let problem = |c: &str| parse_config::<Config>(c).unwrap_err();
        assert_eq!(problem("").path, "");
        assert!(problem("null").message.contains("missing field `template`"));
        assert_eq!(problem(r#"{"template": 3}"#).path, "/template");
        assert_eq!(
            problem(r#"{"template": "", "items": [{"n": 1}, {"n": -1}]}"#).path,
            "/items/1/n"
        );
        let unknown = problem(r#"{"template": "", "tmpl": 1}"#);
        assert_eq!(unknown.path, "/tmpl", "{unknown:?}");
        let nested = problem(r#"{"template": "", "items": [{"m": 1}]}"#);
        assert_eq!(nested.path, "/items/0/m", "{nested:?}");
        assert_eq!(problem("{").path, "");
        assert!(parse_config::<NoConfig>(" null ").is_ok());
        assert!(parse_config::<NoConfig>("").is_ok());
        assert_eq!(
            parse_config::<NoConfig>(r#"{"a": 1}"#).unwrap_err().path,
            "/a"
        );
    }

    #[test]
    fn schema_and_capabilities() {
        let spec = testing::describe::<Echo>(json!({"template": "x"})).unwrap();
        assert_eq!(spec.capabilities, vec![Capability::Http]);
        assert!(spec.inputs[0].required && !spec.inputs[1].required);
        let schema = testing::config_schema::<Echo>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema["$schema"].as_str().unwrap().contains("2020-12"));
        let problems = testing::describe::<Echo>(json!({"template": ""})).unwrap_err();
        assert_eq!(problems[0].path, "/template");
    }

    #[test]
    fn run_decodes_and_encodes() {
        let run = testing::run::<Echo>(json!({"template": "> "}), &[("text", json!("hi"))]);
        assert_eq!(run.output("text"), Some(&json!("> hiNone")));
        assert_eq!(run.logs, vec![(LogLevel::Info, "echo".to_owned())]);
        assert_eq!(run.emits, vec![("text".to_owned(), json!("partial"))]);

        let run = testing::run::<Echo>(json!({"template": ""}), &[("text", json!(1))]);
        let e = run.error().unwrap();
        assert_eq!(e.code(), "input.type");
        assert!(!e.is_retryable());
        assert!(e.message().contains("`text`") && e.message().contains("expected a string"));

        let run = testing::run::<Echo>(json!({"template": ""}), &[]);
        assert_eq!(run.error().unwrap().code(), "input.missing");

        let run = testing::run::<Echo>(json!({"nope": 1}), &[("text", json!("a"))]);
        assert_eq!(run.error().unwrap().code(), "config");
        assert!(!run.error().unwrap().is_retryable());

        let bad = super::run::<Echo>(
            "t".into(),
            r#"{"template": ""}"#,
            1,
            vec![("text".into(), "{".into())],
            Sink::Capture(Default::default()),
        );
        assert_eq!(bad.unwrap_err().code(), "input.json");
    }

    #[test]
    fn errors() {
        assert!(NodeError::new("x", "y").is_retryable());
        assert!(!NodeError::new("x", "y").fatal().is_retryable());
        let e: NodeError = CapabilityError::Timeout("slow".into()).into();
        assert_eq!((e.code(), e.is_retryable()), ("capability.timeout", true));
        let e: NodeError = CapabilityError::Denied("http".into()).into();
        assert_eq!((e.code(), e.is_retryable()), ("capability.denied", false));
    }
}
