//! The WIT host traits of the capability interfaces (`http`, `llm`,
//! `embeddings`, `vectors`, `secrets`).
//!
//! Every node is linked with all of them, and every call is checked against
//! what the flow grants. Validation already refuses a flow whose nodes
//! declare a capability it does not grant, so a `denied` here means a node
//! used a capability it did not declare, or a target the grant excludes.

use std::time::Duration;

use super::http::{HttpError, Request};
use super::llm::{Chat, ProviderError, TokenUsage};
use super::vectors::{SearchRequest, VectorError, VectorRecord, check_grant, parse_object};
use crate::host::bindings::weft::node::{
    embeddings, http, llm, secrets, types::CapabilityError, vectors,
};
use crate::host::state::NodeState;

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

impl NodeState {
    /// Whether the flow grants this provider for this capability.
    fn provider_granted(
        &self,
        capability: weft_editor_protocol::Capability,
        provider: &str,
    ) -> Result<(), CapabilityError> {
        let list = match capability {
            weft_editor_protocol::Capability::Llm => &self.grants.llm,
            _ => &self.grants.embeddings,
        };
        if list.iter().any(|p| p == provider || p == "*") {
            return Ok(());
        }
        Err(CapabilityError::Denied(format!(
            "the flow does not grant the provider `{provider}` (add it to capabilities.{})",
            capability.as_str()
        )))
    }

    fn account(&mut self, usage: Option<TokenUsage>, cost: Option<f64>) {
        if let Some(u) = usage {
            self.usage.get_or_insert_with(TokenUsage::default).add(u);
        }
        if let Some(c) = cost {
            *self.cost.get_or_insert(0.0) += c;
        }
    }
}

fn provider_error(e: ProviderError) -> CapabilityError {
    match e {
        ProviderError::Unknown(m) => CapabilityError::Invalid(m),
        ProviderError::Timeout(m) => CapabilityError::Timeout(m),
        ProviderError::Failed(m) => CapabilityError::Failed(m),
    }
}

fn wit_usage(u: Option<TokenUsage>) -> Option<llm::Usage> {
    u.map(|u| llm::Usage {
        prompt_tokens: u32::try_from(u.prompt).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(u.completion).unwrap_or(u32::MAX),
        total_tokens: u32::try_from(u.total).unwrap_or(u32::MAX),
    })
}

impl llm::Host for NodeState {
    async fn chat(&mut self, req: llm::ChatRequest) -> Result<llm::ChatResponse, CapabilityError> {
        use weft_editor_protocol::Capability::Llm;
        if !self.granted(Llm) {
            return Err(denied("llm"));
        }
        self.provider_granted(Llm, &req.provider)?;
        let chat = Chat {
            model: req.model,
            messages: req
                .messages
                .into_iter()
                .map(|m| (m.role, m.content))
                .collect(),
            temperature: req.temperature,
            max_tokens: req.max_tokens,
            json_mode: req.json_mode,
            stream: req.stream_port.is_some(),
        };
        let events = self.events.clone();
        let port = req.stream_port.unwrap_or_default();
        let services = self.services.clone();
        let answer = services
            .providers
            .chat(&req.provider, services.secrets.as_ref(), &chat, |token| {
                if let Some(events) = &events {
                    events.emit(port.clone(), serde_json::Value::String(token.to_string()));
                }
            })
            .await
            .map_err(provider_error)?;
        self.account(answer.usage, answer.cost);
        Ok(llm::ChatResponse {
            text: answer.text,
            finish_reason: answer.finish_reason,
            usage: wit_usage(answer.usage),
            cost: answer.cost,
        })
    }
}

impl embeddings::Host for NodeState {
    async fn embed(
        &mut self,
        req: embeddings::EmbedRequest,
    ) -> Result<embeddings::EmbedResponse, CapabilityError> {
        use weft_editor_protocol::Capability::Embeddings;
        if !self.granted(Embeddings) {
            return Err(denied("embeddings"));
        }
        self.provider_granted(Embeddings, &req.provider)?;
        let services = self.services.clone();
        let answer = services
            .providers
            .embed(
                &req.provider,
                services.secrets.as_ref(),
                &req.model,
                &req.inputs,
            )
            .await
            .map_err(provider_error)?;
        self.account(answer.usage, answer.cost);
        Ok(embeddings::EmbedResponse {
            vectors: answer.vectors,
            usage: wit_usage(answer.usage),
        })
    }
}

fn vector_error(e: VectorError) -> CapabilityError {
    match e {
        VectorError::Denied(m) => CapabilityError::Denied(m),
        VectorError::Invalid(m) => CapabilityError::Invalid(m),
        VectorError::NotFound(m) => CapabilityError::NotFound(m),
        VectorError::Timeout(m) => CapabilityError::Timeout(m),
        VectorError::Failed(m) => CapabilityError::Failed(m),
    }
}

impl NodeState {
    /// The `vectors` grant, then the collection's.
    fn collection_granted(&self, collection: &str) -> Result<(), CapabilityError> {
        if !self.granted(weft_editor_protocol::Capability::Vectors) {
            return Err(denied("vectors"));
        }
        check_grant(&self.grants.vectors, collection).map_err(vector_error)
    }
}

impl vectors::Host for NodeState {
    async fn upsert(
        &mut self,
        collection: String,
        records: Vec<vectors::VectorRecord>,
    ) -> Result<(), CapabilityError> {
        self.collection_granted(&collection)?;
        let records = records
            .into_iter()
            .map(|r| {
                let metadata =
                    parse_object(&r.metadata, &format!("the metadata of record `{}`", r.id))?;
                Ok(VectorRecord {
                    id: r.id,
                    vector: r.vector,
                    text: r.text,
                    metadata,
                })
            })
            .collect::<Result<Vec<_>, VectorError>>()
            .map_err(vector_error)?;
        let store = self.services.vectors.clone();
        store
            .upsert(&collection, &records)
            .await
            .map_err(vector_error)
    }

    async fn search(
        &mut self,
        req: vectors::SearchRequest,
    ) -> Result<Vec<vectors::Match>, CapabilityError> {
        self.collection_granted(&req.collection)?;
        let request = SearchRequest {
            filter: parse_object(&req.filter, "the filter").map_err(vector_error)?,
            collection: req.collection,
            vector: req.vector,
            top_k: req.top_k,
            min_score: req.min_score,
        };
        let store = self.services.vectors.clone();
        let found = store.search(&request).await.map_err(vector_error)?;
        Ok(found
            .into_iter()
            .map(|m| vectors::Match {
                id: m.id,
                score: m.score,
                text: m.text,
                metadata: serde_json::Value::Object(m.metadata).to_string(),
            })
            .collect())
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
        let value = match events.emitter.secrets() {
            Some(own) => crate::capabilities::secrets::SecretSource::get(own.as_ref(), &name).ok_or_else(|| {
                CapabilityError::NotFound(format!(
                    "secret `{name}` is not set for this project and stage (set it with PUT /v1/projects/PROJECT/secrets/{name})"
                ))
            })?,
            None => self.services.secrets.get(&name).ok_or_else(|| {
                CapabilityError::NotFound(format!(
                    "secret `{name}` is not set (set WEFT_SECRET_{name}, add it to the secrets file, or pass --secret {name}=...)"
                ))
            })?,
        };
        events.emitter.redactor().add(&value);
        Ok(value)
    }
}
