//! Host side of the WIT `node` world (`nodes/wit/node.wit`): generated
//! bindings and the implementations of the always-available `host`
//! interface. The capability interfaces live in
//! [`super::capabilities`].

use weft_editor_protocol::events::{LogLevel as EventLevel, LogSource};

use super::state::NodeState;

wasmtime::component::bindgen!({
    path: "../nodes/wit",
    world: "node",
    imports: { default: async },
    exports: { default: async },
});

pub use weft::node::types::{Capability as WitCapability, PortSpec};

impl weft::node::types::Host for NodeState {}

impl weft::node::host::Host for NodeState {
    async fn log(&mut self, level: weft::node::types::LogLevel, message: String) {
        use weft::node::types::LogLevel as L;
        let level = match level {
            L::Trace => EventLevel::Trace,
            L::Debug => EventLevel::Debug,
            L::Info => EventLevel::Info,
            L::Warn => EventLevel::Warn,
            L::Error => EventLevel::Error,
        };
        if let Some(events) = &self.events {
            events.log(level, LogSource::Node, message);
        }
    }

    async fn emit(&mut self, port: String, value: String) {
        if let Some(events) = &self.events {
            // A guest that emits something that is not JSON still gets its
            // text shown, as a string.
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            events.emit(port, value);
        }
    }
}
