//! Host capabilities: what a node may reach outside its sandbox, and only
//! when the flow grants it (`capabilities` in the flow document; default
//! deny).
//!
//! ## Layout
//! - [`http`]: outbound HTTP with allow-listed targets and SSRF guards.
//! - [`secrets`]: secret values by name, and their redaction from events.
//! - [`llm`]: chat and embeddings through named OpenAI-compatible providers.
//! - [`vectors`]: vector collections, embedded (sqlite-vec) or in
//!   PostgreSQL (pgvector).
//! - `wit`: the WIT host traits, each call checked against the grants.

pub mod http;
pub mod llm;
pub mod secrets;
pub mod vectors;
mod wit;

use std::sync::Arc;

pub use http::{HttpClients, HttpSettings};
pub use llm::{Provider, Providers};
pub use secrets::{Redactor, SecretSource, Secrets};
pub use vectors::{VectorConfig, VectorStore};

/// The providers behind the capabilities, shared by every run of a host.
#[derive(Clone)]
pub struct Services {
    pub secrets: Arc<dyn SecretSource>,
    pub http: Arc<HttpClients>,
    /// LLM and embedding providers by name.
    pub providers: Arc<Providers>,
    /// The vector store (usually [`vectors::lazy`], opened on first use).
    pub vectors: Arc<dyn VectorStore>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl Default for Services {
    /// Secrets from `WEFT_SECRET_<NAME>`, default HTTP limits, no
    /// providers, no vector store (`weft run` configures
    /// `sqlite:weft-data/weft.db` unless told otherwise).
    fn default() -> Self {
        Services {
            secrets: Arc::new(Secrets::from_env()),
            http: Arc::new(HttpClients::new(HttpSettings::default())),
            providers: Arc::new(Providers::default()),
            vectors: Arc::new(vectors::NoVectorStore),
        }
    }
}
