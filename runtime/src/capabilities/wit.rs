//! The WIT host traits of the capability interfaces (`http`, `llm`,
//! `embeddings`, `vectors`, `secrets`).
//!
//! Every node is linked with all of them, and every call is checked against
//! what the flow grants. Validation already refuses a flow whose nodes
//! declare a capability it does not grant, so a `denied` here means a node
//! used a capability it did not declare, or a target the grant excludes.

use std::time::Duration;

use super::http::{HttpError, Request};
use crate::host::bindings::weft::node::{
    embeddings, http, llm, secrets, types::CapabilityError, vectors,
};
use crate::host::state::NodeState;

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
    async fn send(&mut self, req: http::Request) -> Result<http::Response, CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Http) {
            return Err(denied("http"));
        }
        let request = Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout: req
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        };
        let response = self
            .services
            .http
            .send(&self.grants.http, request)
            .await
            .map_err(|e| match e {
                HttpError::Denied(m) => CapabilityError::Denied(m),
                HttpError::Invalid(m) => CapabilityError::Invalid(m),
                HttpError::Timeout(m) => CapabilityError::Timeout(m),
                HttpError::Failed(m) => CapabilityError::Failed(m),
            })?;
        Ok(http::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
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
    async fn get(&mut self, name: String) -> Result<String, CapabilityError> {
        let granted = &self.grants.secrets;
        if !granted.iter().any(|g| g == &name || g == "*") {
            return Err(CapabilityError::Denied(format!(
                "the flow does not grant the secret `{name}` (add it to capabilities.secrets)"
            )));
        }
        // Without a run to redact for (describe), no secret is handed out.
        let Some(events) = &self.events else {
            return Err(CapabilityError::Denied(
                "secrets are only available while a node runs".into(),
            ));
        };
        let value = self.services.secrets.get(&name).ok_or_else(|| {
            CapabilityError::NotFound(format!(
                "secret `{name}` is not set (set WEFT_SECRET_{name}, add it to the secrets file, or pass --secret {name}=...)"
            ))
        })?;
        events.emitter.redactor().add(&value);
        Ok(value)
    }
}
