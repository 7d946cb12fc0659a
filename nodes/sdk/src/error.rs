//! [`NodeError`]: why a run failed.

use crate::CapabilityError;
use std::fmt;

/// Why a run failed: a dotted machine-readable code, a message for people,
/// and whether another attempt could help.
///
/// Errors created with [`NodeError::new`] are retryable (the host applies the
/// node's retry policy); call [`fatal`](NodeError::fatal) when retrying
/// cannot help. Errors the SDK produces for bad inputs (`input.missing`,
/// `input.type`, `input.json`) and bad config (`config`) are fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    code: String,
    message: String,
    retryable: bool,
}

impl NodeError {
    /// A retryable error with a dotted `code` (e.g. `http.status`) and a
    /// human-readable `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        NodeError {
            code: code.into(),
            message: message.into(),
            retryable: true,
        }
    }

    /// Marks the error as retryable: the host may run the node again,
    /// according to its retry policy.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Marks the error as fatal: another attempt cannot help (bad input, bad
    /// config), so the host ignores the retry policy.
    pub fn fatal(mut self) -> Self {
        self.retryable = false;
        self
    }

    /// Sets whether the error is retryable.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The machine-readable, dotted code, e.g. `input.type`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether another attempt could help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The fatal `input.missing` error the SDK reports when a required input
    /// has no value.
    pub fn input_missing(port: &str) -> Self {
        NodeError::new("input.missing", format!("input `{port}` has no value")).fatal()
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for NodeError {}

/// A capability call that failed becomes `capability.<kind>` (e.g.
/// `capability.denied`); only `timeout` and `failed` are retryable.
impl From<CapabilityError> for NodeError {
    fn from(error: CapabilityError) -> Self {
        let (kind, message, retryable) = match error {
            CapabilityError::Denied(m) => ("denied", m, false),
            CapabilityError::Invalid(m) => ("invalid", m, false),
            CapabilityError::NotFound(m) => ("not-found", m, false),
            CapabilityError::Timeout(m) => ("timeout", m, true),
            CapabilityError::Failed(m) => ("failed", m, true),
        };
        NodeError::new(format!("capability.{kind}"), message).with_retryable(retryable)
    }
}

/// A JSON (de)serialization failure inside the node becomes a fatal `json`
/// error.
impl From<serde_json::Error> for NodeError {
    fn from(error: serde_json::Error) -> Self {
        NodeError::new("json", error.to_string()).fatal()
    }
}

/// A config problem found at run time becomes a fatal `config` error.
impl From<crate::ConfigProblem> for NodeError {
    fn from(problem: crate::ConfigProblem) -> Self {
        NodeError::new("config", format!("invalid config: {problem}")).fatal()
    }
}
