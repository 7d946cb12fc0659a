//! Storage tests: every test runs twice, on SQLite (a file in a fresh
//! temporary directory) and on PostgreSQL (a fresh database
//! `weft_t_<random>` on `WEFT_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, dropped afterwards even when
//! the test panics). When PostgreSQL is unreachable the PostgreSQL half
//! fails, saying how to start it.
//!
//! Layout: this file holds the harness ([`both!`]) and shared fixtures;
//! `flows.rs` (projects, versions, publications), `runs.rs` (runs, node
//! records, events, recovery, retention), `journal.rs` (group commit), `security.rs` (secrets, tokens,
//! an unavailable database).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod flows;
mod journal;
#[path = "../support/pg.rs"]
mod pg;
mod runs;
mod security;

use std::future::Future;

use serde_json::{Value, json};
use sqlx::AnyPool;
use weft::store::*;
use weft_editor_protocol::events::RunEvent;

/// One test's database.
struct Db {
    store: Store,
    /// The URL the store was opened with.
    url: String,
    /// SQLite: the database file.
    file: Option<std::path::PathBuf>,
    /// Keeps the SQLite directory alive.
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// A second, raw connection pool to the same database.
    async fn raw(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.url).await.unwrap()
    }

    /// The same database opened again, as after a restart.
    async fn reopen(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weft-data").join("weft.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::open(&url).await.unwrap();
    test(Db {
        store,
        url,
        file: Some(file),
        _dir: Some(dir),
    })
    .await;
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    pg::with_database("weft_t", |name| async move {
        let url = pg::url_for(&name);
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        test(Db {
            store,
            url,
            file: None,
            _dir: None,
        })
        .await
    })
    .await
}

/// Runs each listed `async fn(Db)` (`module::name`) on both databases, as
/// tests `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::on_sqlite(super::$module::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::on_postgres(super::$module::$name).await
            }
        }
    )*};
}

both!(
    flows::projects_crud_and_cascade,
    flows::identical_content_returns_the_same_version,
    flows::concurrent_saves_get_distinct_numbers,
    flows::publish_unpublish_and_rollback,
    flows::publish_checks_see_the_stage_and_can_refuse,
    flows::routes_version_follows_publishes,
    runs::run_lifecycle_and_node_records,
    runs::events_append_and_replay,
    runs::runs_of_stopped_processes_are_interrupted,
    runs::runs_by_version_id,
    runs::retention_by_count_and_age,
    journal::group_commit_stores_runs_and_isolates_failures,
    journal::runs_recorded_when_over,
    security::secrets_are_encrypted_at_rest,
    security::tokens_are_hashed,
    security::api_keys_are_hashed_and_scoped,
    security::unavailable_database,
);

pub fn doc(name: &str, template: &str) -> Value {
    json!({
        "weft": 1,
        "name": name,
        "inputs": {"name": "string"},
        "nodes": [{"id": "greet", "type": "text.template", "config": {"template": template}}],
        "edges": [{"from": "input.name", "to": "greet.name"}],
        "outputs": {"greeting": "greet.text"}
    })
}

pub fn draft_run(id: &str, project: &str, flow: &str) -> NewRun {
    NewRun {
        id: id.into(),
        project: project.into(),
        flow: flow.into(),
        version: None,
        document: Some(doc(flow, "Hi")),
        stage: None,
        trigger: "editor".into(),
        inputs: json!({"name": "Ada"}),
        instance: None,
        started_at: None,
    }
}

pub fn finished(status: RunStatus) -> RunFinish {
    RunFinish {
        status,
        outputs: Some(json!({"greeting": "Hi Ada"})),
        error: None,
        finished_at: now_ms(),
        duration_ms: 1.5,
    }
}

pub fn event(run: &str, seq: u64) -> RunEvent {
    serde_json::from_value(json!({
        "run": run, "seq": seq, "ts_ms": 1_763_800_000_000u64 + seq,
        "type": "node.log", "node": "greet", "level": "info", "source": "node",
        "message": format!("line {seq}")
    }))
    .unwrap()
}
