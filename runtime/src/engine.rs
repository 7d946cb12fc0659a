//! The façade most callers need: a host with its registry, and
//! validate → compile → run in a few calls.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use weft_runtime::{Engine, EngineConfig, RunOptions, VecSink};
//!
//! let engine = Engine::new(EngineConfig::default()).await?;
//! let plan = engine.compile_text(&std::fs::read_to_string("examples/hello.json")?).await?;
//! let sink = VecSink::new();
//! let inputs = serde_json::json!({"name": "Ada"});
//! let outcome = engine
//!     .run(plan, inputs.as_object().cloned().unwrap_or_default(), RunOptions::new("r1", Arc::new(sink)))
//!     .await;
//! println!("{:?}", outcome.outputs);
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use weft_editor_protocol::{Diagnostic, FlowDocument};

use crate::executor::{self, RunOptions, RunOutcome};
use crate::host::{Host, HostConfig, HostError};
use crate::plan::{Plan, PlanError};
use crate::registry::{Registry, RegistryError};
use crate::validate::{self, ValidatedFlow};

/// How to build an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub host: HostConfig,
    /// The providers behind the capabilities (secrets, HTTP limits, ...).
    pub services: crate::capabilities::Services,
    /// Directories of custom node components (`*.wasm`).
    pub nodes_dirs: Vec<PathBuf>,
    /// Also register the hostile test guests (`test.*`).
    #[cfg(feature = "test-guests")]
    pub test_guests: bool,
}

/// Errors building an engine or compiling a flow.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the flow is invalid ({} problem{})", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// A host, its node registry, and the operations on flows.
#[derive(Debug, Clone)]
pub struct Engine {
    registry: Arc<Registry>,
}

impl Engine {
    pub async fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        let host = Host::with_services(config.host.clone(), config.services.clone())?;
        let mut registry = Registry::with_builtins(host).await?;
        #[cfg(feature = "test-guests")]
        if config.test_guests {
            registry.add_test_guests().await?;
        }
        for dir in &config.nodes_dirs {
            registry.load_dir(dir).await?;
        }
        Ok(Engine {
            registry: Arc::new(registry),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub async fn validate_text(&self, text: &str) -> Result<ValidatedFlow, Vec<Diagnostic>> {
        validate::validate_text(text, &self.registry).await
    }

    pub async fn validate_document(
        &self,
        doc: &FlowDocument,
    ) -> Result<ValidatedFlow, Vec<Diagnostic>> {
        validate::validate_document(doc, &self.registry).await
    }

    pub fn compile(&self, flow: &ValidatedFlow) -> Result<Arc<Plan>, EngineError> {
        Ok(Arc::new(Plan::compile(
            flow,
            self.registry.host().config().memory_limit,
        )?))
    }

    /// Validates and compiles source text.
    pub async fn compile_text(&self, text: &str) -> Result<Arc<Plan>, EngineError> {
        let flow = self
            .validate_text(text)
            .await
            .map_err(EngineError::Invalid)?;
        self.compile(&flow)
    }

    pub async fn run(
        &self,
        plan: Arc<Plan>,
        inputs: Map<String, Value>,
        opts: RunOptions,
    ) -> RunOutcome {
        executor::execute(plan, inputs, opts).await
    }
}
