//! The embedded vector store: sqlite-vec in Weft's SQLite file, through
//! sqlx.
//!
//! sqlite-vec is compiled into the binary (the `sqlite-vec` crate builds its
//! C source with `SQLITE_CORE`, so it calls the `sqlite3_*` functions of the
//! libsqlite3 that sqlx links, `libsqlite3-sys` with `bundled`) and
//! registered with `sqlite3_auto_extension` before the first connection is
//! opened, so every connection of every pool has it.
//!
//! ## Layout
//!
//! - `weft_vector_collections(id, name, dimension, version)`: the catalog.
//!   `version` counts the collection's upserts.
//! - `weft_vec_<id>(rid, id, embedding, text, metadata, ver)`: the records
//!   of collection `<id>`; `embedding` is the vector as little-endian `f32`s,
//!   the format sqlite-vec reads; `metadata` is SQLite's binary JSON
//!   (`jsonb()`: filters do not re-parse text; `json()` gives the text
//!   back as written, key order included); `ver` is the `version` of the
//!   upsert that last wrote the row (indexed).
//!
//! ## Search
//!
//! Every search is exact: it returns what [`SqliteStore::search_exact`]
//! returns, the brute-force `vec_distance_cosine` scan of the records
//! table ordered by distance then id, with the filter in its `WHERE` (only
//! matching rows are ranked, so a filter never starves `top-k`). Searches
//! with a filter run that scan. Searches without one go through an
//! in-memory index first, because at 100 000 × 384 the scan takes about
//! 110 ms and sqlite-vec's own `vec0` k-nearest search 43 ms on an idle
//! core, against a 20 ms target (`BENCHMARKS.md` section 7):
//!
//! - **The index** ([`Index`], one per collection, built on the first
//!   search, about `dimension + 40` bytes per record): each vector divided
//!   by its norm and rounded to `i8` steps of its own size. A search rounds
//!   the normalized query to `i16` steps and takes integer dot products,
//!   which give each record's cosine similarity up to a proven error bound
//!   ([`Index::candidates`]); a record whose upper bound is below the
//!   `k`-th best lower bound cannot be in the top `k`. The few records left
//!   (tens, for 100 000 random vectors) are ranked by the same SQL as the
//!   scan, restricted to them, so scores, order and ties are the scan's.
//! - **Freshness.** The search reads the collection's `version` and the
//!   rows the index lacks (`ver >` the index's version) in the same read
//!   transaction as the final ranking, so it sees one snapshot, including
//!   writes from other connections and processes. After an upsert, the
//!   next search re-quantizes only the rows that upsert wrote. If another
//!   search has already moved the index past this transaction's snapshot,
//!   the search falls back to the scan.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection};

mod prefilter;

use super::{
    Collection, CollectionCache, Match, SearchRequest, VectorError, VectorRecord, VectorStore,
    db_error, dedup, finish_matches, not_found, search_dimension, sql, upsert_dimension,
    validate_search, validate_upsert,
};
use prefilter::{Index, QueryCode};

/// Registers sqlite-vec with every SQLite connection opened from now on
/// (process-wide, once). Returns why it failed, if it did.
pub fn register_sqlite_vec() -> Result<(), VectorError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            type Init = unsafe extern "C" fn(
                *mut libsqlite3_sys::sqlite3,
                *mut *mut std::ffi::c_char,
                *const libsqlite3_sys::sqlite3_api_routines,
            ) -> std::ffi::c_int;
            #[allow(unsafe_code)]
            // SAFETY: `sqlite3_vec_init` is defined in sqlite-vec.c as
            // `int sqlite3_vec_init(sqlite3*, char**, const sqlite3_api_routines*)`,
            // exactly `Init`; the crate declares it without parameters, so
            // the transmute only restores its real signature (both are
            // `extern "C"` function pointers of the same size). SQLite calls
            // it with those arguments for each new connection.
            // `sqlite3_auto_extension` just records the pointer under
            // SQLite's own mutex (libsqlite3-sys builds SQLite threadsafe),
            // so calling it from any thread is sound; `OnceLock` makes it
            // happen once. Only connections opened afterwards get the
            // extension: every pool of this module is opened after this.
            let rc = unsafe {
                let init = std::mem::transmute::<unsafe extern "C" fn(), Init>(
                    sqlite_vec::sqlite3_vec_init,
                );
                libsqlite3_sys::sqlite3_auto_extension(Some(init))
            };
            if rc == libsqlite3_sys::SQLITE_OK {
                Ok(())
            } else {
                Err(format!(
                    "registering the sqlite-vec extension failed (SQLite code {rc})"
                ))
            }
        })
        .clone()
        .map_err(VectorError::Failed)
}

/// A collection's in-memory index, shared by the searches using it and
/// locked while one brings it up to date.
type IndexSlot = Arc<tokio::sync::Mutex<Arc<Index>>>;

/// The embedded store (sqlite-vec).
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// `sqlite:PATH`, for messages.
    name: String,
    /// Collections already seen (never dropped, so never stale).
    collections: CollectionCache,
    /// The index of each collection searched without a filter so far, by
    /// collection id.
    indexes: Mutex<HashMap<i64, IndexSlot>>,
}

const CATALOG: &str = "CREATE TABLE IF NOT EXISTS weft_vector_collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dimension INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
)";

impl SqliteStore {
    /// Opens (creating if needed) the database file and its directory.
    pub async fn open(path: &Path) -> Result<SqliteStore, VectorError> {
        let name = format!("sqlite:{}", path.display());
        register_sqlite_vec()?;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                VectorError::Failed(format!(
                    "cannot create the directory {} of the vector store {name}: {e}",
                    dir.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // Scans read every vector: map the file instead of copying
            // pages through SQLite's small page cache.
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-65536");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| {
                VectorError::Failed(format!("cannot open the vector store {name}: {e}"))
            })?;
        let version: String = sqlx::query_scalar("SELECT vec_version()")
            .fetch_one(&pool)
            .await
            .map_err(|e| {
                VectorError::Failed(format!(
                    "the vector store {name} has no sqlite-vec extension: {e}"
                ))
            })?;
        tracing::debug!(store = %name, sqlite_vec = %version, "vector store opened");
        sqlx::query(CATALOG)
            .execute(&pool)
            .await
            .map_err(|e| db_error(&name, "creating the collection catalog", e))?;
        Ok(SqliteStore {
            pool,
            name,
            collections: CollectionCache::default(),
            indexes: Mutex::new(HashMap::new()),
        })
    }

    async fn lookup(
        &self,
        conn: &mut SqliteConnection,
        name: &str,
    ) -> Result<Option<Collection>, VectorError> {
        if let Some(c) = self.collections.get(name) {
            return Ok(Some(c));
        }
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, dimension FROM weft_vector_collections WHERE name = ?1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| db_error(&self.name, &format!("looking up `{name}`"), e))?;
        Ok(row.map(|(id, dimension)| Collection {
            id,
            dimension: usize::try_from(dimension).unwrap_or_default(),
        }))
    }

    /// Creates collection `name`'s catalog row and records table (in the
    /// caller's transaction).
    async fn create(
        &self,
        conn: &mut SqliteConnection,
        name: &str,
        dimension: usize,
    ) -> Result<Collection, VectorError> {
        let fail = |e| db_error(&self.name, &format!("creating collection `{name}`"), e);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO weft_vector_collections (name, dimension) VALUES (?1, ?2) RETURNING id",
        )
        .bind(name)
        .bind(dimension as i64)
        .fetch_one(&mut *conn)
        .await
        .map_err(fail)?;
        let c = Collection { id, dimension };
        let records = c.table();
        for statement in [
            format!(
                "CREATE TABLE {records} (
                    rid INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    embedding BLOB NOT NULL,
                    text TEXT NOT NULL,
                    metadata BLOB NOT NULL,
                    ver INTEGER NOT NULL
                )"
            ),
            format!("CREATE INDEX {records}_ver ON {records} (ver)"),
        ] {
            sqlx::query(sql(statement))
                .execute(&mut *conn)
                .await
                .map_err(fail)?;
        }
        Ok(c)
    }

    /// Writes `records` (deduplicated, not empty) in the caller's
    /// transaction, creating the collection if needed, under a new version
    /// of the collection.
    async fn write(
        &self,
        conn: &mut SqliteConnection,
        collection: &str,
        records: &[&VectorRecord],
    ) -> Result<Collection, VectorError> {
        let fail = |e| db_error(&self.name, &format!("upserting into `{collection}`"), e);
        let first = records[0];
        let dimension = first.vector.len();
        let c = match self.lookup(conn, collection).await? {
            Some(c) => c,
            None => self.create(conn, collection, dimension).await?,
        };
        if c.dimension != dimension {
            return Err(upsert_dimension(
                collection,
                c.dimension,
                &first.id,
                dimension,
            ));
        }
        let version: i64 = sqlx::query_scalar(
            "UPDATE weft_vector_collections SET version = version + 1 WHERE id = ?1
             RETURNING version",
        )
        .bind(c.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(fail)?;
        let upsert_record = sql(format!(
            "INSERT INTO {} (id, embedding, text, metadata, ver)
             VALUES (?1, ?2, ?3, jsonb(?4), ?5)
             ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding,
                 text = excluded.text, metadata = excluded.metadata, ver = excluded.ver",
            c.table()
        ));
        for r in records {
            sqlx::query(upsert_record.clone())
                .bind(&r.id)
                .bind(blob(&r.vector))
                .bind(&r.text)
                .bind(Value::Object(r.metadata.clone()).to_string())
                .bind(version)
                .execute(&mut *conn)
                .await
                .map_err(fail)?;
        }
        Ok(c)
    }

    /// Collection `name`, or `not-found`.
    async fn existing(&self, name: &str) -> Result<Collection, VectorError> {
        if let Some(c) = self.collections.get(name) {
            return Ok(c);
        }
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(&self.name, &format!("searching `{name}`"), e))?;
        let c = self
            .lookup(&mut conn, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        self.collections.insert(name, c);
        Ok(c)
    }

    /// The brute-force search: `vec_distance_cosine` over every record that
    /// passes the filter, ordered by distance then id. What filtered
    /// searches use; unfiltered ones return the same through the index.
    pub async fn search_exact(&self, request: &SearchRequest) -> Result<Vec<Match>, VectorError> {
        validate_search(request)?;
        let c = self.existing(&request.collection).await?;
        self.exact(c, request).await
    }

    async fn exact(
        &self,
        c: Collection,
        request: &SearchRequest,
    ) -> Result<Vec<Match>, VectorError> {
        check_query(c, request)?;
        let (filter, params) = filter_sql(request, 3);
        let text = format!(
            "SELECT id, vec_distance_cosine(embedding, ?1) AS distance, text, json(metadata)
             FROM {} WHERE {filter} ORDER BY distance, id LIMIT ?2",
            c.table()
        );
        let query = sqlx::query(sql(text))
            .bind(blob(&request.vector))
            .bind(i64::from(request.top_k));
        let rows = bind_all(query, params)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| {
                db_error(
                    &self.name,
                    &format!("searching `{}`", request.collection),
                    e,
                )
            })?;
        finish_matches(decode(rows)?, request)
    }

    /// An unfiltered search through the index; `None` when the scan must
    /// answer instead (the query's norm is outside [`prefilter::REGULAR_NORM2`], or the
    /// index is already past this search's snapshot).
    async fn indexed(
        &self,
        c: Collection,
        request: &SearchRequest,
    ) -> Result<Option<Vec<Match>>, VectorError> {
        check_query(c, request)?;
        let Some(query) = QueryCode::new(&request.vector) else {
            return Ok(None);
        };
        let fail = |e| {
            db_error(
                &self.name,
                &format!("searching `{}`", request.collection),
                e,
            )
        };
        // One read transaction: the version, the index's catch-up and the
        // ranking see one snapshot.
        let mut tx = self.pool.begin().await.map_err(fail)?;
        let result = self.indexed_in(&mut tx, c, request, query).await;
        // It only read: nothing to commit.
        let _ = tx.rollback().await;
        result
    }

    async fn indexed_in(
        &self,
        conn: &mut SqliteConnection,
        c: Collection,
        request: &SearchRequest,
        query: QueryCode,
    ) -> Result<Option<Vec<Match>>, VectorError> {
        let doing = format!("searching `{}`", request.collection);
        let fail = |e| db_error(&self.name, &doing, e);
        let version: i64 =
            sqlx::query_scalar("SELECT version FROM weft_vector_collections WHERE id = ?1")
                .bind(c.id)
                .fetch_one(&mut *conn)
                .await
                .map_err(fail)?;
        let Some(index) = self.index_at(conn, c, version, &doing).await? else {
            return Ok(None);
        };
        let k = request.top_k as usize;
        // About 5 ms of CPU at 100 000 × 384: off the async workers.
        let candidates = tokio::task::spawn_blocking(move || index.candidates(&query, k))
            .await
            .map_err(|e| VectorError::Failed(format!("{doing}: the index scan failed: {e}")))?;
        // The scan's query, restricted to the candidates.
        let text = format!(
            "SELECT id, vec_distance_cosine(embedding, ?1) AS distance, text, json(metadata)
             FROM {} WHERE rid IN (SELECT value FROM json_each(?3))
             ORDER BY distance, id LIMIT ?2",
            c.table()
        );
        let rows = sqlx::query(sql(text))
            .bind(blob(&request.vector))
            .bind(i64::from(request.top_k))
            .bind(Value::from(candidates).to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(fail)?;
        Ok(Some(finish_matches(decode(rows)?, request)?))
    }

    /// Collection `c`'s index brought up to `version` (the collection's
    /// version in `conn`'s transaction) from the rows written since, or
    /// `None` if it is already past it.
    async fn index_at(
        &self,
        conn: &mut SqliteConnection,
        c: Collection,
        version: i64,
        doing: &str,
    ) -> Result<Option<Arc<Index>>, VectorError> {
        let slot = Arc::clone(
            self.indexes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(c.id)
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(Arc::new(Index::new(c.dimension))))
                }),
        );
        let mut current = slot.lock().await;
        if current.version > version {
            return Ok(None);
        }
        if current.version < version {
            let fail = |e| db_error(&self.name, doing, e);
            // Copies the index only if a search still holds this version.
            let index = Arc::make_mut(&mut current);
            let text = format!("SELECT rid, embedding FROM {} WHERE ver > ?1", c.table());
            let query = sqlx::query(sql(text)).bind(index.version);
            let mut rows = query.fetch(&mut *conn);
            while let Some(row) = rows.try_next().await.map_err(fail)? {
                let rid: i64 = row.try_get(0).map_err(fail)?;
                let embedding: &[u8] = row.try_get(1).map_err(fail)?;
                index.put(rid, embedding)?;
            }
            index.version = version;
        }
        Ok(Some(Arc::clone(&current)))
    }
}

fn check_query(c: Collection, request: &SearchRequest) -> Result<(), VectorError> {
    if request.vector.len() != c.dimension {
        return Err(search_dimension(
            &request.collection,
            c.dimension,
            request.vector.len(),
        ));
    }
    Ok(())
}

/// A vector as sqlite-vec's `float32` blob (little-endian `f32`s).
fn blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A bound value of a filter.
#[derive(Clone)]
enum Param {
    Text(String),
    Int(i64),
    Real(f64),
}

/// The filter as a SQL condition on the records table's `metadata`, with
/// its parameters numbered from `?first`. `1` when there is no filter.
///
/// Each field is a test of the JSON type and value of the top-level field
/// (`json_type(metadata, '$."key"')` and `->>`, or an `EXISTS` over
/// `json_each(metadata)` for keys a path cannot name), so `true` never
/// equals `1` and a string never equals a number.
fn filter_sql(request: &SearchRequest, first: usize) -> (String, Vec<Param>) {
    let mut terms = Vec::new();
    let mut params = Vec::new();
    for (key, value) in &request.filter {
        // A key that JSON writes as it is can be looked up by path, which
        // is much faster than `json_each`; the others (empty, or with `"`,
        // `\` or control characters) are compared with `json_each`'s
        // unescaped keys.
        let by_path =
            !key.is_empty() && !key.chars().any(|c| c == '"' || c == '\\' || c.is_control());
        params.push(Param::Text(if by_path {
            format!("$.\"{key}\"")
        } else {
            key.clone()
        }));
        let key_param = first + params.len() - 1;
        let (kind, value) = match value {
            Value::String(s) => ("= 'text'", Some(Param::Text(s.clone()))),
            Value::Number(x) => (
                "IN ('integer', 'real')",
                Some(match x.as_i64() {
                    Some(i) => Param::Int(i),
                    None => Param::Real(x.as_f64().unwrap_or(f64::NAN)),
                }),
            ),
            Value::Bool(true) => ("= 'true'", None),
            // Only scalars pass `validate_search`.
            _ => ("= 'false'", None),
        };
        let equal = value.map(|v| {
            params.push(v);
            first + params.len() - 1
        });
        terms.push(match (by_path, equal) {
            (true, Some(v)) => format!(
                "(json_type(metadata, ?{key_param}) {kind} AND metadata ->> ?{key_param} = ?{v})"
            ),
            (true, None) => format!("json_type(metadata, ?{key_param}) {kind}"),
            (false, Some(v)) => format!(
                "EXISTS (SELECT 1 FROM json_each(metadata) WHERE key = ?{key_param} \
                 AND type {kind} AND atom = ?{v})"
            ),
            (false, None) => format!(
                "EXISTS (SELECT 1 FROM json_each(metadata) WHERE key = ?{key_param} AND type {kind})"
            ),
        });
    }
    if terms.is_empty() {
        ("1".to_string(), params)
    } else {
        (terms.join(" AND "), params)
    }
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_all(mut query: Query<'_>, params: Vec<Param>) -> Query<'_> {
    for p in params {
        query = match p {
            Param::Text(s) => query.bind(s),
            Param::Int(i) => query.bind(i),
            Param::Real(x) => query.bind(x),
        };
    }
    query
}

fn decode(
    rows: Vec<sqlx::sqlite::SqliteRow>,
) -> Result<Vec<(String, f64, String, String)>, VectorError> {
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| VectorError::Failed(format!("reading search results: {e}")))
}

#[async_trait::async_trait]
impl VectorStore for SqliteStore {
    async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<(), VectorError> {
        validate_upsert(collection, records)?;
        let records = dedup(records);
        if records.is_empty() {
            return Ok(());
        }
        let doing = format!("upserting into `{collection}`");
        let fail = |e| db_error(&self.name, &doing, e);
        // IMMEDIATE: take the write lock first (waiting up to the busy
        // timeout), so two creators of one collection cannot both miss it.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        match self.write(&mut tx, collection, &records).await {
            Ok(c) => {
                tx.commit().await.map_err(fail)?;
                self.collections.insert(collection, c);
                Ok(())
            }
            Err(e) => {
                // Now, not when the connection is next used: until then it
                // would hold the write lock.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn search(&self, request: &SearchRequest) -> Result<Vec<Match>, VectorError> {
        validate_search(request)?;
        let c = self.existing(&request.collection).await?;
        if request.filter.is_empty()
            && let Some(matches) = self.indexed(c, request).await?
        {
            return Ok(matches);
        }
        self.exact(c, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn filters_on_any_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("weft.db"))
            .await
            .unwrap();
        let keys = [
            "plain",
            "a.b",
            "[0]",
            "$",
            "it's",
            "sp ace",
            "é",
            "",
            "q\"uote",
            "back\\slash",
            "new\nline",
        ];
        let records: Vec<VectorRecord> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let mut metadata = serde_json::Map::new();
                metadata.insert(key.to_string(), Value::from(i));
                metadata.insert("other".into(), Value::from(key.to_string()));
                VectorRecord {
                    id: format!("r{i}"),
                    vector: vec![1.0, i as f32],
                    text: String::new(),
                    metadata,
                }
            })
            .collect();
        store.upsert("keys", &records).await.unwrap();
        for (i, key) in keys.iter().enumerate() {
            for (field, value, hit) in [
                (key.to_string(), Value::from(i), true),
                (key.to_string(), Value::from(i as f64), true),
                (key.to_string(), Value::from(i.to_string()), false),
                ("other".to_string(), Value::from(key.to_string()), true),
            ] {
                let mut filter = serde_json::Map::new();
                filter.insert(field.clone(), value.clone());
                let found = store
                    .search(&SearchRequest {
                        collection: "keys".into(),
                        vector: vec![1.0, 0.0],
                        top_k: 20,
                        filter,
                        min_score: None,
                    })
                    .await
                    .unwrap();
                let ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
                let want = format!("r{i}");
                let expected: Vec<&str> = if hit { vec![&want] } else { vec![] };
                assert_eq!(ids, expected, "{field:?} = {value}");
            }
        }
    }
}
