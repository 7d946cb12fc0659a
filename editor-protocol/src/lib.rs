//! # weft-editor-protocol
//!
//! Weft's wire contract, shared by the engine, the server, editors and
//! tooling. Serde types and pure functions over them only: no engine, no
//! tokio, no wasmtime. Everything here is public API; change it only in
//! backward-compatible ways (new optional fields, new enum variants that
//! readers can ignore) or bump [`flow::FORMAT_VERSION`].
//!
//! ## Layout
//! - [`flow`]: the flow document (`FlowDocument`, nodes, edges, policies,
//!   capabilities) and the `node.port.path` / `category.name@version`
//!   reference syntaxes.
//! - [`trigger`]: how a published flow is started from outside (HTTP
//!   routes: methods, path pattern, auth, modes, CORS).
//! - [`types`]: the port type language (`list<string>`, `object{id: int}`)
//!   with its assignability rules and value checks.
//! - [`spec`]: what a node declares about itself (ports, config schema,
//!   capabilities) and the node catalogue entries.
//! - [`events`]: run events (`run.started` … `run.finished`).
//! - [`diagnostic`]: located validation errors.
//! - [`ws`]: the editor websocket's messages (`hello`, `subscribe`,
//!   `run.start`, ... and `welcome`, `ack`, `event`, `lagged`, ...).
//!
//! JSON Schemas of the wire types are generated from these types into
//! `editor-protocol/schema/` (`WEFT_BLESS=1 cargo test -p
//! weft-editor-protocol --test schema` rewrites them; the test fails when
//! they drift).

pub mod diagnostic;
pub mod events;
pub mod flow;
pub mod spec;
pub mod trigger;
pub mod types;
pub mod ws;

pub use diagnostic::{Diagnostic, DiagnosticCode};
pub use events::{EventBody, RunEvent};
pub use flow::FlowDocument;
pub use spec::{Capability, NodeInfo, NodeSpec, PortSpec};
pub use trigger::{HttpTrigger, Trigger};
pub use types::PortType;
