//! [`Inputs`] and [`Outputs`]: the values on a node's ports.

use crate::NodeError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The live values on a node's input ports for one run.
///
/// An optional input without a live value is simply absent. A multi input
/// holds a JSON list of the live values on its edges, in edge order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    values: Vec<(String, Value)>,
}

impl Inputs {
    /// Inputs from `(port, value)` pairs; a later value for the same port
    /// replaces an earlier one.
    pub fn from_pairs<I, K>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        let mut inputs = Inputs::default();
        for (port, value) in pairs {
            inputs.insert(port.into(), value);
        }
        inputs
    }

    pub(crate) fn insert(&mut self, port: String, value: Value) {
        match self.values.iter_mut().find(|(p, _)| *p == port) {
            Some(slot) => slot.1 = value,
            None => self.values.push((port, value)),
        }
    }

    /// The value on `port`, deserialized as `T`.
    ///
    /// Fails with a fatal `input.missing` error if the port has no value and
    /// with a fatal `input.type` error, naming the port and the expected
    /// type, if the value does not fit `T`.
    pub fn get<T: DeserializeOwned>(&self, port: &str) -> Result<T, NodeError> {
        let value = self
            .value(port)
            .ok_or_else(|| NodeError::input_missing(port))?;
        decode(port, value)
    }

    /// Like [`get`](Inputs::get), but `Ok(None)` when the port has no value
    /// or its value is `null`.
    pub fn opt<T: DeserializeOwned>(&self, port: &str) -> Result<Option<T>, NodeError> {
        match self.value(port) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => decode(port, value).map(Some),
        }
    }

    /// Like [`get`](Inputs::get), but moves the value out instead of
    /// cloning it (cheaper for large strings, lists and objects).
    pub fn take<T: DeserializeOwned>(&mut self, port: &str) -> Result<T, NodeError> {
        let value = self
            .take_value(port)
            .ok_or_else(|| NodeError::input_missing(port))?;
        decode_owned(port, value)
    }

    /// The raw JSON value on `port`, or a fatal `input.missing` error.
    pub fn require(&self, port: &str) -> Result<&Value, NodeError> {
        self.value(port)
            .ok_or_else(|| NodeError::input_missing(port))
    }

    /// The raw JSON value on `port`, if it has one.
    pub fn value(&self, port: &str) -> Option<&Value> {
        self.values.iter().find(|(p, _)| p == port).map(|(_, v)| v)
    }

    /// Removes and returns the raw JSON value on `port`, if it has one.
    pub fn take_value(&mut self, port: &str) -> Option<Value> {
        let index = self.values.iter().position(|(p, _)| p == port)?;
        Some(self.values.swap_remove(index).1)
    }

    /// Whether `port` has a live value.
    pub fn has(&self, port: &str) -> bool {
        self.value(port).is_some()
    }

    /// The ports with values and their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(p, v)| (p.as_str(), v))
    }

    /// How many ports have values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no port has a value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn type_error(
    port: &str,
    path: &serde_path_to_error::Path,
    error: impl std::fmt::Display,
) -> NodeError {
    let at = crate::json::pointer_of_path(path);
    let message = if at.is_empty() {
        format!("input `{port}` has the wrong type: {error}")
    } else {
        format!("input `{port}` has the wrong type at {at}: {error}")
    };
    NodeError::new("input.type", message).fatal()
}

fn decode<T: DeserializeOwned>(port: &str, value: &Value) -> Result<T, NodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| type_error(port, e.path(), e.inner()))
}

fn decode_owned<T: DeserializeOwned>(port: &str, value: Value) -> Result<T, NodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| type_error(port, e.path(), e.inner()))
}

/// The values a run sets on the node's output ports.
///
/// A port left unset is dead for this run: downstream nodes that need it do
/// not run (that is how conditions choose a branch). Setting a port twice
/// keeps the last value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    values: Vec<(String, Value)>,
    error: Option<NodeError>,
}

impl Outputs {
    /// No ports set.
    pub fn new() -> Self {
        Outputs::default()
    }

    /// Sets `port` to `value`, serialized to JSON.
    ///
    /// If serialization fails (e.g. a map with non-string keys), the run
    /// fails with a fatal `output.serialize` error.
    pub fn set(mut self, port: impl Into<String>, value: impl Serialize) -> Self {
        self.insert(port, value);
        self
    }

    /// Sets `port` to a JSON value.
    pub fn set_value(mut self, port: impl Into<String>, value: Value) -> Self {
        self.insert_value(port, value);
        self
    }

    /// Like [`set`](Outputs::set), through a mutable reference.
    pub fn insert(&mut self, port: impl Into<String>, value: impl Serialize) {
        let port = port.into();
        match serde_json::to_value(value) {
            Ok(value) => self.insert_value(port, value),
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(
                        NodeError::new(
                            "output.serialize",
                            format!("output `{port}` cannot be serialized: {e}"),
                        )
                        .fatal(),
                    );
                }
            }
        }
    }

    /// Like [`set_value`](Outputs::set_value), through a mutable reference.
    pub fn insert_value(&mut self, port: impl Into<String>, value: Value) {
        let port = port.into();
        match self.values.iter_mut().find(|(p, _)| *p == port) {
            Some(slot) => slot.1 = value,
            None => self.values.push((port, value)),
        }
    }

    /// The value set on `port`, if any.
    pub fn get(&self, port: &str) -> Option<&Value> {
        self.values.iter().find(|(p, _)| p == port).map(|(_, v)| v)
    }

    /// The ports set so far and their values, in the order they were first
    /// set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(p, v)| (p.as_str(), v))
    }

    /// The set ports and their values, or the first serialization error.
    pub fn into_result(self) -> Result<Vec<(String, Value)>, NodeError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.values),
        }
    }
}
