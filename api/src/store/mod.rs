//! Durable state of `weft serve`, through sqlx: SQLite (the default, a file
//! under `./weft-data/`) or PostgreSQL, with the same behaviour on both.
//!
//! One code path serves both databases: an [`sqlx::AnyPool`] and portable
//! SQL (`$1` placeholders, which SQLite accepts too; `INSERT ... RETURNING`;
//! `ON CONFLICT`). Only the schema differs, one migration set per database
//! in `api/migrations/{sqlite,postgres}/`, applied on open ([`migrations`]).
//! Write transactions on SQLite start with `BEGIN IMMEDIATE`, so concurrent
//! writers queue on the busy timeout instead of failing to upgrade a lock.
//! Timestamps are `i64` milliseconds since the Unix epoch; JSON is TEXT.
//! Every multi-row write is one transaction: nothing is ever half-written.
//!
//! ## Public API (all methods async on a cheap-to-clone [`Store`], returning
//! `Result<_, StoreError>`)
//!
//! - Opening: [`Store::open`] (`sqlite:PATH` / `sqlite://PATH` /
//!   `postgres://...`), [`Store::open_sqlite`], [`Store::open_with`]
//!   ([`StoreOptions`]); [`default_database_url`] (`./weft-data/weft.db`);
//!   [`Store::ping`] for readiness; [`Store::with_secret_key`].
//! - Projects ([`projects`]): `create_project(slug, name?)`, `get_project`,
//!   `list_projects`, `rename_project`, `delete_project` (cascades to
//!   everything the project owns).
//! - Flows and versions ([`flows`]): `save_version(project, flow, &doc) ->
//!   (FlowVersion, created)`, `list_flows`, `list_versions`,
//!   `get_version(project, flow, "3" | "v3-1a2b3c4d" | "latest")`,
//!   `latest_version`. Version ids are `v<number>-<first 8 hex of hash>`.
//! - Stages and publications ([`stages`]): `create_stage`, `list_stages`,
//!   `publish(project, stage, flow, version)` (creates the stage on first
//!   use), `publish_checked` (with a check of the stage's other live
//!   documents, e.g. route conflicts), `unpublish`, `live(project, stage)`,
//!   `live_version(project, stage, flow)`, `publication_history(project,
//!   stage, flow)`.
//! - Routes for routers ([`routes`]): `stage_documents`, `routes_version`,
//!   `stage_versions`; [`Store`] is the SQL [`weft_router::RouteStore`].
//! - Runs ([`runs`]): `create_run(NewRun)`, `finish_run(id, RunFinish)`,
//!   `get_run`, `run_document` (a draft's flow), `list_runs(RunFilter)`,
//!   `upsert_node_record`, `list_node_records`, `get_node_output`,
//!   `recover_orphans(&instance)` (runs of stopped processes, in
//!   [`instances`]).
//! - Group commit ([`journal`]): `write_group(&[JournalOp])`, the
//!   creations, events and ends of many runs in one transaction.
//! - Run events ([`events`]): `append_events(run, &[RunEvent])`,
//!   `events_after(run, after_seq, limit)`, `last_event_seq(run)`.
//! - Retention ([`retention`]): `prune(project, flow, &RetentionPolicy)`,
//!   `prune_all(&RetentionPolicy)`.
//! - Secrets ([`secrets`]): [`SecretKey::from_env_or_file`], `set_secret`,
//!   `delete_secret`, `list_secrets` (names only), `resolve_secrets`.
//! - API tokens ([`tokens`]): `create_token(name, &[Scope]) -> (TokenInfo,
//!   plaintext)`, `import_token`, `verify_token`, `list_tokens`,
//!   `revoke_token`.
//! - API keys for published flows ([`api_keys`]): `create_api_key(project,
//!   name, stages?) -> (ApiKeyInfo, plaintext)`, `list_api_keys`,
//!   `revoke_api_key`, `check_api_key(project, stage, key) -> KeyCheck`.
//!
//! ## Layout
//! - [`error`]: [`StoreError`] and the sqlx error mapping (connection
//!   trouble becomes [`StoreError::Unavailable`]).
//! - [`migrations`]: the embedded schema migrations.
//! - one module per entity, listed above.

pub mod api_keys;
pub mod error;
pub mod events;
pub mod flows;
pub mod instances;
pub mod journal;
pub mod migrations;
pub mod projects;
pub mod retention;
pub mod routes;
pub mod runs;
pub mod secrets;
pub mod stages;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor, Transaction};

pub use api_keys::{ApiKeyInfo, KeyCheck};
pub use error::StoreError;
pub use events::EVENTS_PAGE_MAX;
pub use flows::{FlowInfo, FlowVersion, VersionSummary, canonical_json, content_hash};
pub use instances::Instance;
pub use journal::JournalOp;
pub use projects::Project;
pub use retention::RetentionPolicy;
pub use routes::{LiveDocument, ROUTES_CHANNEL, StageDocuments, parse_notification};
pub use runs::{NewRun, NodeRecord, NodeStatus, Run, RunFilter, RunFinish, RunStatus};
pub use secrets::{KeySource, SecretInfo, SecretKey};
pub use stages::{LiveFlow, Publication, PublishCheck, Stage};
pub use tokens::{Scope, TokenInfo};

/// `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The data directory used when none is configured.
pub const DEFAULT_DATA_DIR: &str = "weft-data";
/// The SQLite file inside the data directory (shared with the embedded
/// vector store).
pub const DEFAULT_DATABASE_FILE: &str = "weft.db";

/// `sqlite://<data_dir>/weft.db`, the database used when neither
/// `--database-url` nor `DATABASE_URL` is given.
pub fn default_database_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}",
        data_dir.join(DEFAULT_DATABASE_FILE).display()
    )
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size (SQLite writers queue on the file lock whatever this is).
    pub max_connections: u32,
    /// How long a call waits for a connection before failing with
    /// [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The server's storage. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// The database, for messages (no password).
    name: Arc<str>,
    /// How [`Store::probe`] connects, outside the pool.
    probe: Arc<ProbeUrl>,
    pub(crate) secret_key: Option<Arc<SecretKey>>,
    /// SQLite allows one writer at a time: this process's writers take
    /// turns here, waking each other, instead of polling SQLite's lock
    /// from its busy handler (which sleeps a millisecond and more per try).
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction ([`Store::begin`]); on SQLite it holds the store's
/// write turn until it ends. Derefs to the connection, like a
/// [`Transaction`].
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Store {
    /// Opens the database at `url` (`sqlite:PATH`, `sqlite://PATH`,
    /// `postgres://...`, `postgresql://...`), creating an SQLite file and
    /// its directory if needed, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// Opens (creating if needed) the SQLite database file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Store::open_sqlite_with(path, &StoreOptions::default()).await
    }

    /// [`Store::open`] with explicit [`StoreOptions`].
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let parsed = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::invalid(format!("bad SQLite database URL: {e}")))?;
            let path = parsed.get_filename().to_path_buf();
            if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
                return Err(StoreError::invalid(
                    "the SQLite database must be a file (in-memory databases are not supported)",
                ));
            }
            Store::open_sqlite_with(&path, options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::open_postgres(url, options).await
        } else {
            Err(StoreError::invalid(format!(
                "unsupported database URL `{}`: use sqlite:PATH or postgres://...",
                redact(url)
            )))
        }
    }

    /// [`Store::open_sqlite`] with explicit [`StoreOptions`].
    pub async fn open_sqlite_with(path: &Path, options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let path: PathBuf = std::path::absolute(path).map_err(|e| StoreError::Unavailable {
            message: format!("cannot resolve the path {}: {e}", path.display()),
        })?;
        let name = format!("sqlite:{}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
                message: format!("cannot create the directory {}: {e}", dir.display()),
            })?;
        }
        // WAL is a property of the file: set it once, on a connection of
        // our own, before the pool (and the vector store) use the file.
        let direct = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let context = format!("opening {name}");
        let conn = direct.connect().await.map_err(error::db(&context))?;
        conn.close().await.map_err(error::db(&context))?;
        let url = direct.to_url_lossy().to_string();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.clamp(1, 4))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON;",
                    )
                    .await
                    .map(|_| ())
                })
            })
            .connect(&url)
            .await
            .map_err(error::db(&context))?;
        Store::finish_open(pool, Backend::Sqlite, name, ProbeUrl(url)).await
    }

    async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Store> {
        let name = redact(url);
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(error::db(format!("connecting to {name}")))?;
        Store::finish_open(pool, Backend::Postgres, name, ProbeUrl(url.to_owned())).await
    }

    async fn finish_open(
        pool: AnyPool,
        backend: Backend,
        name: String,
        probe: ProbeUrl,
    ) -> Result<Store> {
        migrations::migrator(backend)
            .run(&pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => {
                    error::from_sqlx(&format!("migrating {name}"), e)
                }
                other => StoreError::Database {
                    context: format!("migrating {name}"),
                    message: other.to_string(),
                },
            })?;
        tracing::debug!(database = %name, "store opened");
        Ok(Store {
            pool,
            backend,
            name: name.into(),
            probe: Arc::new(probe),
            secret_key: None,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The same store, encrypting and decrypting secrets with `key`.
    pub fn with_secret_key(mut self, key: SecretKey) -> Store {
        self.secret_key = Some(Arc::new(key));
        self
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database, for messages (`sqlite:/path` or the PostgreSQL URL
    /// without its password).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the database answers (`SELECT 1`), for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(error::db("checking the database"))
    }

    /// Checks the database answers on a connection of its own (not the
    /// pool's, which may be busy or hold broken connections), within
    /// `timeout`: whether the database is back after an outage.
    pub async fn probe(&self, timeout: Duration) -> Result<()> {
        let attempt = async {
            let mut conn = sqlx::AnyConnection::connect(&self.probe.0).await?;
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            conn.close().await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(done) => done.map_err(error::db("checking the database")),
            Err(_) => Err(StoreError::Unavailable {
                message: format!(
                    "checking the database: no answer within {} ms",
                    timeout.as_millis()
                ),
            }),
        }
    }

    /// Closes every connection; later calls fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub(crate) async fn begin(&self, context: &str) -> Result<WriteTx> {
        let turn = self.write_turn().await;
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let tx = self
            .pool
            .begin_with(statement)
            .await
            .map_err(error::db(context))?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// This process's turn to write (SQLite; `None` on PostgreSQL, which
    /// takes concurrent writers). Held by a single-statement write too.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }
}

/// A connection URL, which may hold a password: never printed.
struct ProbeUrl(String);

impl std::fmt::Debug for ProbeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProbeUrl(..)")
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Checks a stage name: 1 to 63 lowercase ASCII letters and digits. No
/// hyphens: a published flow answers at `{project}-{stage}.{domain}`, where
/// the stage is what follows the last hyphen.
pub fn validate_stage(stage: &str) -> Result<()> {
    let ok = (1..=63).contains(&stage.len())
        && stage
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "invalid stage name `{stage}`: use 1 to 63 lowercase letters and digits (no hyphens: \
             flows answer at `{{project}}-{{stage}}.{{domain}}`, and the stage is what follows \
             the last hyphen)"
        )))
    }
}

/// Checks a project or stage slug: 1 to 63 lowercase ASCII letters, digits
/// and hyphens, not starting with a hyphen.
pub fn validate_slug(kind: &str, slug: &str) -> Result<()> {
    let ok = (1..=63).contains(&slug.len())
        && !slug.starts_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "invalid {kind} `{slug}`: use 1 to 63 lowercase letters, digits and hyphens, \
             not starting with a hyphen"
        )))
    }
}

/// JSON text of a value, as stored.
pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

/// Parses JSON text read back from the database.
pub(crate) fn parse_json(context: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(context, e))
}

/// [`parse_json`] for a nullable column.
pub(crate) fn parse_json_opt(context: &str, text: Option<String>) -> Result<Option<Value>> {
    text.map(|t| parse_json(context, &t)).transpose()
}

/// The id of project `slug`, or [`StoreError::NotFound`].
pub(crate) async fn project_id<'e, E>(executor: E, slug: &str) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_scalar("SELECT id FROM weft_projects WHERE slug = $1")
        .bind(slug)
        .fetch_optional(executor)
        .await
        .map_err(error::db(format!("looking up project `{slug}`")))?
        .ok_or_else(|| StoreError::not_found(format!("project `{slug}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["a", "acme", "acme-2", "0", &"a".repeat(63)] {
            assert!(validate_slug("project", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "Acme", "a_b", "a b", "é", &"a".repeat(64)] {
            assert!(validate_slug("project", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_names() {
        for ok in ["prod", "dev2", "0", &"a".repeat(63)] {
            assert!(validate_stage(ok).is_ok(), "{ok}");
        }
        for bad in ["", "pre-prod", "Prod", "a_b", "é", &"a".repeat(64)] {
            let e = validate_stage(bad).unwrap_err().to_string();
            assert!(e.contains("no hyphens"), "{bad}: {e}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
