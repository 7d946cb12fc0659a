//! Host capabilities (`http`, `llm`, `embeddings`, `vectors`, `secrets`).
//!
//! Every node is linked with all of them, and every call is checked against
//! what the flow grants. Validation already refuses a flow whose nodes
//! declare a capability it does not grant, so a `denied` here means a node
//! used a capability it did not declare.
//!
//! The providers behind the capabilities (outbound HTTP, LLM and embedding
//! providers, vector stores, secret stores) are not wired in yet: a granted
//! call fails with `failed("... no provider configured")` until they are.

use super::bindings::weft::node::{
    embeddings, http, llm, secrets, types::CapabilityError, vectors,
};
use super::state::NodeState;

fn unavailable(what: &str) -> CapabilityError {
    CapabilityError::Failed(format!(
        "the `{what}` capability has no provider configured in this Weft host"
    ))
}

fn denied(what: &str) -> CapabilityError {
    CapabilityError::Denied(format!(
        "the flow does not grant `{what}` (add it to the flow's `capabilities` and declare it in the node's spec)"
    ))
}

impl NodeState {
    fn granted(&self, capability: weft_editor_protocol::Capability) -> bool {
        self.grants.grants(capability)
    }
}

impl http::Host for NodeState {
    async fn send(&mut self, _req: http::Request) -> Result<http::Response, CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Http) {
            return Err(denied("http"));
        }
        Err(unavailable("http"))
    }
}

impl llm::Host for NodeState {
    async fn chat(&mut self, _req: llm::ChatRequest) -> Result<llm::ChatResponse, CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Llm) {
            return Err(denied("llm"));
        }
        Err(unavailable("llm"))
    }
}

impl embeddings::Host for NodeState {
    async fn embed(
        &mut self,
        _req: embeddings::EmbedRequest,
    ) -> Result<embeddings::EmbedResponse, CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Embeddings) {
            return Err(denied("embeddings"));
        }
        Err(unavailable("embeddings"))
    }
}

impl vectors::Host for NodeState {
    async fn upsert(
        &mut self,
        _collection: String,
        _records: Vec<vectors::VectorRecord>,
    ) -> Result<(), CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Vectors) {
            return Err(denied("vectors"));
        }
        Err(unavailable("vectors"))
    }

    async fn search(
        &mut self,
        _req: vectors::SearchRequest,
    ) -> Result<Vec<vectors::Match>, CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Vectors) {
            return Err(denied("vectors"));
        }
        Err(unavailable("vectors"))
    }
}

impl secrets::Host for NodeState {
    async fn get(&mut self, _name: String) -> Result<String, CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Secrets) {
            return Err(denied("secrets"));
        }
        Err(unavailable("secrets"))
    }
}
