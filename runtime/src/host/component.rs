//! A loaded node component: linked once (`InstancePre`; for a built-in
//! registered from the cache's info sidecar, on its first call), then
//! instantiated fresh from the pooling allocator for every call, so no
//! state leaks between calls, runs or flows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use weft_editor_protocol::events::LogSource;
use weft_editor_protocol::flow::Capabilities;
use weft_editor_protocol::spec::{Capability, CapabilityUse, NodeInfo, NodeSpec, PortSpec};

use super::bindings::{self, ConfigProblem, NodePre, WitCapability};
use super::cache::{CacheOutcome, CachedInfo};
use super::state::{LogPipe, MemoryLimiter, NodeEvents, NodeState};
use super::{Host, HostError, MIB};

/// Deadline for `info` and `describe`.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The ports a node set, as `(port, JSON text)`.
pub type NodeOutputs = Vec<(String, String)>;

/// What one successful call produced.
#[derive(Debug, Clone, Default)]
pub struct NodeRun {
    pub outputs: NodeOutputs,
    /// Tokens used by its LLM and embedding calls, if any.
    pub usage: Option<crate::capabilities::llm::TokenUsage>,
    /// Their cost, when the providers have prices.
    pub cost: Option<f64>,
}

/// What `describe` answered: a spec, or the problems with the config.
pub type Described = Result<Arc<NodeSpec>, Vec<ConfigProblem>>;

/// One call of a node's `run`.
#[derive(Debug, Clone)]
pub struct NodeCall<'a> {
    pub node_id: &'a str,
    /// The node's config as JSON text.
    pub config: &'a str,
    pub attempt: u32,
    /// `(port, JSON text)` for each live input.
    pub inputs: Vec<(String, String)>,
    pub events: Option<NodeEvents>,
    pub timeout: Duration,
    /// Linear-memory cap in bytes.
    pub memory_limit: u64,
    pub grants: Arc<Capabilities>,
}

/// Why a node call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NodeFailure {
    #[error("deadline exceeded: the node ran longer than {timeout_ms} ms")]
    DeadlineExceeded { timeout_ms: u64 },
    #[error("memory limit exceeded: the node tried to grow its memory past {limit_mib} MiB")]
    MemoryLimitExceeded { limit_mib: u64 },
    #[error("the node trapped: {message}")]
    Trap { message: String },
    #[error("{message}")]
    Node {
        code: String,
        message: String,
        retryable: bool,
    },
    #[error("the host could not run the node: {message}")]
    Host { message: String },
}

impl NodeFailure {
    /// The stable error code shown in events.
    pub fn code(&self) -> &str {
        match self {
            NodeFailure::DeadlineExceeded { .. } => "deadline_exceeded",
            NodeFailure::MemoryLimitExceeded { .. } => "memory_limit_exceeded",
            NodeFailure::Trap { .. } => "trap",
            NodeFailure::Node { code, .. } => code,
            NodeFailure::Host { .. } => "host",
        }
    }

    /// Whether another attempt could succeed.
    pub fn retryable(&self) -> bool {
        match self {
            NodeFailure::Node { retryable, .. } => *retryable,
            NodeFailure::MemoryLimitExceeded { .. } => false,
            _ => true,
        }
    }
}

/// A node component ready to be described and run.
pub struct LoadedComponent {
    host: Arc<Host>,
    /// Linked once; for a deferred built-in, on first use.
    pre: OnceLock<NodePre<NodeState>>,
    /// A deferred built-in's bytes, compiled if the cache lost its code.
    deferred: Option<&'static [u8]>,
    loading: Mutex<()>,
    /// What the component says it is.
    pub info: NodeInfo,
    /// Where it came from (built-in name or file path).
    pub source_name: String,
    /// Hex SHA-256 of the component bytes.
    pub hash: String,
    /// Whether it was compiled or loaded from the disk cache.
    pub cache: CacheOutcome,
    /// JSON Schema of the node's config.
    pub config_schema: Arc<serde_json::Value>,
    config_validator: Option<Arc<jsonschema::Validator>>,
    described: Mutex<HashMap<String, Described>>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("info", &self.info)
            .field("source_name", &self.source_name)
            .finish()
    }
}

impl LoadedComponent {
    /// Links a compiled component and asks it for its `info`.
    pub(super) async fn link(
        host: Arc<Host>,
        name: &str,
        component: wasmtime::component::Component,
        hash: String,
        cache: CacheOutcome,
    ) -> Result<LoadedComponent, HostError> {
        let invalid = |message: String| HostError::InvalidComponent {
            name: name.to_string(),
            message,
        };
        let pre = link_pre(&host, name, &component)?;
        let mut this = LoadedComponent::unlinked(host, name, hash, cache, None);
        let mut store = this.new_store(None, DESCRIBE_TIMEOUT, None, Arc::default());
        let info = async {
            let node = pre.instantiate_async(&mut store).await?;
            node.call_info(&mut store).await
        };
        let info = match tokio::time::timeout(DESCRIBE_TIMEOUT, info).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => return Err(invalid(format!("`info` failed: {}", super::one_line(&e)))),
            Err(_) => return Err(invalid("`info` did not return within 5 s".into())),
        };
        let schema: serde_json::Value = serde_json::from_str(&info.config_schema)
            .map_err(|e| invalid(format!("its config schema is not JSON: {e}")))?;
        this.adopt_info(CachedInfo {
            type_name: info.type_name,
            version: info.version,
            summary: info.summary,
            config_schema: schema,
        })?;
        let _ = this.pre.set(pre);
        Ok(this)
    }

    /// A component known from its cached `info` alone: its compiled code is
    /// read from the cache (or compiled from `bytes`) on first use.
    pub(super) fn deferred(
        host: Arc<Host>,
        name: &str,
        info: CachedInfo,
        bytes: &'static [u8],
        hash: String,
    ) -> Result<LoadedComponent, HostError> {
        let mut this =
            LoadedComponent::unlinked(host, name, hash, CacheOutcome::Deferred, Some(bytes));
        this.adopt_info(info)?;
        Ok(this)
    }

    fn unlinked(
        host: Arc<Host>,
        name: &str,
        hash: String,
        cache: CacheOutcome,
        deferred: Option<&'static [u8]>,
    ) -> LoadedComponent {
        LoadedComponent {
            host,
            pre: OnceLock::new(),
            deferred,
            loading: Mutex::new(()),
            info: NodeInfo {
                type_name: String::new(),
                version: String::new(),
                summary: String::new(),
            },
            source_name: name.to_string(),
            hash,
            cache,
            config_schema: Arc::new(serde_json::Value::Bool(true)),
            config_validator: None,
            described: Mutex::new(HashMap::new()),
        }
    }

    /// Checks what the component says of itself and keeps it.
    fn adopt_info(&mut self, info: CachedInfo) -> Result<(), HostError> {
        let invalid = |message: String| HostError::InvalidComponent {
            name: self.source_name.clone(),
            message,
        };
        if let Err(e) = weft_editor_protocol::flow::NodeTypeRef::parse(&info.type_name) {
            return Err(invalid(format!("it declares an invalid type name: {e}")));
        }
        if semver_parts(&info.version).is_none() {
            return Err(invalid(format!(
                "it declares version `{}`; expected MAJOR.MINOR.PATCH",
                info.version
            )));
        }
        let validator = jsonschema::validator_for(&info.config_schema)
            .map_err(|e| invalid(format!("its config schema is not a valid JSON Schema: {e}")))?;
        self.config_schema = Arc::new(info.config_schema);
        self.config_validator = Some(Arc::new(validator));
        self.info = NodeInfo {
            type_name: info.type_name,
            version: info.version,
            summary: info.summary,
        };
        Ok(())
    }

    /// What the component said of itself, as the cache keeps it.
    pub(super) fn cached_info(&self) -> CachedInfo {
        CachedInfo {
            type_name: self.info.type_name.clone(),
            version: self.info.version.clone(),
            summary: self.info.summary.clone(),
            config_schema: (*self.config_schema).clone(),
        }
    }

    /// Whether the compiled code is in memory (always, but for a deferred
    /// built-in that has not been used yet).
    pub fn is_linked(&self) -> bool {
        self.pre.get().is_some()
    }

    /// The linked component, loaded on first use for a deferred one.
    fn pre(&self) -> Result<&NodePre<NodeState>, HostError> {
        if let Some(pre) = self.pre.get() {
            return Ok(pre);
        }
        // One loader at a time; the others find it loaded.
        let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pre) = self.pre.get() {
            return Ok(pre);
        }
        let Some(bytes) = self.deferred else {
            return Err(HostError::InvalidComponent {
                name: self.source_name.clone(),
                message: "it was never linked".into(),
            });
        };
        let cache_dir = self.host.config().cache_dir.as_deref();
        let (component, _, _) = super::cache::compile_cached(
            self.host.engine(),
            cache_dir,
            &self.source_name,
            bytes,
            Some(&self.hash),
        )?;
        let pre = link_pre(&self.host, &self.source_name, &component)?;
        tracing::debug!(component = %self.source_name, "loaded on first use");
        Ok(self.pre.get_or_init(|| pre))
    }

    /// Checks a config against the node's schema: every violation, as
    /// (JSON pointer into the config, message).
    pub fn check_config(&self, config: &serde_json::Value) -> Vec<(String, String)> {
        use jsonschema::error::ValidationErrorKind;
        let Some(validator) = &self.config_validator else {
            return Vec::new();
        };
        let known: Vec<&str> = self
            .config_schema
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let unknown = |at: &str, key: &str| {
            let message = if at.is_empty() && known.is_empty() {
                format!("unknown field `{key}`: this node takes no config")
            } else {
                let hint = if at.is_empty() {
                    known
                        .iter()
                        .map(|k| (strsim::damerau_levenshtein(k, key), *k))
                        .filter(|(d, k)| *d <= 1.max(k.len() / 3))
                        .min()
                        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_else(|| format!(" (known fields: {})", known.join(", ")))
                } else {
                    String::new()
                };
                format!("unknown field `{key}`{hint}")
            };
            (
                format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                message,
            )
        };
        let mut problems = Vec::new();
        for e in validator.iter_errors(config) {
            let at = e.instance_path().to_string();
            match e.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    problems.extend(unexpected.iter().map(|k| unknown(&at, k)));
                }
                // `additionalProperties: false` reports each extra field
                // as a false schema at the field itself.
                ValidationErrorKind::FalseSchema => match at.rsplit_once('/') {
                    Some((parent, key)) => {
                        let key = key.replace("~1", "/").replace("~0", "~");
                        problems.push(unknown(parent, &key));
                    }
                    // Reported against the config itself: name each field
                    // the schema does not know.
                    None => problems.extend(
                        config
                            .as_object()
                            .into_iter()
                            .flat_map(|o| o.keys())
                            .filter(|k| !known.contains(&k.as_str()))
                            .map(|k| unknown("", k)),
                    ),
                },
                _ => problems.push((at, e.to_string())),
            }
        }
        problems
    }

    /// `type@version`, as events show it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.type_name, self.info.version)
    }

    fn new_store(
        &self,
        events: Option<NodeEvents>,
        timeout: Duration,
        memory_limit: Option<u64>,
        grants: Arc<Capabilities>,
    ) -> Store<NodeState> {
        let config = self.host.config();
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(LogPipe::new(events.clone(), LogSource::Stdout, None))
            .stderr(LogPipe::new(
                events.clone(),
                LogSource::Stderr,
                Some(stderr_tail.clone()),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let limit = memory_limit.unwrap_or(config.memory_limit);
        let state = NodeState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: usize::try_from(limit).unwrap_or(usize::MAX),
                hit: false,
            },
            events,
            deadline: Instant::now() + timeout,
            deadline_hit: false,
            stderr_tail,
            grants,
            services: self.host.services().clone(),
            usage: None,
            cost: None,
        };
        let mut store = Store::new(self.host.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if Instant::now() >= state.deadline {
                state.deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Let other tasks run; cancellation drops us at this point.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Describes the node for a config (JSON text). Answers are cached per
    /// config text.
    pub async fn describe(&self, config: &str) -> Result<Described, HostError> {
        if let Some(hit) = self
            .described
            .lock()
            .ok()
            .and_then(|m| m.get(config).cloned())
        {
            return Ok(hit);
        }
        let call_error = |message: String| HostError::Call {
            name: self.info.type_name.clone(),
            call: "describe",
            message,
        };
        let pre = self.pre()?;
        let mut store = self.new_store(None, DESCRIBE_TIMEOUT, None, Arc::default());
        let answer = async {
            let node = pre.instantiate_async(&mut store).await?;
            node.call_describe(&mut store, &config.to_string()).await
        };
        let answer = match tokio::time::timeout(DESCRIBE_TIMEOUT, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(call_error(trap_message(&e, &store))),
            Err(_) => return Err(call_error("did not return within 5 s".into())),
        };
        let described = match answer {
            Ok(spec) => Ok(Arc::new(
                convert_spec(spec, &self.config_schema).map_err(call_error)?,
            )),
            Err(problems) => Err(problems),
        };
        if let Ok(mut m) = self.described.lock() {
            m.insert(config.to_string(), described.clone());
        }
        Ok(described)
    }

    /// Runs one attempt of the node in a fresh instance.
    pub async fn run(&self, call: NodeCall<'_>) -> Result<NodeRun, NodeFailure> {
        let pre = self.pre().map_err(|e| NodeFailure::Host {
            message: e.to_string(),
        })?;
        let mut store = self.new_store(
            call.events.clone(),
            call.timeout,
            Some(call.memory_limit),
            call.grants.clone(),
        );
        let invocation = bindings::Invocation {
            node_id: call.node_id.to_string(),
            config: call.config.to_string(),
            attempt: call.attempt,
        };
        let inputs: Vec<bindings::PortValue> = call
            .inputs
            .into_iter()
            .map(|(port, value)| bindings::PortValue { port, value })
            .collect();
        let result = async {
            let node = pre.instantiate_async(&mut store).await?;
            node.call_run(&mut store, &invocation, &inputs).await
        };
        let timeout_ms = call.timeout.as_millis() as u64;
        match tokio::time::timeout(call.timeout, result).await {
            Err(_) => Err(NodeFailure::DeadlineExceeded { timeout_ms }),
            Ok(Ok(Ok(outputs))) => Ok(NodeRun {
                outputs: outputs.into_iter().map(|p| (p.port, p.value)).collect(),
                usage: store.data().usage,
                cost: store.data().cost,
            }),
            Ok(Ok(Err(_))) if store.data().limiter.hit => Err(NodeFailure::MemoryLimitExceeded {
                limit_mib: call.memory_limit / MIB,
            }),
            Ok(Ok(Err(e))) => Err(NodeFailure::Node {
                code: if e.code.is_empty() {
                    "node".into()
                } else {
                    e.code
                },
                message: e.message,
                retryable: e.retryable,
            }),
            Ok(Err(e)) => {
                let state = store.data();
                if state.limiter.hit {
                    Err(NodeFailure::MemoryLimitExceeded {
                        limit_mib: call.memory_limit / MIB,
                    })
                } else if state.deadline_hit || e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    Err(NodeFailure::DeadlineExceeded { timeout_ms })
                } else {
                    Err(NodeFailure::Trap {
                        message: trap_message(&e, &store),
                    })
                }
            }
        }
    }
}

/// Links a compiled component against the host's linker and checks that
/// it exports the `weft:node/node` world.
fn link_pre(
    host: &Host,
    name: &str,
    component: &wasmtime::component::Component,
) -> Result<NodePre<NodeState>, HostError> {
    let invalid = |message: String| HostError::InvalidComponent {
        name: name.to_string(),
        message,
    };
    let instance_pre = host
        .linker()
        .instantiate_pre(component)
        .map_err(|e| invalid(format!("cannot link it: {}", super::one_line(&e))))?;
    NodePre::new(instance_pre).map_err(|e| {
        invalid(format!(
            "it does not export the `weft:node/node` world: {}",
            super::one_line(&e)
        ))
    })
}

/// The trap's own description plus what the guest last wrote to stderr
/// (where a Rust guest's panic message goes).
fn trap_message(e: &wasmtime::Error, store: &Store<NodeState>) -> String {
    let mut message = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => super::one_line(e),
    };
    if let Ok(tail) = store.data().stderr_tail.lock()
        && !tail.is_empty()
    {
        message.push_str("; guest stderr: ");
        message.push_str(&tail.join(" | "));
    }
    message
}

fn convert_spec(
    spec: bindings::NodeSpec,
    config_schema: &serde_json::Value,
) -> Result<NodeSpec, String> {
    let ports = |ports: Vec<bindings::PortSpec>, kind: &str| -> Result<Vec<PortSpec>, String> {
        let mut seen = std::collections::HashSet::new();
        ports
            .into_iter()
            .map(|p| {
                if !seen.insert(p.name.clone()) {
                    return Err(format!("declares {kind} port `{}` twice", p.name));
                }
                let ty = p.type_.parse().map_err(|e| {
                    format!(
                        "{kind} port `{}` has an invalid type `{}`: {e}",
                        p.name, p.type_
                    )
                })?;
                Ok(PortSpec {
                    name: p.name,
                    ty,
                    required: p.required,
                    multi: p.multi,
                    description: p.description,
                })
            })
            .collect()
    };
    let config_schema = config_schema.clone();
    let outputs = ports(spec.outputs, "output")?;
    if outputs.iter().any(|p| p.multi) {
        return Err("declares a multi output port; only inputs can be multi".into());
    }
    let capability = |c| match c {
        WitCapability::Http => Capability::Http,
        WitCapability::Llm => Capability::Llm,
        WitCapability::Embeddings => Capability::Embeddings,
        WitCapability::Vectors => Capability::Vectors,
        WitCapability::Secrets => Capability::Secrets,
    };
    let mut capabilities: Vec<Capability> = spec.capabilities.into_iter().map(capability).collect();
    let mut uses: Vec<CapabilityUse> = Vec::with_capacity(spec.uses.len());
    for u in spec.uses {
        let used = CapabilityUse {
            capability: capability(u.capability),
            name: u.name,
        };
        // A use implies its capability, whatever the guest listed.
        if !capabilities.contains(&used.capability) {
            capabilities.push(used.capability);
        }
        if !uses.contains(&used) {
            uses.push(used);
        }
    }
    Ok(NodeSpec {
        inputs: ports(spec.inputs, "input")?,
        outputs,
        config_schema,
        capabilities,
        uses,
    })
}

/// `MAJOR.MINOR.PATCH` as numbers.
pub(crate) fn semver_parts(v: &str) -> Option<[u64; 3]> {
    let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
    let parts = [it.next()??, it.next()??, it.next()??];
    if it.next().is_some() {
        return None;
    }
    Some(parts)
}
