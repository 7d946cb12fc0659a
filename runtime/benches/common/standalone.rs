//! A re-implementation of the host's per-call path on a bench-owned
//! `wasmtime::Engine`, so each phase can be timed and each engine knob
//! varied. [`Knobs::default`] copies `Host::new` and
//! `LoadedComponent::new_store`/`run` (runtime/src/host); keep them in
//! sync when those change.
//!
//! One difference: the `weft:node/*` host imports (log, emit, capabilities)
//! are linked through the same generated bindings but implemented here as
//! no-ops / `denied`, since the runtime's store state is private. Linking
//! and instantiation cost the same; the benchmarked nodes never call them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weft_editor_protocol::events::LogSource;
use weft_runtime::host::bindings::weft::node as wit;
use weft_runtime::host::bindings::{Invocation, Node, NodePre, PortValue};
use weft_runtime::host::state::LogPipe;

const MIB: usize = 1024 * 1024;

/// The engine settings varied by the instantiation benchmark. The default
/// is what `Host::new` uses with `HostConfig::default()`.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Pooling allocator (`true`) or on-demand allocation.
    pub pooling: bool,
    /// `HostConfig::max_instances`.
    pub max_instances: u32,
    /// Largest linear memory (`max(memory_limit, max_memory_limit)`).
    pub max_memory: usize,
    pub memory_init_cow: bool,
    pub linear_memory_keep_resident: usize,
    pub table_keep_resident: usize,
    /// `None`: wasmtime's default (100).
    pub max_unused_warm_slots: Option<u32>,
    /// `None`: wasmtime's default (2 MiB).
    pub async_stack_size: Option<usize>,
    /// `None`: wasmtime's default (512 KiB).
    pub max_wasm_stack: Option<usize>,
    /// Linux ≥ 6.7: reset only the dirty pages of a slot.
    pub pagemap_scan: bool,
    /// `None`: wasmtime's default (1).
    pub decommit_batch_size: Option<usize>,
    /// `Some(tick)`: epoch interruption with a ticker thread, as the host.
    pub epoch_tick: Option<Duration>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            pooling: true,
            max_instances: 1000,
            max_memory: 1024 * MIB,
            memory_init_cow: true,
            linear_memory_keep_resident: 64 * 1024,
            table_keep_resident: 16 * 1024,
            max_unused_warm_slots: None,
            async_stack_size: None,
            max_wasm_stack: None,
            pagemap_scan: false,
            decommit_batch_size: None,
            epoch_tick: Some(Duration::from_millis(1)),
        }
    }
}

impl Knobs {
    /// The settings `Host::new` uses today: the defaults above (the
    /// settings before the measurements in BENCHMARKS.md section 5) plus
    /// `pagemap_scan` and a 1 MiB `linear_memory_keep_resident`.
    pub fn host() -> Knobs {
        Knobs {
            pagemap_scan: true,
            linear_memory_keep_resident: 1024 * 1024,
            ..Knobs::default()
        }
    }

    /// The `wasmtime::Config` for these knobs (mirrors `Host::new`).
    pub fn config(&self) -> Config {
        let mut wasm = Config::new();
        if self.pooling {
            let n = self.max_instances;
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(4))
                .total_memories(n.saturating_mul(2))
                .total_tables(n.saturating_mul(4))
                .total_stacks(n)
                .max_memories_per_component(2)
                .max_tables_per_component(8)
                .max_core_instances_per_component(16)
                .max_memory_size(self.max_memory)
                .linear_memory_keep_resident(self.linear_memory_keep_resident)
                .table_keep_resident(self.table_keep_resident);
            if let Some(slots) = self.max_unused_warm_slots {
                pool.max_unused_warm_slots(slots);
            }
            if self.pagemap_scan {
                pool.pagemap_scan(Enabled::Auto);
            }
            if let Some(batch) = self.decommit_batch_size {
                pool.decommit_batch_size(batch);
            }
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        } else {
            wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        }
        wasm.epoch_interruption(self.epoch_tick.is_some())
            .memory_init_cow(self.memory_init_cow)
            .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
        if let Some(size) = self.max_wasm_stack {
            wasm.max_wasm_stack(size);
        }
        if let Some(size) = self.async_stack_size {
            wasm.async_stack_size(size);
        }
        wasm
    }
}

/// Per-call store data: what `NodeState` holds that matters for cost.
pub struct BenchState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    deadline: Instant,
    deadline_hit: bool,
    stderr_tail: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WasiView for BenchState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn denied() -> wit::types::CapabilityError {
    wit::types::CapabilityError::Denied("not in benchmarks".into())
}

impl wit::types::Host for BenchState {}

impl wit::host::Host for BenchState {
    async fn log(&mut self, _level: wit::types::LogLevel, _message: String) {}

    async fn emit(&mut self, _port: String, _value: String) {}
}

impl wit::http::Host for BenchState {
    async fn send(
        &mut self,
        _req: wit::http::Request,
    ) -> Result<wit::http::Response, wit::types::CapabilityError> {
        Err(denied())
    }
}

impl wit::llm::Host for BenchState {
    async fn chat(
        &mut self,
        _req: wit::llm::ChatRequest,
    ) -> Result<wit::llm::ChatResponse, wit::types::CapabilityError> {
        Err(denied())
    }
}

impl wit::embeddings::Host for BenchState {
    async fn embed(
        &mut self,
        _req: wit::embeddings::EmbedRequest,
    ) -> Result<wit::embeddings::EmbedResponse, wit::types::CapabilityError> {
        Err(denied())
    }
}

impl wit::vectors::Host for BenchState {
    async fn upsert(
        &mut self,
        _collection: String,
        _records: Vec<wit::vectors::VectorRecord>,
    ) -> Result<(), wit::types::CapabilityError> {
        Err(denied())
    }

    async fn search(
        &mut self,
        _req: wit::vectors::SearchRequest,
    ) -> Result<Vec<wit::vectors::Match>, wit::types::CapabilityError> {
        Err(denied())
    }
}

impl wit::secrets::Host for BenchState {
    async fn get(&mut self, _name: String) -> Result<String, wit::types::CapabilityError> {
        Err(denied())
    }
}

/// The same checks as the host's `MemoryLimiter`.
pub struct Limiter {
    max_bytes: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_bytes)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// An engine built from [`Knobs`], its linker, one linked component and
/// (when epochs are on) a ticker thread like the host's.
pub struct Bench {
    pub engine: Engine,
    pub pre: NodePre<BenchState>,
    pub compile_time: Duration,
    stop: Arc<AtomicBool>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Bench {
    /// Builds the engine, compiles `wasm` and links it.
    pub fn new(knobs: &Knobs, wasm: &[u8]) -> wasmtime::Result<Bench> {
        let engine = Engine::new(&knobs.config())?;
        let started = Instant::now();
        let component = Component::new(&engine, wasm)?;
        let compile_time = started.elapsed();
        let mut linker: Linker<BenchState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Node::add_to_linker::<BenchState, HasSelf<BenchState>>(&mut linker, |s| s)?;
        let pre = NodePre::new(linker.instantiate_pre(&component)?)?;

        let stop = Arc::new(AtomicBool::new(false));
        if let Some(tick) = knobs.epoch_tick {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("bench-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(wasmtime::Error::from)?;
        }
        Ok(Bench {
            engine,
            pre,
            compile_time,
            stop,
        })
    }

    /// The WASI context as `new_store` builds it (nothing granted, stdout
    /// and stderr to log pipes).
    pub fn wasi(&self) -> (WasiCtx, Arc<std::sync::Mutex<Vec<String>>>) {
        let stderr_tail = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(LogPipe::new(None, LogSource::Stdout, None))
            .stderr(LogPipe::new(
                None,
                LogSource::Stderr,
                Some(stderr_tail.clone()),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        (wasi.build(), stderr_tail)
    }

    /// A store as `new_store` builds it, around a ready WASI context.
    pub fn store(
        &self,
        wasi: WasiCtx,
        stderr_tail: Arc<std::sync::Mutex<Vec<String>>>,
    ) -> Store<BenchState> {
        let state = BenchState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                max_bytes: 64 * MIB,
            },
            deadline: Instant::now() + Duration::from_secs(30),
            deadline_hit: false,
            stderr_tail,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if Instant::now() >= state.deadline {
                state.deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// One node call, timed phase by phase.
    pub async fn call(&self, inputs: &[(String, String)], config: &str) -> Phases {
        let t0 = Instant::now();
        let (wasi, tail) = self.wasi();
        let t1 = Instant::now();
        let mut store = self.store(wasi, tail);
        let invocation = Invocation {
            node_id: "n".to_string(),
            config: config.to_string(),
            attempt: 1,
        };
        let inputs: Vec<PortValue> = inputs
            .iter()
            .map(|(port, value)| PortValue {
                port: port.clone(),
                value: value.clone(),
            })
            .collect();
        let t2 = Instant::now();
        let node = self.pre.instantiate_async(&mut store).await;
        let t3 = Instant::now();
        let ok = match node {
            Ok(node) => matches!(
                node.call_run(&mut store, &invocation, &inputs).await,
                Ok(Ok(_))
            ),
            Err(_) => false,
        };
        let t4 = Instant::now();
        drop(store);
        let t5 = Instant::now();
        Phases {
            wasi: t1 - t0,
            store: t2 - t1,
            instantiate: t3 - t2,
            call: t4 - t3,
            drop: t5 - t4,
            total: t5 - t0,
            ok,
        }
    }
}

impl Bench {
    /// One call; the node's outputs or why it failed.
    pub async fn check(
        &self,
        inputs: &[(String, String)],
        config: &str,
    ) -> Result<Vec<(String, String)>, String> {
        let (wasi, tail) = self.wasi();
        let mut store = self.store(wasi, tail);
        let invocation = Invocation {
            node_id: "n".to_string(),
            config: config.to_string(),
            attempt: 1,
        };
        let inputs: Vec<PortValue> = inputs
            .iter()
            .map(|(port, value)| PortValue {
                port: port.clone(),
                value: value.clone(),
            })
            .collect();
        let node = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("instantiation failed: {e:#}"))?;
        match node.call_run(&mut store, &invocation, &inputs).await {
            Ok(Ok(outputs)) => Ok(outputs.into_iter().map(|p| (p.port, p.value)).collect()),
            Ok(Err(e)) => Err(format!("the node failed: {} ({})", e.message, e.code)),
            Err(e) => Err(format!(
                "the call trapped: {e:#}; stderr: {:?}",
                store.data().stderr_tail
            )),
        }
    }

    /// `k` calls at once: `k` stores and instances live together (distinct
    /// pool slots), then all called, then all dropped. Returns the time per
    /// call, or `None` if a call failed.
    pub async fn burst(
        &self,
        k: usize,
        inputs: &[(String, String)],
        config: &str,
    ) -> Option<Duration> {
        let invocation = Invocation {
            node_id: "n".to_string(),
            config: config.to_string(),
            attempt: 1,
        };
        let inputs: Vec<PortValue> = inputs
            .iter()
            .map(|(port, value)| PortValue {
                port: port.clone(),
                value: value.clone(),
            })
            .collect();
        let started = Instant::now();
        let mut stores: Vec<Store<BenchState>> = (0..k)
            .map(|_| {
                let (wasi, tail) = self.wasi();
                self.store(wasi, tail)
            })
            .collect();
        let mut nodes = Vec::with_capacity(k);
        for store in stores.iter_mut() {
            nodes.push(self.pre.instantiate_async(store).await.ok()?);
        }
        for (node, store) in nodes.iter().zip(stores.iter_mut()) {
            node.call_run(store, &invocation, &inputs)
                .await
                .ok()?
                .ok()?;
        }
        drop(nodes);
        drop(stores);
        Some(started.elapsed() / k.max(1) as u32)
    }
}

/// Where one call's time went.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    /// `WasiCtxBuilder` with the log pipes, `build()`.
    pub wasi: Duration,
    /// `Store::new`, limiter, epoch callback, the WIT argument records.
    pub store: Duration,
    /// `NodePre::instantiate_async`.
    pub instantiate: Duration,
    /// `call_run`, including the guest's JSON decoding and encoding.
    pub call: Duration,
    /// Dropping the store: the instance goes back to the pool.
    pub drop: Duration,
    pub total: Duration,
    /// Whether the call returned outputs.
    pub ok: bool,
}
