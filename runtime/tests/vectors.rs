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

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

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

// ------------------------------------------------------------- the suite

async fn dimension_mismatch(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert("docs", &[rec("a", &[1.0, 0.0, 0.0], "", json!({}))])
        .await
        .unwrap();

    let m = invalid(
        s.upsert("docs", &[rec("b", &[1.0, 0.0, 0.0, 0.0], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(
        m.contains("`docs`") && m.contains("3 dimensions") && m.contains("has 4"),
        "{m}"
    );
    assert!(m.contains("`b`"), "names the record: {m}");

    let m = invalid(s.search(&req("docs", &[1.0, 0.0], 5)).await.unwrap_err());
    assert!(
        m.contains("`docs`") && m.contains("3 dimensions") && m.contains("has 2"),
        "{m}"
    );

    // Within one call.
    let m = invalid(
        s.upsert(
            "fresh",
            &[
                rec("x", &[1.0, 2.0], "", json!({})),
                rec("y", &[1.0], "", json!({})),
            ],
        )
        .await
        .unwrap_err(),
    );
    assert!(m.contains("`y`") && m.contains("1 dimensions"), "{m}");
    // ... which created nothing.
    assert!(matches!(
        s.search(&req("fresh", &[1.0, 2.0], 1)).await,
        Err(VectorError::NotFound(_))
    ));

    // The collection keeps its dimension for a new store on the same data.
    let again = bed.reopen().await;
    let m = invalid(
        again
            .upsert("docs", &[rec("c", &[1.0; 5], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("3 dimensions") && m.contains("has 5"), "{m}");
    again
        .upsert("docs", &[rec("c", &[0.0, 1.0, 0.0], "", json!({}))])
        .await
        .unwrap();
    assert_eq!(
        ids(&again
            .search(&req("docs", &[1.0, 0.0, 0.0], 5))
            .await
            .unwrap()),
        ["a", "c"]
    );
}

async fn missing_collection(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    match s.search(&req("nope", &[1.0], 3)).await {
        Err(VectorError::NotFound(m)) => assert!(m.contains("`nope`"), "{m}"),
        other => panic!("expected not-found, got {other:?}"),
    }
    // An empty upsert writes nothing and creates nothing.
    s.upsert("ghost", &[]).await.unwrap();
    assert!(matches!(
        s.search(&req("ghost", &[1.0], 3)).await,
        Err(VectorError::NotFound(_))
    ));
    // Names are case-sensitive: `Docs` is not `docs`.
    s.upsert("docs", &[rec("a", &[1.0], "", json!({}))])
        .await
        .unwrap();
    assert!(matches!(
        s.search(&req("Docs", &[1.0], 3)).await,
        Err(VectorError::NotFound(_))
    ));
    s.upsert("Docs", &[rec("A", &[1.0, 1.0], "", json!({}))])
        .await
        .unwrap();
    assert_eq!(
        ids(&s.search(&req("Docs", &[1.0, 1.0], 3)).await.unwrap()),
        ["A"]
    );
    assert_eq!(
        ids(&s.search(&req("docs", &[1.0], 3)).await.unwrap()),
        ["a"]
    );
}

async fn invalid_requests(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    let r = || rec("a", &[1.0, 0.0], "", json!({}));
    for name in [
        "",
        "a b",
        "x'; DROP TABLE weft_vector_collections; --",
        "é",
        &"x".repeat(65),
    ] {
        let m = invalid(s.upsert(name, &[r()]).await.unwrap_err());
        assert!(m.contains("not a valid collection name"), "{m}");
        let m = invalid(s.search(&req(name, &[1.0], 1)).await.unwrap_err());
        assert!(m.contains("not a valid collection name"), "{m}");
    }
    s.upsert(&"x".repeat(64), &[r()]).await.unwrap();
    s.upsert("with-dash_and_9", &[r()]).await.unwrap();

    let m = invalid(
        s.upsert("docs", &[rec("z", &[0.0, 0.0], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("all zeros") && m.contains("`z`"), "{m}");
    let m = invalid(
        s.upsert("docs", &[rec("n", &[1.0, f32::NAN], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("element 1"), "{m}");
    let m = invalid(
        s.upsert("docs", &[rec("", &[1.0], "", json!({}))])
            .await
            .unwrap_err(),
    );
    assert!(m.contains("empty id"), "{m}");
    let m = invalid(s.search(&req("docs", &[], 1)).await.unwrap_err());
    assert!(m.contains("empty"), "{m}");
    s.upsert("docs", &[r()]).await.unwrap();
    let m = invalid(s.search(&req("docs", &[0.0, 0.0], 1)).await.unwrap_err());
    assert!(m.contains("all zeros"), "{m}");
    let m = invalid(
        s.search(&with_filter(
            req("docs", &[1.0, 0.0], 1),
            json!({"tags": ["a"]}),
        ))
        .await
        .unwrap_err(),
    );
    assert!(m.contains("`tags`"), "{m}");
}

async fn upsert_replaces(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert(
        "docs",
        &[
            rec("a", &[1.0, 0.0], "old", json!({"v": 1, "gone": true})),
            rec("b", &[0.6, 0.8], "bee", json!({})),
        ],
    )
    .await
    .unwrap();
    s.upsert(
        "docs",
        &[rec(
            "a",
            &[0.0, 1.0],
            "new",
            json!({"z": 2, "a": [1, {"x": null}]}),
        )],
    )
    .await
    .unwrap();

    let found = s.search(&req("docs", &[0.0, 1.0], 10)).await.unwrap();
    assert_eq!(ids(&found), ["a", "b"], "still two records");
    let a = &found[0];
    assert!(close(a.score, 1.0), "{a:?}");
    assert_eq!(a.text, "new");
    assert_eq!(
        Value::Object(a.metadata.clone()),
        json!({"z": 2, "a": [1, {"x": null}]})
    );
    // Metadata comes back as written, key order included.
    assert_eq!(a.metadata.keys().collect::<Vec<_>>(), ["z", "a"]);
    // The old vector is gone: along it, `a` is now orthogonal.
    let found = s.search(&req("docs", &[1.0, 0.0], 10)).await.unwrap();
    assert_eq!(ids(&found), ["b", "a"]);
    assert!(close(found[1].score, 0.0), "{found:?}");

    // A repeated id within one call keeps the last record.
    s.upsert(
        "docs",
        &[
            rec("c", &[1.0, 0.0], "first", json!({})),
            rec("c", &[-1.0, 0.0], "last", json!({"n": 3})),
        ],
    )
    .await
    .unwrap();
    let found = s.search(&req("docs", &[-1.0, 0.0], 1)).await.unwrap();
    assert_eq!(
        (found[0].id.as_str(), found[0].text.as_str()),
        ("c", "last")
    );
    assert_eq!(Value::Object(found[0].metadata.clone()), json!({"n": 3}));
    assert_eq!(
        s.search(&req("docs", &[1.0, 0.0], 10)).await.unwrap().len(),
        3
    );
}

/// Unit-length and scaled copies of a few directions, for exact scores.
async fn directions(s: &Arc<dyn VectorStore>) {
    s.upsert(
        "dirs",
        &[
            rec("x", &[1.0, 0.0], "x", json!({})),
            rec("neg", &[-1.0, 0.0], "", json!({})),
            rec("y", &[0.0, 1.0], "", json!({})),
            rec("diag", &[1.0, 1.0], "", json!({})),
            rec("b-tie", &[2.0, 0.0], "", json!({})),
            rec("a-tie", &[3.0, 0.0], "", json!({})),
            rec("Z-tie", &[5.0, 0.0], "", json!({})),
        ],
    )
    .await
    .unwrap();
}

async fn cosine_order_and_ties(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    directions(s).await;
    let found = s.search(&req("dirs", &[1.0, 0.0], 10)).await.unwrap();
    // Same direction (score 1) first, ties by id in byte order.
    assert_eq!(
        ids(&found),
        ["Z-tie", "a-tie", "b-tie", "x", "diag", "y", "neg"]
    );
    let scores: Vec<f32> = found.iter().map(|m| m.score).collect();
    let expected = [
        1.0,
        1.0,
        1.0,
        1.0,
        std::f32::consts::FRAC_1_SQRT_2,
        0.0,
        -1.0,
    ];
    for (got, want) in scores.iter().zip(expected) {
        assert!(close(*got, want), "{scores:?}");
    }
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(found[3].text, "x");

    // A cut inside a tie keeps the smallest ids.
    let top2 = s.search(&req("dirs", &[1.0, 0.0], 2)).await.unwrap();
    assert_eq!(ids(&top2), ["Z-tie", "a-tie"]);
    let top1 = s.search(&req("dirs", &[7.0, 0.0], 1)).await.unwrap();
    assert_eq!(ids(&top1), ["Z-tie"]);
    // The magnitude of the query does not matter.
    let other = s.search(&req("dirs", &[0.0, 0.5], 2)).await.unwrap();
    assert_eq!(ids(&other), ["y", "diag"]);
}

async fn min_score(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    directions(s).await;
    let search = |min: f32| {
        let mut r = req("dirs", &[1.0, 0.0], 10);
        r.min_score = Some(min);
        async move { s.search(&r).await.unwrap() }
    };
    // `>=`: the orthogonal `y` (exactly 0) stays at 0.
    assert_eq!(
        ids(&search(0.0).await),
        ["Z-tie", "a-tie", "b-tie", "x", "diag", "y"]
    );
    assert_eq!(
        ids(&search(0.5).await),
        ["Z-tie", "a-tie", "b-tie", "x", "diag"]
    );
    assert_eq!(ids(&search(1.0).await), ["Z-tie", "a-tie", "b-tie", "x"]);
    assert!(search(1.5).await.is_empty());
    assert_eq!(search(-1.0).await.len(), 7);
    // With top-k: the cut applies to what passes.
    let mut r = req("dirs", &[0.0, 1.0], 2);
    r.min_score = Some(0.9);
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["y"]);
}

/// `n` records whose scores against `[1, 0]` fall as their number rises.
fn fan(n: usize, metadata: impl Fn(usize) -> Value) -> Vec<VectorRecord> {
    (0..n)
        .map(|i| {
            let angle = (i as f32) * std::f32::consts::PI / (n as f32 + 1.0);
            rec(
                &format!("r{i:03}"),
                &[angle.cos(), angle.sin(), 0.25],
                &format!("record {i}"),
                metadata(i),
            )
        })
        .collect()
}

async fn top_k(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert("fan", &fan(60, |_| json!({}))).await.unwrap();
    let q = [1.0, 0.0, 0.25];
    let found = s.search(&req("fan", &q, 5)).await.unwrap();
    assert_eq!(ids(&found), ["r000", "r001", "r002", "r003", "r004"]);
    assert!(close(found[0].score, 1.0));
    assert!(found.windows(2).all(|w| w[0].score > w[1].score));
    // More than pgvector's default `ef_search` (40).
    let found = s.search(&req("fan", &q, 50)).await.unwrap();
    let want: Vec<String> = (0..50).map(|i| format!("r{i:03}")).collect();
    assert_eq!(ids(&found), want);
    // More than there are.
    assert_eq!(s.search(&req("fan", &q, 1000)).await.unwrap().len(), 60);
    for bad in [0, 1001] {
        let m = invalid(s.search(&req("fan", &q, bad)).await.unwrap_err());
        assert!(m.contains("top-k"), "{m}");
    }
}

async fn filters(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    s.upsert(
        "f",
        &[
            rec(
                "en1",
                &[1.0, 0.0],
                "",
                json!({"lang": "en", "year": 2024, "draft": false}),
            ),
            rec(
                "en2",
                &[0.9, 0.1],
                "",
                json!({"lang": "en", "year": 2023.0, "draft": true}),
            ),
            rec(
                "fr1",
                &[0.8, 0.2],
                "",
                json!({"lang": "fr", "year": 2024.0, "draft": false}),
            ),
            rec(
                "one",
                &[0.7, 0.3],
                "",
                json!({"flag": 1, "n": "1", "we.ird \"key\"": "v"}),
            ),
            rec(
                "tru",
                &[0.6, 0.4],
                "",
                json!({"flag": true, "n": 1, "nested": {"lang": "en"}}),
            ),
            rec("bare", &[0.5, 0.5], "", json!({})),
        ],
    )
    .await
    .unwrap();
    let q = [1.0, 0.0];
    let search = |filter: Value| {
        let r = with_filter(req("f", &q, 10), filter);
        async move { s.search(&r).await.unwrap() }
    };
    assert_eq!(
        ids(&search(json!({})).await),
        ["en1", "en2", "fr1", "one", "tru", "bare"]
    );
    assert_eq!(ids(&search(json!({"lang": "en"})).await), ["en1", "en2"]);
    assert_eq!(
        ids(&search(json!({"lang": "en", "draft": false})).await),
        ["en1"]
    );
    // Numbers compare as numbers (2024 matches 2024.0), in either direction.
    assert_eq!(ids(&search(json!({"year": 2024})).await), ["en1", "fr1"]);
    assert_eq!(ids(&search(json!({"year": 2023})).await), ["en2"]);
    assert_eq!(ids(&search(json!({"year": 2024.0})).await), ["en1", "fr1"]);
    // Types matter: `true` is not `1`, the string "1" is not the number 1.
    assert_eq!(ids(&search(json!({"flag": true})).await), ["tru"]);
    assert_eq!(ids(&search(json!({"flag": 1})).await), ["one"]);
    assert_eq!(ids(&search(json!({"n": 1})).await), ["tru"]);
    assert_eq!(ids(&search(json!({"n": "1"})).await), ["one"]);
    assert_eq!(
        ids(&search(json!({"draft": "false"})).await),
        Vec::<&str>::new()
    );
    // Only top-level fields; any key.
    assert_eq!(
        ids(&search(json!({"lang": "de"})).await),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&search(json!({"missing": "x"})).await),
        Vec::<&str>::new()
    );
    assert_eq!(ids(&search(json!({"we.ird \"key\"": "v"})).await), ["one"]);
    // With min-score and top-k.
    let mut r = with_filter(req("f", &q, 1), json!({"lang": "en"}));
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["en1"]);
    r.top_k = 10;
    r.min_score = Some(0.999);
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["en1"]);
}

async fn filter_does_not_starve_top_k(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    // 50 records; only the 5 least similar to the query have group "rare".
    let records = fan(50, |i| {
        let group = if i >= 45 { "rare" } else { "common" };
        json!({"group": group, "i": i})
    });
    s.upsert("many", &records).await.unwrap();
    let q = [1.0, 0.0, 0.25];
    let r = with_filter(req("many", &q, 3), json!({"group": "rare"}));
    let found = s.search(&r).await.unwrap();
    assert_eq!(ids(&found), ["r045", "r046", "r047"]);
    assert!(found.iter().all(|m| m.metadata["group"] == "rare"));
    let r = with_filter(req("many", &q, 10), json!({"group": "rare"}));
    assert_eq!(s.search(&r).await.unwrap().len(), 5);
    let r = with_filter(req("many", &q, 3), json!({"group": "rare", "i": 49}));
    assert_eq!(ids(&s.search(&r).await.unwrap()), ["r049"]);
}

async fn concurrent_first_upserts(b: Backend) {
    let bed = Bed::new(b).await;
    let s = &bed.store;
    let one = bed.reopen().await;
    let two = bed.reopen().await;
    let (ra, rb) = (
        [rec("a", &[1.0, 0.0], "", json!({}))],
        [rec("b", &[0.0, 1.0], "", json!({}))],
    );
    let (a, b2) = tokio::join!(one.upsert("race", &ra), two.upsert("race", &rb));
    a.unwrap();
    b2.unwrap();
    assert_eq!(
        ids(&s.search(&req("race", &[1.0, 0.0], 5)).await.unwrap()),
        ["a", "b"]
    );
    // Different dimensions: exactly one wins.
    let rb = [rec("b", &[0.0, 1.0, 0.0], "", json!({}))];
    let (a, b2) = tokio::join!(one.upsert("race2", &ra), two.upsert("race2", &rb));
    assert!(a.is_ok() != b2.is_ok(), "{a:?} {b2:?}");
    let err = a.err().or(b2.err()).unwrap();
    assert!(matches!(err, VectorError::Invalid(_)), "{err:?}");
}

fn upsert_flow(collection: &str, grant: &str) -> Value {
    json!({
        "weft": 1, "name": "upsert", "inputs": {"records": "any"},
        "capabilities": {"vectors": [grant]},
        "nodes": [{"id": "up", "type": "vector.upsert", "config": {"collection": collection}}],
        "edges": [{"from": "input.records", "to": "up.records"}],
        "outputs": {"count": "up.count"}
    })
}

fn search_flow(collection: &str, grant: &str, config: Value) -> Value {
    let mut config = config;
    config["collection"] = json!(collection);
    json!({
        "weft": 1, "name": "search",
        "inputs": {"vector": "embedding", "filter": {"type": "object", "default": {}}},
        "capabilities": {"vectors": [grant]},
        "nodes": [{"id": "s", "type": "vector.search", "config": config}],
        "edges": [{"from": "input.vector", "to": "s.vector"},
                  {"from": "input.filter", "to": "s.filter"}],
        "outputs": {"matches": "s.matches", "count": "s.count"}
    })
}

async fn ungranted_collection(b: Backend) {
    let bed = Bed::new(b).await;
    let engine = bed.engine().await;
    // Refused at validation, naming the node, the collection and the grant.
    let refused = |flow: Value| {
        let engine = &engine;
        async move {
            match engine.compile_text(&flow.to_string()).await {
                Err(weft_runtime::EngineError::Invalid(diags)) => diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
                Ok(_) => panic!("an ungranted collection was accepted"),
                Err(e) => panic!("{e}"),
            }
        }
    };
    for flow in [
        upsert_flow("secret", "docs"),
        search_flow("secret", "docs", json!({})),
    ] {
        let message = refused(flow).await;
        assert!(
            message.contains("[capability_not_granted]")
                && message.contains("/config/collection")
                && message.contains("`secret`")
                && message.contains("capabilities.vectors"),
            "{message}"
        );
    }
    // Case-sensitive: `Docs` is not `docs`.
    let message = refused(upsert_flow("Docs", "docs")).await;
    assert!(message.contains("`Docs`"), "{message}");
    // Nothing was written.
    assert!(matches!(
        bed.store.search(&req("secret", &[1.0, 0.0], 1)).await,
        Err(VectorError::NotFound(_))
    ));
    // `*` grants every collection.
    let records = json!({"records": [{"id": "a", "vector": [1, 0]}]});
    let (outcome, _) = common::run(&engine, upsert_flow("secret", "*"), records).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // The host checks again at run time (for nodes that do not declare
    // what they use).
    assert!(matches!(
        vectors::check_grant(&["docs".to_string()], "secret"),
        Err(VectorError::Denied(m)) if m.contains("`secret`")
    ));
}

async fn flow_upsert_then_search(b: Backend) {
    let bed = Bed::new(b).await;
    let engine = bed.engine().await;
    let (outcome, _) = common::run(
        &engine,
        upsert_flow("kb", "kb"),
        json!({"records": [
            {"id": "cats", "vector": [1, 0, 0], "text": "Cats purr.", "metadata": {"topic": "pets", "year": 2024}},
            {"id": "dogs", "vector": [0.8, 0.6, 0], "text": "Dogs bark.", "metadata": {"topic": "pets"}},
            {"id": "tax", "vector": [0, 0, 1], "text": "Taxes are due.", "metadata": {"topic": "money"}},
        ]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["count"], json!(3));

    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({"top_k": 2})),
        json!({"vector": [1, 0, 0]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["count"], json!(2));
    let mut matches = outcome.outputs["matches"].as_array().unwrap().clone();
    let scores: Vec<f64> = matches
        .iter_mut()
        .map(|m| {
            m.as_object_mut()
                .unwrap()
                .remove("score")
                .unwrap()
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        matches,
        [
            json!({"id": "cats", "text": "Cats purr.", "metadata": {"topic": "pets", "year": 2024}}),
            json!({"id": "dogs", "text": "Dogs bark.", "metadata": {"topic": "pets"}}),
        ]
    );
    assert!(
        (scores[0] - 1.0).abs() < 1e-6 && (scores[1] - 0.8).abs() < 1e-6,
        "{scores:?}"
    );

    // The filter input, merged over the configured filter; min_score.
    let (outcome, _) = common::run(
        &engine,
        search_flow(
            "kb",
            "*",
            json!({"filter": {"topic": "pets"}, "min_score": 0.9}),
        ),
        json!({"vector": [0.8, 0.6, 0]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let ids: Vec<&Value> = outcome.outputs["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, [&json!("dogs")]);
    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({"filter": {"topic": "pets"}})),
        json!({"vector": [0, 0, 1], "filter": {"topic": "money"}}),
    )
    .await;
    assert_eq!(outcome.outputs["count"], json!(1), "{:?}", outcome.error);
    assert_eq!(outcome.outputs["matches"][0]["id"], json!("tax"));
}

async fn flow_errors(b: Backend) {
    let bed = Bed::new(b).await;
    let engine = bed.engine().await;
    let (outcome, _) = common::run(
        &engine,
        search_flow("empty", "*", json!({})),
        json!({"vector": [1, 0]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.not-found", "{error:?}");
    assert!(error.message.contains("`empty`"), "{error:?}");

    let (outcome, _) = common::run(
        &engine,
        upsert_flow("kb", "kb"),
        json!({"records": [{"id": "a", "vector": [1, 0]}]}),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let (outcome, _) = common::run(
        &engine,
        upsert_flow("kb", "kb"),
        json!({"records": [{"id": "b", "vector": [1, 0, 0]}]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.invalid", "{error:?}");
    assert!(
        error.message.contains("`kb`")
            && error.message.contains("2 dimensions")
            && error.message.contains("has 3"),
        "{error:?}"
    );
    let (outcome, _) = common::run(
        &engine,
        search_flow("kb", "kb", json!({})),
        json!({"vector": [1, 0, 0, 0]}),
    )
    .await;
    let error = outcome.error.expect("an error");
    assert_eq!(error.code, "capability.invalid", "{error:?}");
    assert!(error.message.contains("has 4"), "{error:?}");
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
