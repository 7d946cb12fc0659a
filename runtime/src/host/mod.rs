//! The wasmtime host: one [`Host`] per process owns the engine (pooling
//! allocator, epoch interruption), the linker with WASI (nothing granted)
//! and Weft's host interfaces, and the on-disk component cache.
//!
//! ## Layout
//! - [`bindings`]: `bindgen!` for `nodes/wit/node.wit`, the `host` interface.
//! - [`state`]: per-call store data, memory limiter, stdout/stderr → logs.
//! - [`cache`]: compiled components on disk, keyed by engine and content.
//! - [`component`]: a loaded node component and its `describe`/`run` calls.

pub mod bindings;
mod cache;
pub(crate) mod component;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::CacheOutcome;
pub use component::{LoadedComponent, NodeCall, NodeFailure, NodeOutputs, NodeRun};
use state::NodeState;

/// One MiB.
const MIB: u64 = 1024 * 1024;

/// How the host is set up. `Default` gives the production defaults.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Default linear-memory cap per node call, in bytes (64 MiB).
    pub memory_limit: u64,
    /// The largest cap a node's policy may ask for, in bytes (1 GiB).
    pub max_memory_limit: u64,
    /// How many node calls may be live at once in this process; the
    /// pooling allocator reserves slots for this many (1000).
    pub max_instances: u32,
    /// Epoch tick: how often running guests are checked against their
    /// deadline and yield to the scheduler (1 ms).
    pub epoch_tick: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache_dir: default_cache_dir(),
            memory_limit: 64 * MIB,
            max_memory_limit: 1024 * MIB,
            max_instances: 1000,
            epoch_tick: Duration::from_millis(1),
        }
    }
}

/// `$WEFT_CACHE_DIR`, else `$XDG_CACHE_HOME/weft/components`, else
/// `~/.cache/weft/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WEFT_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("weft").join("components"))
}

/// A wasmtime error as one line: the first line of each cause, joined.
/// (Some causes Debug-print whole byte arrays over many lines.)
pub(crate) fn one_line(e: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or_default().trim();
        let first: String = first.chars().take(200).collect();
        if !first.is_empty() && !parts.iter().any(|p| p.contains(&first)) {
            parts.push(first);
        }
    }
    parts.join(": ")
}

/// Errors setting up the host or loading a component.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error("`{name}` is not a usable Weft node component: {message}")]
    InvalidComponent { name: String, message: String },
    #[error("node component `{name}` failed in `{call}`: {message}")]
    Call {
        name: String,
        call: &'static str,
        message: String,
    },
}

/// The process-wide WebAssembly host.
pub struct Host {
    engine: Engine,
    services: Arc<crate::capabilities::Services>,
    linker: Linker<NodeState>,
    config: HostConfig,
    ticker_stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.config)
            .finish()
    }
}

impl Host {
    /// A host with the default capability providers (secrets from the
    /// environment, default HTTP limits).
    pub fn new(config: HostConfig) -> Result<Arc<Host>, HostError> {
        Host::with_services(config, crate::capabilities::Services::default())
    }

    pub fn with_services(
        config: HostConfig,
        services: crate::capabilities::Services,
    ) -> Result<Arc<Host>, HostError> {
        let engine_error = |e: wasmtime::Error| HostError::Engine(one_line(&e));
        let max_memory = usize::try_from(config.max_memory_limit.max(config.memory_limit))
            .map_err(|_| HostError::Engine("memory limit does not fit this platform".into()))?;

        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances.saturating_mul(2))
            .total_tables(config.max_instances.saturating_mul(4))
            .total_stacks(config.max_instances)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(max_memory)
            // Reset only the pages a call dirtied (Linux >= 6.7; silently
            // off elsewhere) and keep them resident, so the next call does
            // not page-fault them back in: 23 -> 9 us per trivial node call
            // (BENCHMARKS.md, section 5).
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(1024 * 1024)
            .table_keep_resident(16 * 1024);

        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
        let engine = Engine::new(&wasm).map_err(engine_error)?;

        let mut linker: Linker<NodeState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        bindings::Node::add_to_linker::<NodeState, HasSelf<NodeState>>(&mut linker, |s| s)
            .map_err(engine_error)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("weft-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| HostError::Engine(format!("cannot start the epoch thread: {e}")))?;
        }

        Ok(Arc::new(Host {
            engine,
            services: Arc::new(services),
            linker,
            config,
            ticker_stop,
        }))
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    pub fn services(&self) -> &Arc<crate::capabilities::Services> {
        &self.services
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from the cache) a component, links it, and reads
    /// its `info`. `name` is used in errors (a file path or a built-in name).
    pub async fn load(
        self: &Arc<Self>,
        name: &str,
        bytes: &[u8],
    ) -> Result<LoadedComponent, HostError> {
        self.load_hashed(name, bytes, None).await
    }

    /// [`Host::load`] of bytes whose hex SHA-256 is already known (`hash`;
    /// hashed here when `None`): a cache hit then never reads `bytes`.
    pub async fn load_hashed(
        self: &Arc<Self>,
        name: &str,
        bytes: &[u8],
        hash: Option<&str>,
    ) -> Result<LoadedComponent, HostError> {
        let cache_dir = self.config.cache_dir.as_deref();
        let (component, hash, outcome) =
            cache::compile_cached(&self.engine, cache_dir, name, bytes, hash)?;
        LoadedComponent::link(self.clone(), name, component, hash, outcome).await
    }

    /// Loads a built-in component (bytes that live as long as the process,
    /// hashed at build time). With its compiled form and info in the cache
    /// it is registered from the info alone and its code read on first
    /// use; otherwise it is loaded now and its info written for next time.
    pub async fn load_builtin(
        self: &Arc<Self>,
        name: &str,
        bytes: &'static [u8],
        hash: &str,
    ) -> Result<LoadedComponent, HostError> {
        let Some(dir) = self.config.cache_dir.as_deref() else {
            return self.load_hashed(name, bytes, Some(hash)).await;
        };
        if let Some(info) = cache::read_info(&self.engine, dir, hash) {
            match LoadedComponent::deferred(self.clone(), name, info, bytes, hash.to_string()) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(component = name, error = %e, "discarding a cached component's info")
                }
            }
        }
        let component = self.load_hashed(name, bytes, Some(hash)).await?;
        if component.cache != CacheOutcome::Uncached {
            cache::write_info(&self.engine, dir, hash, &component.cached_info());
        }
        Ok(component)
    }

    pub(crate) fn linker(&self) -> &Linker<NodeState> {
        &self.linker
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
