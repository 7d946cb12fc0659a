//! `weft serve`: the management REST API and the editor websocket, on axum.
//!
//! ## Layout
//! - this module: [`ServerConfig`], the shared [`AppState`], [`app`] (the
//!   axum `Router`, also used in-process by tests) and [`start`] (store,
//!   recovery, admin token, listener, graceful shutdown).
//! - [`routes`]: one module per resource (projects, flows, runs, secrets,
//!   tokens, nodes, health); [`openapi`]: `/v1/openapi.json`.
//! - [`auth`]: bearer tokens and scopes; [`error`]: the error body;
//!   [`dbguard`]: fast 503s while the database is away.
//! - [`runner`]: starting, storing, cancelling and draining runs;
//!   [`journal`]: run-history writes, many runs per transaction;
//!   [`launch`]: editor/REST requests to runs (pins, start-from, stop-at).
//! - [`hub`]: live runs' event logs; [`editor`]: the websocket session;
//!   [`background`]: the editor's lower-priority runtime.
//! - [`metrics`]: the `/metrics` counters.

pub mod auth;
pub mod background;
pub mod dbguard;
pub mod editor;
pub mod error;
pub mod gateway;
pub mod hub;
pub mod journal;
pub mod launch;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod runner;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weft_runtime::Engine;

use crate::store::{RetentionPolicy, Store};
use hub::Hub;
use metrics::Metrics;
use runner::Runner;

/// Settings of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Output previews in events are cut above this many bytes (the full
    /// value is served under `/v1/runs/{run}/nodes/{node}/outputs/{port}`).
    pub preview_bytes: usize,
    /// The largest websocket frame accepted; a larger one closes the
    /// connection (1009).
    pub max_frame_bytes: usize,
    /// Events queued per websocket connection.
    pub ws_queue: usize,
    /// How long a subscription waits on a full queue before the client is
    /// told it `lagged` and the subscription is dropped.
    pub ws_stall: Duration,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// How long SIGTERM waits for running runs before cancelling them.
    pub drain: Duration,
    /// Run history kept per flow.
    pub retention: RetentionPolicy,
    /// Which hosts serve published flows ([`gateway`]).
    pub hosts: weft_router::HostConfig,
    /// How often a mirror route store (DynamoDB) is brought up to date with
    /// the publications ([`gateway::Gateway::reconcile`]).
    pub route_reconcile: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            preview_bytes: 4096,
            max_frame_bytes: 1 << 20,
            ws_queue: 1024,
            ws_stall: Duration::from_secs(5),
            max_body_bytes: 4 << 20,
            drain: Duration::from_secs(30),
            retention: RetentionPolicy::default(),
            route_reconcile: Duration::from_secs(60),
            hosts: weft_router::HostConfig {
                base_domains: vec!["localhost".into()],
                ..weft_router::HostConfig::default()
            },
        }
    }
}

/// What every handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub runner: Runner,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ServerConfig>,
    /// Cancelled once runs are drained on shutdown: websockets close.
    pub closing: CancellationToken,
    /// Fails requests fast while the database is away.
    pub db_guard: Arc<dbguard::DbGuard>,
    /// Published flows answering HTTP.
    pub gateway: Arc<gateway::Gateway>,
    /// Run editor websocket sessions on the lower-priority runtime of
    /// [`background`] (made at the first session), not on the caller's.
    pub editor_background: bool,
    /// Serve the management API and the editor websocket; without it, only
    /// published flows and the probes (a `weft router` replica).
    pub api: bool,
}

impl AppState {
    /// # Panics
    /// Never for the default host configuration; [`AppState::try_new`]
    /// reports a bad one.
    pub fn new(engine: Engine, store: Store, config: ServerConfig) -> AppState {
        match AppState::try_new(engine, store, config) {
            Ok(state) => state,
            Err(e) => panic!("bad host configuration: {e}"),
        }
    }

    /// The state, or why the host configuration is unusable.
    pub fn try_new(
        engine: Engine,
        store: Store,
        config: ServerConfig,
    ) -> Result<AppState, weft_router::ConfigError> {
        let routes: Arc<dyn weft_router::RouteStore> = Arc::new(store.clone());
        let gateway = Arc::new(gateway::Gateway::new(config.hosts.clone(), routes)?);
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::default());
        let runner = Runner::new(
            engine,
            store.clone(),
            hub.clone(),
            metrics.clone(),
            config.preview_bytes,
            config.retention,
        );
        Ok(AppState {
            store,
            runner,
            hub,
            metrics,
            config: Arc::new(config),
            closing: CancellationToken::new(),
            db_guard: Arc::new(dbguard::DbGuard::default()),
            editor_background: false,
            api: true,
            gateway,
        })
    }

    /// Reads routes from `routes` instead of the database's publications
    /// (a DynamoDB route table, say).
    pub fn with_route_store(
        mut self,
        routes: Arc<dyn weft_router::RouteStore>,
    ) -> Result<AppState, weft_router::ConfigError> {
        self.gateway = Arc::new(gateway::Gateway::new(self.config.hosts.clone(), routes)?);
        Ok(self)
    }

    /// Serves published flows and the probes only (`weft router`).
    pub fn router_only(mut self) -> AppState {
        self.api = false;
        self
    }
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let surface = if state.api {
        routes::router()
            .route("/v1/editor", axum::routing::get(editor::upgrade))
            .route("/v1/openapi.json", axum::routing::get(openapi::document))
            .fallback(not_found)
    } else {
        routes::probes().fallback(router_only)
    };
    surface
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gateway::dispatch,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            dbguard::guard,
        ))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::not_found(format!("no API route `{}`", uri.path()))
}

async fn router_only(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::not_found(format!(
        "no route `{}`: this is a router replica (`weft router`), which serves published \
         flows only; the management API is served by `weft serve`",
        uri.path()
    ))
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains runs
/// (up to [`ServerConfig::drain`]) and closes editor websockets (1001).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let runner = state.runner.clone();
    let closing = state.closing.clone();
    // Age limits apply to idle flows too.
    if !state.config.retention.is_unlimited() {
        let (store, policy, stop) = (
            state.store.clone(),
            state.config.retention,
            state.closing.clone(),
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    () = stop.cancelled() => break,
                }
                if let Err(e) = store.prune_all(&policy).await {
                    tracing::warn!(error = %e, "pruning run history failed");
                }
            }
        });
    }
    // Runs left `running` by processes that stopped (replicas that crashed).
    if let Some(instance) = state.runner.instance() {
        let (store, stop) = (state.store.clone(), state.closing.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(crate::store::instances::SWEEP);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    () = stop.cancelled() => break,
                }
                if let Err(e) = instance.keep().await {
                    tracing::warn!(error = %e, "keeping this process's instance lock");
                }
                if let Err(e) = store.recover_orphans(&instance).await {
                    tracing::warn!(error = %e, "recovering runs of stopped processes");
                }
            }
        });
    }
    // A mirror route store (DynamoDB) that missed a publish (it was
    // unreachable then) is repaired by the next pass, not only at the next
    // start or publish of that stage. Only a server that publishes does it.
    if state.api && state.gateway.is_mirrored() {
        let (gateway, store, stop, period) = (
            state.gateway.clone(),
            state.store.clone(),
            state.closing.clone(),
            state.config.route_reconcile,
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    () = stop.cancelled() => break,
                }
                match gateway.reconcile(&store).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(stages = n, "route store brought up to date"),
                    Err(e) => tracing::warn!(error = %e, "reconciling the route store"),
                }
            }
        });
    }
    // Route tables changed by other processes (replicas sharing the store).
    tokio::spawn(gateway::tables::watch(
        state.gateway.clone(),
        state.store.clone(),
        state.closing.clone(),
    ));
    let drain = state.config.drain;
    let metrics = state.metrics.clone();
    let router = app(state);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        let closing = closing.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: draining runs");
            runner.drain(drain).await;
            closing.cancel();
        }
    })
    .await;
    // axum does not wait for upgraded connections: let the editor sockets
    // send their close frames (1001) before the caller exits.
    if closing.is_cancelled() {
        let deadline = tokio::time::Instant::now() + WS_CLOSE_GRACE;
        while metrics.ws_open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    served
}

/// How long [`serve`] waits, after the drain, for editor websockets to
/// close.
const WS_CLOSE_GRACE: Duration = Duration::from_secs(2);
