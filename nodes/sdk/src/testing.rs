//! Unit-testing nodes on the build machine, without a Weft host.
//!
//! These functions go through the same decoding and encoding as the
//! component's exports (config and values as JSON text), but record
//! [`Context::log`](crate::Context::log) and
//! [`Context::emit`](crate::Context::emit) calls instead of calling the
//! host. Capability calls fail with
//! [`CapabilityError::Denied`](crate::CapabilityError::Denied).
//!
//! ```
//! use weft_node_sdk::prelude::*;
//! use weft_node_sdk::testing;
//!
//! struct Upper;
//! impl Node for Upper {
//!     type Config = NoConfig;
//!     const INFO: Info = Info { type_name: "acme.upper", version: "1.0.0", summary: "Upper-cases text" };
//!     fn describe(_: &NoConfig) -> Result<Spec, Vec<ConfigProblem>> {
//!         Ok(Spec::new().input(Port::new("text", "string")).output(Port::new("text", "string")))
//!     }
//!     fn run(_: &Context<NoConfig>, inputs: Inputs) -> Result<Outputs, NodeError> {
//!         Ok(Outputs::new().set("text", inputs.get::<String>("text")?.to_uppercase()))
//!     }
//! }
//!
//! let run = testing::run::<Upper>(json!({}), &[("text", json!("hi"))]);
//! assert_eq!(run.output("text"), Some(&json!("HI")));
//! let run = testing::run::<Upper>(json!({}), &[("text", json!(3))]);
//! assert_eq!(run.error().unwrap().code(), "input.type");
//! assert!(testing::describe::<Upper>(json!({"extra": 1})).is_err());
//! ```

use crate::context::{Captured, Sink};
use crate::{ConfigProblem, LogLevel, Node, NodeError, Spec, glue};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// The config JSON Schema the node's `info` export reports.
pub fn config_schema<N: Node>() -> Value {
    serde_json::from_str(&glue::config_schema::<N::Config>()).unwrap_or(Value::Bool(true))
}

/// Calls the node's `describe` export logic with `config`.
pub fn describe<N: Node>(config: Value) -> Result<Spec, Vec<ConfigProblem>> {
    glue::describe::<N>(&crate::json::compact(&config))
}

/// The outcome of one [`run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The ports the node set (in order), or its error.
    pub result: Result<Vec<(String, Value)>, NodeError>,
    /// Log lines, in order.
    pub logs: Vec<(LogLevel, String)>,
    /// Emitted partial results, in order.
    pub emits: Vec<(String, Value)>,
}

impl Run {
    /// The value set on `port`, if the run succeeded and set it.
    pub fn output(&self, port: &str) -> Option<&Value> {
        self.result
            .as_ref()
            .ok()?
            .iter()
            .find(|(p, _)| p == port)
            .map(|(_, v)| v)
    }

    /// The names of the ports the run set (empty on error).
    pub fn ports(&self) -> Vec<&str> {
        match &self.result {
            Ok(outputs) => outputs.iter().map(|(p, _)| p.as_str()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The run's error, if it failed.
    pub fn error(&self) -> Option<&NodeError> {
        self.result.as_ref().err()
    }
}

/// Runs the node's first attempt with `config` and `inputs`, as node
/// `test`.
pub fn run<N: Node>(config: Value, inputs: &[(&str, Value)]) -> Run {
    run_attempt::<N>(config, inputs, 1)
}

/// Like [`run`], for a given attempt number (1 for the first attempt).
pub fn run_attempt<N: Node>(config: Value, inputs: &[(&str, Value)], attempt: u32) -> Run {
    let captured = Rc::new(RefCell::new(Captured::default()));
    let inputs = inputs
        .iter()
        .map(|(port, value)| ((*port).to_owned(), crate::json::compact(value)))
        .collect();
    let result = glue::run::<N>(
        "test".to_owned(),
        &crate::json::compact(&config),
        attempt,
        inputs,
        Sink::Capture(captured.clone()),
    )
    .map(|outputs| {
        outputs
            .into_iter()
            .map(|(port, text)| {
                let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                (port, value)
            })
            .collect()
    });
    let captured = captured.take();
    Run {
        result,
        logs: captured.logs,
        emits: captured.emits,
    }
}
