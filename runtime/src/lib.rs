//! # weft-runtime
//!
//! Weft's engine: everything between a flow document and its run events.
//!
//! ## Layout
//! - [`validate`]: flow document → [`validate::ValidatedFlow`], or every
//!   problem at once as located [`weft_editor_protocol::Diagnostic`]s.
//! - [`plan`]: validated flow → [`plan::Plan`] (petgraph), shared by runs.
//! - [`executor`]: runs a plan: scheduling, dead branches, retries,
//!   timeouts, cancellation, run events.
//! - [`host`]: the wasmtime host: engine, pooling, epoch deadlines, memory
//!   caps, WASI with nothing granted, the component cache, capabilities.
//! - [`capabilities`]: what nodes may reach outside the sandbox (HTTP,
//!   secrets, ...), checked against each flow's grants.
//! - [`registry`]: node types by name and version, built-in and custom.
//! - [`events`]: event sinks and the per-run emitter.
//! - [`engine`]: the façade that ties them together for callers.
//!
//! Data flows one way: document → validation → plan → executor → events.

pub mod capabilities;
pub mod engine;
pub mod events;
pub mod executor;
pub mod host;
pub mod plan;
pub mod registry;
pub mod validate;

pub use engine::{Engine, EngineConfig, EngineError};
pub use events::{EventSink, NullSink, VecSink};
pub use executor::{RunOptions, RunOutcome};
