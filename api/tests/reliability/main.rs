//! Reliability of the real `weft serve` binary (`CARGO_BIN_EXE_weft`),
//! issue 4 §5:
//!
//! - SIGKILL during runs: on restart the cut-off runs are `failed` with
//!   error code `interrupted`, finished runs are all there with every event
//!   (seq 1..N ending in `run.finished`) and their node records; nothing is
//!   half-written. On SQLite and on PostgreSQL.
//! - SIGTERM drains: runs that finish within `--drain-secs` are stored
//!   `succeeded` and the process exits 0; runs that do not are stored
//!   `cancelled` and the process exits promptly; new runs during the drain
//!   get 503; editor websockets are closed with 1001.
//! - Router replicas (`weft router`) sharing the database with `weft
//!   serve` see a publish, a new version and an unpublish within 1 s; a
//!   restart of `weft serve` leaves a router's runs alone, and a dead
//!   router's runs are failed `interrupted` by the survivor.
//! - PostgreSQL going away (a TCP proxy in the test is cut): REST calls and
//!   `/readyz` answer 503 `unavailable`, and the server recovers when the
//!   proxy is restored.
//!
//! The slow node is the `test.sleep` guest, loaded with `--nodes-dir` from
//! `<target dir>/wasm-guests` (built by `runtime/build.rs`). PostgreSQL is
//! `WEFT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each test gets a fresh database, dropped afterwards. When it is not
//! reachable the PostgreSQL tests fail saying how to start it.
//!
//! Layout: `harness.rs` (the server process, an HTTP client, databases),
//! `proxy.rs` (the cuttable TCP proxy), `kill.rs`, `drain.rs`, `outage.rs`,
//! `replicas.rs` (the tests).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod drain;
mod harness;
mod kill;
mod outage;
#[path = "../support/pg.rs"]
mod pg;
mod proxy;
mod replicas;
#[path = "../support/serve.rs"]
mod serve;

use harness::{Backend, with_db};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_runs_sqlite() {
    with_db(Backend::Sqlite, kill::sigkill_during_runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_runs_postgres() {
    with_db(Backend::Postgres, kill::sigkill_during_runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_runs_finish_sqlite() {
    with_db(Backend::Sqlite, drain::sigterm_lets_runs_finish).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_runs_finish_postgres() {
    with_db(Backend::Postgres, drain::sigterm_lets_runs_finish).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_runs_past_the_deadline_sqlite() {
    with_db(
        Backend::Sqlite,
        drain::sigterm_cancels_runs_past_the_deadline,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_runs_past_the_deadline_postgres() {
    with_db(
        Backend::Postgres,
        drain::sigterm_cancels_runs_past_the_deadline,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers() {
    with_db(
        Backend::Postgres,
        outage::postgres_outage_answers_503_and_recovers,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_during_shutdown() {
    with_db(Backend::Postgres, outage::postgres_outage_during_shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_agree_within_a_second_postgres() {
    with_db(Backend::Postgres, replicas::replicas_agree_within_a_second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_agree_within_a_second_sqlite() {
    with_db(Backend::Sqlite, replicas::replicas_agree_within_a_second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_agree_through_dynamodb() {
    with_db(Backend::Postgres, replicas::replicas_agree_through_dynamodb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_runs_its_own_runs_postgres() {
    with_db(Backend::Postgres, replicas::a_replica_runs_its_own_runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_runs_its_own_runs_sqlite() {
    with_db(Backend::Sqlite, replicas::a_replica_runs_its_own_runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_table_is_reconciled() {
    with_db(
        Backend::Postgres,
        replicas::the_dynamodb_table_is_reconciled,
    )
    .await;
}
