//! `weft serve` in-process: the REST API through `oneshot` and the editor
//! websocket through a real listener with tokio-tungstenite. Every test
//! runs twice, on SQLite (a temporary file) and on PostgreSQL (a fresh
//! database on `WEFT_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, dropped afterwards); when
//! PostgreSQL is unreachable the PostgreSQL half fails saying how to start
//! it.
//!
//! Layout: this file holds the harness; `rest.rs`, `publish_routes.rs`,
//! `api_keys.rs`, `gateway.rs`, `gateway_modes.rs` and `editor.rs` the
//! tests.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api_keys;
mod editor;
mod gateway;
mod gateway_modes;
#[path = "../support/pg.rs"]
mod pg;
mod publish_routes;
mod rest;

use std::future::Future;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use weft::server::{AppState, ServerConfig, app};
use weft::store::{Scope, SecretKey, Store};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig};

/// One test's server state, its admin token, and what keeps its database.
#[allow(missing_debug_implementations)]
pub struct Bed {
    pub state: AppState,
    pub admin: String,
    _dir: Option<tempfile::TempDir>,
}

impl Bed {
    /// One request through the router; the JSON answer (or `null`).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let res = app(self.state.clone())
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// As admin.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(&self.admin.clone()), body)
            .await
    }

    /// A token with `scopes`.
    pub async fn token(&self, scopes: &[Scope]) -> String {
        self.state
            .store
            .create_token("test", scopes)
            .await
            .unwrap()
            .1
    }
}

async fn engine() -> Engine {
    engine_with(weft_runtime::capabilities::Services::default()).await
}

/// An engine with these services (LLM providers, say).
async fn engine_with(services: weft_runtime::capabilities::Services) -> Engine {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-component-cache");
    Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(cache),
            ..HostConfig::default()
        },
        test_guests: true,
        services,
        ..EngineConfig::default()
    })
    .await
    .expect("engine")
}

async fn bed(store: Store, config: ServerConfig, dir: Option<tempfile::TempDir>) -> Bed {
    bed_with(engine().await, store, config, dir).await
}

async fn bed_with(
    engine: Engine,
    store: Store,
    config: ServerConfig,
    dir: Option<tempfile::TempDir>,
) -> Bed {
    let store = store.with_secret_key(SecretKey::generate().unwrap());
    let (_, admin) = store.create_token("admin", &[Scope::Admin]).await.unwrap();
    Bed {
        state: AppState::new(engine, store, config),
        admin,
        _dir: dir,
    }
}

pub async fn on_sqlite<F, Fut>(config: ServerConfig, test: F)
where
    F: FnOnce(Bed) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("weft.db").display());
    let store = Store::open(&url).await.unwrap();
    test(bed(store, config, Some(dir)).await).await;
}

pub async fn on_postgres<F, Fut>(config: ServerConfig, test: F)
where
    F: FnOnce(Bed) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    pg::with_database("weft_s", |name| async move {
        let store = Store::open(&pg::url_for(&name)).await.unwrap();
        test(bed(store, config, None).await).await
    })
    .await
}

/// Runs each listed `async fn(Bed)` on both databases (`name::sqlite`,
/// `name::postgres`), optionally with a [`ServerConfig`].
macro_rules! both {
    ($($module:ident :: $name:ident $(with $config:expr)?),* $(,)?) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn config() -> weft::server::ServerConfig {
                None$(.or(Some($config)))?.unwrap_or_default()
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::on_sqlite(config(), super::$module::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::on_postgres(config(), super::$module::$name).await
            }
        }
    )*};
}

both!(
    rest::auth_is_enforced,
    rest::projects_and_flow_versions,
    rest::invalid_flows_get_every_diagnostic,
    rest::publish_unpublish_and_rollback,
    publish_routes::publish_refuses_route_conflicts,
    api_keys::api_keys_over_rest,
    gateway::published_flows_answer_http,
    gateway_modes::stream_async_cors_and_head,
    rest::runs_sync_async_and_history,
    rest::secrets_are_write_only,
    rest::project_secrets_reach_runs_and_never_leak,
    rest::openapi_lists_every_route,
    rest::retention_keeps_the_newest_runs
        with weft::server::ServerConfig {
            retention: weft::store::RetentionPolicy { max_runs: Some(2), max_age: None },
            ..Default::default()
        },
    editor::handshake,
    editor::draft_run_streams_every_event_in_order,
    editor::reconnect_with_after_seq_has_no_gaps_or_duplicates,
    editor::bad_frames_get_errors_and_keep_the_connection,
    editor::oversize_frames_close_with_a_reason
        with weft::server::ServerConfig { max_frame_bytes: 4096, ..Default::default() },
    editor::pinned_start_from_and_stop_at,
    editor::flow_and_project_topics_follow_new_runs,
    editor::overlapping_subscriptions_send_each_event_once,
    editor::slow_clients_get_lagged_and_resync
        with weft::server::ServerConfig {
            ws_queue: 4,
            ws_stall: std::time::Duration::from_millis(200),
            ..Default::default()
        },
);
