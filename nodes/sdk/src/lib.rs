//! # weft-node-sdk
//!
//! The guest side of Weft's node interface: write a node as an ordinary Rust
//! type, compile it to a WebAssembly component with
//! `cargo build --release --target wasm32-wasip2`, and the Weft runtime can
//! load it.
//!
//! Every Weft node is a component that targets the `weft:node/node` world
//! (`nodes/wit/node.wit`). The host calls three exports:
//!
//! 1. `info` once, when it loads the component: the node's type name,
//!    version and summary ([`Node::INFO`]) and the JSON Schema of its config
//!    (generated from [`Node::Config`]). The host checks every config
//!    against that schema before calling `describe`.
//! 2. `describe(config)` whenever it validates a flow that uses the node: the
//!    ports for this config and the host capabilities the node needs
//!    ([`Node::describe`]), or every problem with the config.
//! 3. `run(invocation, inputs)` once per attempt ([`Node::run`]).
//!
//! This crate turns those exports into one trait, [`Node`]: the SDK parses
//! the config JSON into your `Config` type (reporting a bad field as a
//! [`ConfigProblem`] with a JSON-pointer path), generates the config's JSON
//! Schema with [`schemars`], decodes inputs ([`Inputs`]), encodes outputs
//! ([`Outputs`]) and maps errors ([`NodeError`]). Inside `run`, [`Context`]
//! gives access to the node's config, host logging, streamed partial results
//! (`emit`) and the capability imports ([`capabilities`]).
//!
//! ## Example
//!
//! ```no_run
//! use weft_node_sdk::prelude::*;
//!
//! /// The node's config. `deny_unknown_fields` turns a typo into a config
//! /// problem instead of a silently ignored field.
//! #[derive(Deserialize, JsonSchema, Default)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// Appended to the upper-cased text.
//!     suffix: String,
//! }
//!
//! struct Shout;
//!
//! impl Node for Shout {
//!     type Config = Config;
//!
//!     const INFO: Info = Info {
//!         type_name: "acme.shout",
//!         version: "1.0.0",
//!         summary: "Upper-cases text and appends a suffix",
//!     };
//!
//!     fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
//!         Ok(Spec::new()
//!             .input(Port::new("text", "string").description("The text to shout"))
//!             .output(Port::new("text", "string").description("The shouted text")))
//!     }
//!
//!     fn run(ctx: &Context<Config>, inputs: Inputs) -> Result<Outputs, NodeError> {
//!         // A missing input or one of the wrong type is a non-retryable
//!         // error (`input.missing` / `input.type`) naming the port.
//!         let text: String = inputs.get("text")?;
//!         ctx.log_info("shouting");
//!         Ok(Outputs::new().set("text", text.to_uppercase() + &ctx.config.suffix))
//!     }
//! }
//!
//! weft_node_sdk::export_node!(Shout);
//! ```
//!
//! A node crate is a `cdylib`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! weft-node-sdk = { path = "../nodes/sdk" }
//! serde = { version = "1", features = ["derive"] }
//! schemars = "1"
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` then writes the component
//! to `target/wasm32-wasip2/release/<crate_name>.wasm`.
//!
//! ## Conventions
//!
//! * Values cross the boundary as JSON; port types are strings in Weft's
//!   type language (`any`, `string`, `list<int>`, `object{name: string}`,
//!   ... see [`types`]).
//! * An output port the node leaves out of its [`Outputs`] is *dead* for the
//!   run: downstream nodes that need it do not run. That is how conditions
//!   choose a branch.
//! * A [`Port::multi`] input receives a JSON list of the live values on its
//!   edges, in edge order.
//! * A node lists the capabilities it uses in its [`Spec`]; a flow that does
//!   not grant them is refused at validation, and an ungranted call fails
//!   with [`CapabilityError::Denied`].
//! * Errors a node raises with [`NodeError::new`] are retryable unless made
//!   [`NodeError::fatal`]; errors about bad inputs or config are not.
//!
//! Node logic can be unit-tested on the build machine, without a Weft host,
//! through [`testing`].

mod context;
mod error;
mod glue;
mod io;
pub mod json;
mod node;
mod spec;
pub mod testing;
pub mod types;

pub use context::{Context, LogLevel};
pub use error::NodeError;
pub use io::{Inputs, Outputs};
pub use json::{NoConfig, OrderedMap};
pub use node::{Info, Node};
pub use spec::{Capability, ConfigProblem, Port, Spec};

/// Re-exported so that node crates need not depend on these directly.
pub use schemars;
/// Re-exported so that node crates need not depend on these directly.
pub use serde;
/// Re-exported so that node crates need not depend on these directly.
pub use serde_json;

pub use capabilities::CapabilityError;

/// The host capability interfaces, as generated from `node.wit`.
///
/// Call them through [`Context`] ([`Context::http`], [`Context::llm_chat`],
/// [`Context::embed`], [`Context::vectors_upsert`],
/// [`Context::vectors_search`], [`Context::secret`]) or directly through
/// these modules. A node must declare each capability it uses in its
/// [`Spec`] (see [`Spec::capability`]); a call the flow has not granted
/// fails with [`CapabilityError::Denied`].
///
/// ```no_run
/// use weft_node_sdk::capabilities::http;
/// # fn f(ctx: &weft_node_sdk::Context<weft_node_sdk::NoConfig>) -> Result<(), weft_node_sdk::NodeError> {
/// let response = ctx.http(&http::Request {
///     method: "GET".into(),
///     url: "https://example.com/".into(),
///     headers: vec![],
///     body: None,
///     timeout_ms: Some(5_000),
/// })?;
/// ctx.log_info(format!("status {}", response.status));
/// # Ok(()) }
/// ```
pub mod capabilities {
    pub use crate::__private::bindings::weft::node::types::CapabilityError;
    pub use crate::__private::bindings::weft::node::{embeddings, http, llm, secrets, vectors};
}

/// Everything a node implementation usually needs, in one import.
pub mod prelude {
    pub use crate::{
        Capability, CapabilityError, ConfigProblem, Context, Info, Inputs, LogLevel, NoConfig,
        Node, NodeError, OrderedMap, Outputs, Port, Spec,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{Value, json};
}

/// Exports a [`Node`] implementation as the component's `weft:node/node`
/// world.
///
/// Invoke it exactly once per crate, at module level, with the node type:
///
/// ```ignore
/// weft_node_sdk::export_node!(Shout);
/// ```
#[macro_export]
macro_rules! export_node {
    ($node:ty) => {
        const _: () = {
            type WeftNodeExport = $crate::__private::Adapter<$node>;
            $crate::__private::bindings::export!(
                WeftNodeExport with_types_in $crate::__private::bindings
            );
        };
    };
}

/// Implementation details of [`export_node!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::glue::Adapter;

    /// The bindings `wit-bindgen` generates for `nodes/wit` (the path is
    /// relative to this crate's manifest directory).
    #[allow(missing_docs, missing_debug_implementations, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "node",
            pub_export_macro: true,
            default_bindings_module: "weft_node_sdk::__private::bindings",
        });
    }
}
