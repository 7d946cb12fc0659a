//! A fresh PostgreSQL database per test, for the api test crates (each
//! includes this file with `#[path = "../support/pg.rs"] mod pg;`).
//!
//! The server is `WEFT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), as a user allowed to create
//! databases. [`with_database`] creates `<prefix>_<random>`, runs the test
//! in a task of its own, drops the database whether the test passed or
//! panicked, then passes the panic on. When the server is unreachable the
//! test fails saying how to start it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use sqlx::{Connection, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server's URL, as given (its database is only used to connect).
pub fn admin_url() -> String {
    std::env::var("WEFT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Splits a URL into scheme + credentials, host[:port], and the rest after
/// the database name (`?query`, or empty).
fn parts(url: &str) -> (&str, &str, &str) {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let scheme = base.find("://").map_or(0, |i| i + 3);
    let host_start = base[scheme..].rfind('@').map_or(scheme, |a| scheme + a + 1);
    let host_end = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    (&base[..host_start], &base[host_start..host_end], query)
}

/// The URL of database `db` on the test server.
pub fn url_for(db: &str) -> String {
    let admin = admin_url();
    let (prefix, host, query) = parts(&admin);
    format!("{prefix}{host}/{db}{query}")
}

/// The URL of database `db` through a proxy on `127.0.0.1:port`.
pub fn url_via(db: &str, port: u16) -> String {
    let admin = admin_url();
    let (prefix, _, query) = parts(&admin);
    format!("{prefix}127.0.0.1:{port}/{db}{query}")
}

/// The test server's `host:port`, for a proxy in front of it.
pub fn upstream() -> String {
    let admin = admin_url();
    let (_, host, _) = parts(&admin);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    }
}

/// A connection to the test server, or a panic saying how to start it.
pub async fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url}: {e}\n\
             These tests also run on PostgreSQL. Start the machine's server with\n  \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
             (or `bash tests/testbeds.sh start`), or point WEFT_TEST_POSTGRES_URL at one \
             (a user with CREATE DATABASE rights)."
        )
    })
}

/// Runs `test` with the name of a fresh database `<prefix>_<random>`,
/// dropped afterwards, pass or fail.
pub async fn with_database<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conn = admin().await;
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    let name = format!("{prefix}_{}", hex::encode(b));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let outcome = tokio::spawn(test(name.clone())).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[test]
fn urls_keep_credentials_and_query() {
    let (prefix, host, query) = parts("postgres://u:p@h:5433/test?sslmode=disable");
    assert_eq!(
        (prefix, host, query),
        ("postgres://u:p@", "h:5433", "?sslmode=disable")
    );
    let (prefix, host, query) = parts("postgres://h/test");
    assert_eq!((prefix, host, query), ("postgres://", "h", ""));
}
