//! `debug.log`: logs its input and passes it through.
//!
//! * Config: `{level?: "trace" | "debug" | "info" | "warn" | "error"
//!   (default "info"), label?: string}`.
//! * Input: `value: any`.
//! * Output: `value: any`, the input unchanged.
//!
//! The log line (a `node.log` run event) is the value as compact JSON
//! (strings keep their quotes), prefixed by `label: ` when a label is set.

use weft_node_sdk::json::compact;
use weft_node_sdk::prelude::*;

/// `debug.log`'s config.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log level (default `info`).
    #[serde(default)]
    pub level: LogLevel,
    /// A prefix for the log line.
    #[serde(default)]
    pub label: Option<String>,
}

/// The `debug.log` node.
#[derive(Debug)]
pub struct DebugLog;

impl Node for DebugLog {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "debug.log",
        version: "1.0.0",
        summary: "Logs its input as JSON and passes it through",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").description("The value to log"))
            .output(Port::new("value", "any").description("The input, unchanged")))
    }

    fn run(ctx: &Context<Config>, mut inputs: Inputs) -> Result<Outputs, NodeError> {
        let value = inputs
            .take_value("value")
            .ok_or_else(|| NodeError::input_missing("value"))?;
        let json = compact(&value);
        match &ctx.config.label {
            Some(label) => ctx.log(ctx.config.level, format!("{label}: {json}")),
            None => ctx.log(ctx.config.level, json),
        }
        Ok(Outputs::new().set_value("value", value))
    }
}

weft_node_sdk::export_node!(DebugLog);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_node_sdk::testing;

    #[test]
    fn logs_and_passes_through() {
        let run = testing::run::<DebugLog>(
            json!({"label": "got", "level": "warn"}),
            &[("value", json!({"a": "b"}))],
        );
        assert_eq!(run.output("value"), Some(&json!({"a": "b"})));
        assert_eq!(run.logs, [(LogLevel::Warn, r#"got: {"a":"b"}"#.to_owned())]);
        let run = testing::run::<DebugLog>(json!({}), &[("value", json!("s"))]);
        assert_eq!(run.logs, [(LogLevel::Info, r#""s""#.to_owned())]);
        assert_eq!(
            testing::describe::<DebugLog>(json!({"level": "loud"})).unwrap_err()[0].path,
            "/level"
        );
    }
}
