//! The `vectors` capability on both backends: one suite of checks, written
//! once and run on the embedded store (sqlite-vec, in a temporary
//! directory) and on pgvector (a fresh schema per test, dropped
//! afterwards), against the [`VectorStore`] trait and through the real
//! `vector.upsert` / `vector.search` nodes.
//!
//! pgvector must be running: start it with `bash tests/testbeds.sh start`
//! and `eval "$(bash tests/testbeds.sh env)"`. Without
//! `WEFT_TEST_PGVECTOR_URL`, or with nothing listening there, the
//! `pgvector::*` tests fail (they never skip).
//!
//! Layout: this file holds the harness ([`Bed`], one per test and backend)
//! and the setup tests; `store.rs` the trait-level checks, `flows.rs` the
//! checks through the nodes; `suite!` runs both on each backend.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod flows;
mod store;

use flows::*;
use store::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value, json};
use sqlx::Connection;
use weft_editor_protocol::events::RunStatus;
use weft_runtime::capabilities::Services;
use weft_runtime::capabilities::vectors::{
    self, Match, SearchRequest, VectorConfig, VectorError, VectorRecord, VectorStore,
};
use weft_runtime::host::HostConfig;
use weft_runtime::{Engine, EngineConfig};

const HOW: &str =
    "start it with `bash tests/testbeds.sh start` and `eval \"$(bash tests/testbeds.sh env)\"`";

/// The pgvector server's URL; fails (never skips) when it is not up.
fn pgvector_url() -> String {
    let url = std::env::var("WEFT_TEST_PGVECTOR_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_PGVECTOR_URL is not set: PostgreSQL with pgvector is needed; {HOW}")
    });
    reachable(&url, "PostgreSQL with pgvector");
    url
}

/// Panics with instructions unless something listens at `url`'s host:port.
fn reachable(url: &str, what: &str) {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
    let addr = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    );
    if std::net::TcpStream::connect(&addr).is_err() {
        panic!(
            "{what} at {} is not reachable; {HOW}",
            vectors::redact_url(url)
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Pgvector,
}

/// One test's store and where it lives; dropping it removes everything.
struct Bed {
    store: Arc<dyn VectorStore>,
    config: VectorConfig,
    _cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(#[allow(dead_code)] SchemaGuard),
}

/// Drops a test's PostgreSQL schema (and everything in it) when dropped,
/// also when the test panics.
struct SchemaGuard {
    admin_url: String,
    schema: String,
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

impl Bed {
    async fn new(backend: Backend) -> Bed {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let config = VectorConfig::from_url(&format!(
                    "sqlite:{}",
                    dir.path().join("weft.db").display()
                ))
                .unwrap();
                Bed {
                    store: vectors::connect(&config).await.unwrap(),
                    config,
                    _cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Pgvector => {
                let admin_url = pgvector_url();
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos();
                let schema = format!(
                    "weft_test_{}_{}_{nanos}",
                    std::process::id(),
                    SCHEMAS.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}; {HOW}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let sep = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}%2Cpublic");
                let guard = SchemaGuard { admin_url, schema };
                let config = VectorConfig::from_url(&url).unwrap();
                Bed {
                    store: vectors::connect(&config).await.unwrap(),
                    config,
                    _cleanup: Cleanup::Schema(guard),
                }
            }
        }
    }

    /// A second, independent store on the same database.
    async fn reopen(&self) -> Arc<dyn VectorStore> {
        vectors::connect(&self.config).await.unwrap()
    }

    /// An engine whose `vectors` capability is this store.
    async fn engine(&self) -> Engine {
        Engine::new(EngineConfig {
            host: HostConfig {
                cache_dir: Some(common::cache_dir()),
                ..HostConfig::default()
            },
            services: Services {
                vectors: self.store.clone(),
                ..Services::default()
            },
            ..EngineConfig::default()
        })
        .await
        .expect("engine")
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        {
            let (url, schema) = (self.admin_url.clone(), self.schema.clone());
            // Drop may run inside the test's runtime: use a thread of its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&url).await?;
                    // A lock held by a leaked transaction fails the test
                    // instead of hanging it.
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "SET lock_timeout = '30s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
                panic!("could not drop the test schema: {dropped:?}");
            }
        }
    }
}

fn rec(id: &str, vector: &[f32], text: &str, metadata: Value) -> VectorRecord {
    VectorRecord {
        id: id.into(),
        vector: vector.to_vec(),
        text: text.into(),
        metadata: metadata.as_object().cloned().unwrap_or_default(),
    }
}

fn req(collection: &str, vector: &[f32], top_k: u32) -> SearchRequest {
    SearchRequest {
        collection: collection.into(),
        vector: vector.to_vec(),
        top_k,
        filter: Map::new(),
        min_score: None,
    }
}

fn with_filter(mut request: SearchRequest, filter: Value) -> SearchRequest {
    request.filter = filter.as_object().cloned().unwrap();
    request
}

fn ids(matches: &[Match]) -> Vec<&str> {
    matches.iter().map(|m| m.id.as_str()).collect()
}

fn invalid(e: VectorError) -> String {
    match e {
        VectorError::Invalid(m) => m,
        other => panic!("expected `invalid`, got {other:?}"),
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

/// Runs every check above on both backends: `sqlite::NAME` and
/// `pgvector::NAME`.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod pgvector {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Pgvector).await
                }
            )*
        }
    };
}

suite!(
    dimension_mismatch,
    missing_collection,
    invalid_requests,
    upsert_replaces,
    cosine_order_and_ties,
    min_score,
    top_k,
    filters,
    filter_does_not_starve_top_k,
    concurrent_first_upserts,
    ungranted_collection,
    flow_upsert_then_search,
    flow_errors,
);

// ------------------------------------------------ configuration and setup

#[tokio::test]
async fn bad_urls_are_clear_errors_without_passwords() {
    let e = VectorConfig::from_url("mysql://root:hunter2@127.0.0.1/db").unwrap_err();
    assert!(matches!(e, VectorError::Invalid(_)));
    let m = e.to_string();
    assert!(
        m.contains("mysql://root:***@127.0.0.1/db") && !m.contains("hunter2"),
        "{m}"
    );

    // Nothing listens on port 1.
    let config = VectorConfig::from_url("postgres://postgres:hunter2@127.0.0.1:1/db").unwrap();
    let e = vectors::connect(&config).await.unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, VectorError::Failed(_)), "{e:?}");
    assert!(
        m.contains("postgres://postgres:***@127.0.0.1:1/db") && !m.contains("hunter2"),
        "{m}"
    );

    // Through a lazily opened store, the node's error names it too.
    let lazy = vectors::lazy(config);
    let engine = Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(common::cache_dir()),
            ..HostConfig::default()
        },
        services: Services {
            vectors: lazy,
            ..Services::default()
        },
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "*", json!({})),
        json!({"vector": [1, 0]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.failed", "{error:?}");
    assert!(
        error
            .message
            .contains("postgres://postgres:***@127.0.0.1:1/db")
            && !error.message.contains("hunter2"),
        "{error:?}"
    );
}

#[tokio::test]
async fn postgres_without_pgvector_is_a_clear_error() {
    let url = std::env::var("WEFT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("WEFT_TEST_POSTGRES_URL is not set: the machine's PostgreSQL (without pgvector) is needed; {HOW}")
    });
    reachable(&url, "the machine's PostgreSQL");
    let e = vectors::connect(&VectorConfig::from_url(&url).unwrap())
        .await
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("pgvector") && m.contains(&vectors::redact_url(&url)),
        "{m}"
    );
}

#[tokio::test]
async fn the_embedded_store_opens_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/weft.db");
    let store = vectors::lazy(VectorConfig::Sqlite { path: path.clone() });
    // Bad input is refused without opening anything.
    assert!(store.search(&req("bad name", &[1.0], 1)).await.is_err());
    assert!(!path.parent().unwrap().exists());
    store
        .upsert("docs", &[rec("a", &[1.0], "", json!({}))])
        .await
        .unwrap();
    assert!(path.exists(), "the directory and file are created");
    assert_eq!(
        ids(&store.search(&req("docs", &[1.0], 1)).await.unwrap()),
        ["a"]
    );
}

#[tokio::test]
async fn without_a_store_calls_fail_clearly() {
    let engine = Engine::new(EngineConfig {
        host: HostConfig {
            cache_dir: Some(common::cache_dir()),
            ..HostConfig::default()
        },
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({})),
        json!({"vector": [1, 0]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.failed", "{error:?}");
    assert!(error.message.contains("no store configured"), "{error:?}");
}
