//! The `vectors` capability: named collections of records (id, vector,
//! text, metadata) searched by cosine similarity, behind a [`VectorStore`]
//! with two backends that behave the same:
//!
//! - [`SqliteStore`] (the default, [`VectorConfig::Sqlite`]): embedded, in
//!   Weft's SQLite file, with the sqlite-vec extension;
//! - [`PostgresStore`] ([`VectorConfig::Postgres`]): PostgreSQL with
//!   pgvector.
//!
//! Both go through sqlx. The host links the store as `Services::vectors`;
//! [`lazy`] opens it on the first call, so a host whose flows never use
//! vectors never touches the database.
//!
//! ## Semantics (both backends)
//!
//! - **Collections.** A name is 1–64 ASCII letters, digits, `_` or `-`
//!   (case-sensitive). A collection is created by its first upsert, with
//!   that upsert's vector dimension; from then on every vector written to
//!   it or searched in it must have that dimension, else the call fails
//!   with `invalid`, naming both dimensions and the collection. Searching a
//!   collection that does not exist fails with `not-found`, naming it.
//!   Names never reach SQL: each collection gets a numeric id in a catalog
//!   table (`weft_vector_collections`) and its rows live in the table
//!   `weft_vec_<id>`.
//! - **Records.** An id is 1–512 bytes. A vector has 1–[`MAX_DIMENSION`]
//!   finite numbers, not all zero (cosine similarity is undefined for the
//!   zero vector). Metadata is a JSON object (`null` or an empty text mean
//!   `{}`). An upsert replaces the text, vector and metadata of an existing
//!   id; within one call a repeated id keeps the last record. One call is
//!   one transaction: all of its records are written, or none. An empty
//!   upsert writes nothing and creates nothing.
//! - **Score.** Cosine similarity, `1 - cosine distance`: 1 for the same
//!   direction, 0 for orthogonal, -1 for opposite; higher is better.
//!   Results are sorted by score descending, ties by id ascending (byte
//!   order), and cut at `top-k` (1–[`MAX_TOP_K`]). `min-score` keeps the
//!   matches whose (returned, 32-bit) score is `>=` it.
//! - **Filter.** A JSON object of metadata fields that must be equal: each
//!   value is a string (equal text), a number (numerically equal: `1`
//!   matches `1.0`) or a bool (`true` matches only `true`, not `1`). A
//!   field missing from a record's metadata does not match. `{}` (or an
//!   empty text or `null`) is no filter. The filter is applied inside the
//!   query, before the `top-k` cut: a search never returns fewer than
//!   `top-k` matches while more matching records exist.
//! - **Grants.** `capabilities.vectors` lists the collections a flow may
//!   use, `*` for all; any other collection is `denied`, naming it
//!   ([`check_grant`]).
//! - **Exactness.** The embedded store is exact: an in-memory, quantized
//!   copy of each collection bounds every record's score, and the exact
//!   cosine scan ranks the records that can reach the top `k`, so results
//!   equal a brute-force scan's. pgvector searches without a filter go through an HNSW index
//!   (cosine ops), which is approximate: a near neighbour can be missed
//!   (recall is measured in `benches/vector_search.rs`); searches with a
//!   filter are exact scans of the matching rows.
//!
//! Errors are [`VectorError`]s, one variant per WIT `capability-error`
//! case: `denied`, `invalid` (the request is wrong), `not-found` (no such
//! collection), `timeout` (no database connection in time) and `failed`
//! (the database failed; retrying may help).

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The most dimensions a vector may have (sqlite-vec's `vec0` limit).
pub const MAX_DIMENSION: usize = 8192;
/// The most matches one search returns.
pub const MAX_TOP_K: u32 = 1000;
/// The longest record id, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// The default store of `weft run`: the embedded one, in Weft's data file.
pub const DEFAULT_SQLITE_PATH: &str = "weft-data/weft.db";
/// [`DEFAULT_SQLITE_PATH`] as a `--vectors` URL.
pub const DEFAULT_URL: &str = "sqlite:weft-data/weft.db";

/// One record of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    pub id: String,
    pub vector: Vec<f32>,
    pub text: String,
    pub metadata: Map<String, Value>,
}

/// A search in one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub collection: String,
    pub vector: Vec<f32>,
    pub top_k: u32,
    /// Metadata fields that must be equal (strings, numbers, bools).
    pub filter: Map<String, Value>,
    pub min_score: Option<f32>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub id: String,
    /// Cosine similarity, higher is better.
    pub score: f32,
    pub text: String,
    pub metadata: Map<String, Value>,
}

/// Why a vector call failed; one variant per WIT `capability-error` case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VectorError {
    /// The flow does not grant the collection.
    #[error("{0}")]
    Denied(String),
    /// The request is wrong (name, dimension, values, configuration).
    #[error("{0}")]
    Invalid(String),
    /// The collection does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No database connection within the time limit.
    #[error("{0}")]
    Timeout(String),
    /// The database failed or could not be reached.
    #[error("{0}")]
    Failed(String),
}

/// A vector store. Implementations check their input with [`validate_upsert`]
/// and [`validate_search`] and follow the semantics in the module docs.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync + fmt::Debug {
    /// Inserts or replaces `records` in `collection`, creating it if needed.
    async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<(), VectorError>;

    /// The records nearest to `request.vector`, best first.
    async fn search(&self, request: &SearchRequest) -> Result<Vec<Match>, VectorError>;
}

// ---------------------------------------------------------------- config

/// Which store holds the collections.
#[derive(Clone, PartialEq, Eq)]
pub enum VectorConfig {
    /// The embedded store: sqlite-vec in this SQLite file (created, with
    /// its directory, on first use).
    Sqlite { path: PathBuf },
    /// PostgreSQL with pgvector, e.g. `postgres://user:pw@host:5432/db`.
    /// Tables go to the first schema of the connection's `search_path`
    /// (`?options=-c%20search_path%3Dweft,public` picks one).
    Postgres { url: String },
}

impl Default for VectorConfig {
    /// `sqlite:weft-data/weft.db`.
    fn default() -> Self {
        VectorConfig::Sqlite {
            path: PathBuf::from(DEFAULT_SQLITE_PATH),
        }
    }
}

impl VectorConfig {
    /// Parses `sqlite:PATH` (also `sqlite://PATH`) or `postgres://...`
    /// (also `postgresql://...`). Errors name the URL without its password.
    pub fn from_url(url: &str) -> Result<VectorConfig, VectorError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            if path.is_empty() || path == ":memory:" {
                return Err(VectorError::Invalid(format!(
                    "`{url}`: expected `sqlite:PATH` with the path of a database file"
                )));
            }
            return Ok(VectorConfig::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let parsed = url::Url::parse(url).map_err(|e| {
                VectorError::Invalid(format!(
                    "`{}` is not a valid PostgreSQL URL: {e}",
                    redact_url(url)
                ))
            })?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(VectorError::Invalid(format!(
                    "`{}` is not a valid PostgreSQL URL: it names no host",
                    redact_url(url)
                )));
            }
            return Ok(VectorConfig::Postgres {
                url: url.to_string(),
            });
        }
        Err(VectorError::Invalid(format!(
            "`{}` is not a vector store URL: expected `sqlite:PATH` (embedded, sqlite-vec) \
             or `postgres://USER@HOST[:PORT]/DATABASE` (pgvector)",
            redact_url(url)
        )))
    }

    /// The store for messages: the path, or the URL without its password.
    pub fn display_name(&self) -> String {
        match self {
            VectorConfig::Sqlite { path } => format!("sqlite:{}", path.display()),
            VectorConfig::Postgres { url } => redact_url(url),
        }
    }
}

impl fmt::Display for VectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

/// Never prints a password.
impl fmt::Debug for VectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VectorConfig::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            VectorConfig::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &redact_url(url))
                .finish(),
        }
    }
}

/// `url` with its password (in the user part or a `password=` query
/// parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url)
        && parsed.has_host()
    {
        if parsed.password().is_some() {
            let _ = parsed.set_password(Some("***"));
        }
        if parsed.query_pairs().any(|(k, _)| k == "password") {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
        }
        return parsed.to_string();
    }
    // Unparsable: cut whatever follows `user:` up to the last `@`.
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &url[scheme_end + at..]
        ),
        _ => url.to_string(),
    }
}

/// Opens the configured store now (creating the SQLite file and its
/// directory, or connecting to PostgreSQL and checking pgvector).
pub async fn connect(config: &VectorConfig) -> Result<Arc<dyn VectorStore>, VectorError> {
    Ok(match config {
        VectorConfig::Sqlite { path } => Arc::new(SqliteStore::open(path).await?),
        VectorConfig::Postgres { url } => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// A store opened on its first call. A failed open is reported by that
/// call (`failed`, naming the store) and tried again by the next.
pub fn lazy(config: VectorConfig) -> Arc<dyn VectorStore> {
    Arc::new(LazyStore {
        config,
        store: tokio::sync::OnceCell::new(),
    })
}

#[derive(Debug)]
struct LazyStore {
    config: VectorConfig,
    store: tokio::sync::OnceCell<Arc<dyn VectorStore>>,
}

impl LazyStore {
    async fn get(&self) -> Result<&Arc<dyn VectorStore>, VectorError> {
        self.store.get_or_try_init(|| connect(&self.config)).await
    }
}

#[async_trait::async_trait]
impl VectorStore for LazyStore {
    async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<(), VectorError> {
        // Bad input is reported without opening anything.
        validate_upsert(collection, records)?;
        self.get().await?.upsert(collection, records).await
    }

    async fn search(&self, request: &SearchRequest) -> Result<Vec<Match>, VectorError> {
        validate_search(request)?;
        self.get().await?.search(request).await
    }
}

/// The store of a host without vector configuration: every call fails.
#[derive(Debug, Default)]
pub struct NoVectorStore;

impl NoVectorStore {
    fn error() -> VectorError {
        VectorError::Failed(
            "the `vectors` capability has no store configured in this Weft host \
             (`weft run --vectors sqlite:PATH` or `--vectors postgres://...`)"
                .to_string(),
        )
    }
}

#[async_trait::async_trait]
impl VectorStore for NoVectorStore {
    async fn upsert(&self, _: &str, _: &[VectorRecord]) -> Result<(), VectorError> {
        Err(NoVectorStore::error())
    }

    async fn search(&self, _: &SearchRequest) -> Result<Vec<Match>, VectorError> {
        Err(NoVectorStore::error())
    }
}

// ---------------------------------------------------------------- checks

/// Whether the flow's `capabilities.vectors` grants `collection`.
pub fn check_grant(granted: &[String], collection: &str) -> Result<(), VectorError> {
    if granted.iter().any(|g| g == collection || g == "*") {
        return Ok(());
    }
    Err(VectorError::Denied(format!(
        "the flow does not grant the vector collection `{collection}` (add it to capabilities.vectors)"
    )))
}

/// Whether `name` is a valid collection name: `[A-Za-z0-9_-]{1,64}`.
pub fn is_collection_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_collection(name: &str) -> Result<(), VectorError> {
    if is_collection_name(name) {
        return Ok(());
    }
    let mut shown: String = name.chars().take(80).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    Err(VectorError::Invalid(format!(
        "`{shown}` is not a valid collection name (1-64 letters, digits, `_` or `-`)"
    )))
}

fn check_vector(vector: &[f32], what: &str) -> Result<(), VectorError> {
    if vector.is_empty() {
        return Err(VectorError::Invalid(format!("{what}: the vector is empty")));
    }
    if vector.len() > MAX_DIMENSION {
        return Err(VectorError::Invalid(format!(
            "{what}: the vector has {} dimensions; at most {MAX_DIMENSION} are supported",
            vector.len()
        )));
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::Invalid(format!(
            "{what}: element {i} of the vector ({}) is not a finite number",
            vector[i]
        )));
    }
    if vector.iter().all(|x| *x == 0.0) {
        return Err(VectorError::Invalid(format!(
            "{what}: the vector is all zeros (cosine similarity is undefined for it)"
        )));
    }
    Ok(())
}

/// Checks an upsert against the rules every store shares (name, ids,
/// vectors, one dimension per call). The collection's own dimension is
/// the store's to check.
pub fn validate_upsert(collection: &str, records: &[VectorRecord]) -> Result<(), VectorError> {
    check_collection(collection)?;
    let dimension = records.first().map_or(0, |r| r.vector.len());
    for r in records {
        if r.id.is_empty() {
            return Err(VectorError::Invalid(format!(
                "upsert into `{collection}`: a record has an empty id"
            )));
        }
        if r.id.len() > MAX_ID_BYTES {
            return Err(VectorError::Invalid(format!(
                "upsert into `{collection}`: the id `{}…` is longer than {MAX_ID_BYTES} bytes",
                r.id.chars().take(40).collect::<String>()
            )));
        }
        check_vector(&r.vector, &format!("record `{}`", r.id))?;
        if r.vector.len() != dimension {
            return Err(VectorError::Invalid(format!(
                "upsert into `{collection}`: record `{}` has a vector of {} dimensions, but the \
                 first record of the call has {dimension}",
                r.id,
                r.vector.len()
            )));
        }
    }
    Ok(())
}

/// Checks a search against the rules every store shares.
pub fn validate_search(request: &SearchRequest) -> Result<(), VectorError> {
    check_collection(&request.collection)?;
    check_vector(&request.vector, "the query")?;
    if !(1..=MAX_TOP_K).contains(&request.top_k) {
        return Err(VectorError::Invalid(format!(
            "top-k must be between 1 and {MAX_TOP_K}, got {}",
            request.top_k
        )));
    }
    if let Some(min) = request.min_score
        && min.is_nan()
    {
        return Err(VectorError::Invalid("min-score is not a number".into()));
    }
    for (key, value) in &request.filter {
        if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            return Err(VectorError::Invalid(format!(
                "filter field `{key}`: values must be strings, numbers or bools, got {}",
                weft_editor_protocol::types::json_kind(value)
            )));
        }
    }
    Ok(())
}

/// The records of one upsert with repeated ids folded: the last record of
/// an id wins, at the first one's position.
pub(crate) fn dedup(records: &[VectorRecord]) -> Vec<&VectorRecord> {
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    let mut out: Vec<&VectorRecord> = Vec::with_capacity(records.len());
    for r in records {
        match position.get(r.id.as_str()) {
            Some(&i) => out[i] = r,
            None => {
                position.insert(&r.id, out.len());
                out.push(r);
            }
        }
    }
    out
}

/// Parses metadata (or a filter) given as JSON text: an object, or `null`
/// / empty text for `{}`. `what` names it in the error.
pub fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>, VectorError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(VectorError::Invalid(format!(
            "{what} must be a JSON object, got {}",
            weft_editor_protocol::types::json_kind(&other)
        ))),
        Err(e) => Err(VectorError::Invalid(format!(
            "{what} is not valid JSON: {e}"
        ))),
    }
}

/// Turns rows `(id, cosine distance, text, metadata)` in the database's
/// order into matches: score `1 - distance` as `f32`, `min_score` applied
/// to that score, sorted by score then id (the database orders by its own
/// precision; this makes ties of the returned scores follow the ids).
pub(crate) fn finish_matches(
    rows: Vec<(String, f64, String, String)>,
    request: &SearchRequest,
) -> Result<Vec<Match>, VectorError> {
    let mut matches = Vec::with_capacity(rows.len());
    for (id, distance, text, metadata) in rows {
        let score = (1.0 - distance) as f32;
        if request.min_score.is_some_and(|min| score < min) || !score.is_finite() {
            continue;
        }
        let metadata = parse_object(&metadata, &format!("the stored metadata of `{id}`"))
            .map_err(|e| VectorError::Failed(e.to_string()))?;
        matches.push(Match {
            id,
            score,
            text,
            metadata,
        });
    }
    matches.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    matches.truncate(request.top_k as usize);
    Ok(matches)
}

/// Whether rows fetched in distance order with `LIMIT limit` settle the
/// cut at `k`: fewer rows than the limit came back, or the last one is
/// farther than the `k`-th, so every row tied with the `k`-th is among them
/// and sorting by (score, id) picks the right ones.
pub(crate) fn cut_settled(rows: &[(String, f64, String, String)], k: usize, limit: usize) -> bool {
    rows.len() < limit || rows.len() <= k || rows[rows.len() - 1].1 != rows[k - 1].1
}

/// A collection's catalog row: its numeric id (which names its tables,
/// `weft_vec_<id>`) and its vector dimension.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Collection {
    pub(crate) id: i64,
    pub(crate) dimension: usize,
}

impl Collection {
    /// The collection's records table.
    pub(crate) fn table(&self) -> String {
        format!("weft_vec_{}", self.id)
    }
}

/// Collections a store has already looked up, by name. Collections are
/// never dropped, so an entry never goes stale.
#[derive(Debug, Default)]
pub(crate) struct CollectionCache(std::sync::Mutex<HashMap<String, Collection>>);

impl CollectionCache {
    pub(crate) fn get(&self, name: &str) -> Option<Collection> {
        self.0.lock().ok().and_then(|c| c.get(name).copied())
    }

    pub(crate) fn insert(&self, name: &str, collection: Collection) {
        if let Ok(mut c) = self.0.lock() {
            c.insert(name.to_string(), collection);
        }
    }
}

/// SQL built from a store's fixed text and integer collection ids only: no
/// name or value from a flow is ever spliced into it (they are bound).
pub(crate) fn sql(text: String) -> sqlx::SqlStr {
    use sqlx::SqlSafeStr;
    sqlx::AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

/// The error for a collection that does not exist.
pub(crate) fn not_found(collection: &str) -> VectorError {
    VectorError::NotFound(format!(
        "vector collection `{collection}` does not exist (a collection is created by its first upsert)"
    ))
}

/// The error for a record whose dimension is not the collection's.
pub(crate) fn upsert_dimension(collection: &str, has: usize, id: &str, got: usize) -> VectorError {
    VectorError::Invalid(format!(
        "vector collection `{collection}` holds vectors of {has} dimensions, but record `{id}` \
         has {got}"
    ))
}

/// The error for a query whose dimension is not the collection's.
pub(crate) fn search_dimension(collection: &str, has: usize, got: usize) -> VectorError {
    VectorError::Invalid(format!(
        "vector collection `{collection}` holds vectors of {has} dimensions, but the query \
         vector has {got}"
    ))
}

/// A database error as `failed` (or `timeout` for a pool that gave no
/// connection in time), naming the store and what was being done.
pub(crate) fn db_error(store: &str, doing: &str, e: sqlx::Error) -> VectorError {
    match e {
        sqlx::Error::PoolTimedOut => VectorError::Timeout(format!(
            "{doing}: no connection to the vector store {store} became free in time"
        )),
        e => VectorError::Failed(format!("{doing}: the vector store {store} failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            VectorConfig::from_url("sqlite:weft-data/weft.db").unwrap(),
            VectorConfig::Sqlite {
                path: "weft-data/weft.db".into()
            }
        );
        assert_eq!(
            VectorConfig::from_url("sqlite:///tmp/x.db").unwrap(),
            VectorConfig::Sqlite {
                path: "/tmp/x.db".into()
            }
        );
        assert!(matches!(
            VectorConfig::from_url("postgresql://u:pw@h:5433/db").unwrap(),
            VectorConfig::Postgres { .. }
        ));
        for bad in [
            "sqlite:",
            "sqlite::memory:",
            "mysql://u:secret@h/db",
            "weft.db",
        ] {
            let e = VectorConfig::from_url(bad).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
            assert!(matches!(
                VectorConfig::from_url(bad),
                Err(VectorError::Invalid(_))
            ));
        }
        let e = VectorConfig::from_url("postgres://u:secret@/db")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("postgres://u:***@") && !e.contains("secret"),
            "{e}"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        let r = redact_url("postgres://h/db?user=u&password=secret&sslmode=require");
        assert!(
            !r.contains("secret") && r.contains("sslmode=require"),
            "{r}"
        );
        let r = redact_url("postgres://u:sec ret@h:99999/db");
        assert_eq!(r, "postgres://u:***@h:99999/db");
        let config = VectorConfig::from_url("postgres://u:secret@h/db").unwrap();
        assert!(!format!("{config:?} {config}").contains("secret"));
    }

    #[test]
    fn dedup_keeps_the_last_record_at_the_first_position() {
        let r = |id: &str, x: f32| VectorRecord {
            id: id.into(),
            vector: vec![x],
            text: String::new(),
            metadata: Map::new(),
        };
        let records = [r("a", 1.0), r("b", 2.0), r("a", 3.0)];
        let out: Vec<(&str, f32)> = dedup(&records)
            .iter()
            .map(|r| (r.id.as_str(), r.vector[0]))
            .collect();
        assert_eq!(out, [("a", 3.0), ("b", 2.0)]);
    }

    #[test]
    fn parses_objects() {
        assert!(parse_object("", "m").unwrap().is_empty());
        assert!(parse_object("null", "m").unwrap().is_empty());
        assert_eq!(parse_object(r#"{"a":1}"#, "m").unwrap()["a"], 1);
        assert!(matches!(
            parse_object("[1]", "m"),
            Err(VectorError::Invalid(m)) if m.contains("got list")
        ));
        assert!(matches!(
            parse_object("{", "m"),
            Err(VectorError::Invalid(_))
        ));
    }
}
