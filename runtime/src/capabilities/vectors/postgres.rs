//! The PostgreSQL vector store: pgvector, through sqlx.
//!
//! ## Layout (in the first schema of the connection's `search_path`)
//!
//! - `weft_vector_collections(id, name, dimension)`: the catalog.
//! - `weft_vec_<id>(id, embedding vector(D), text, metadata json)`: the
//!   records of collection `<id>`, with an HNSW index `USING hnsw
//!   (embedding vector_cosine_ops)` (pgvector indexes at most 2 000
//!   dimensions; larger collections are searched by exact scans).
//!   `metadata` is `json`, not `jsonb`, so that it comes back exactly as
//!   written, key order included, as from the embedded store.
//!
//! Connecting checks that the server offers pgvector and runs `CREATE
//! EXTENSION IF NOT EXISTS vector` and the catalog's `CREATE TABLE IF NOT
//! EXISTS` under an advisory lock (hosts starting together do not race).
//!
//! ## Search
//!
//! - Without a filter: `ORDER BY embedding <=> q LIMIT n` through the HNSW
//!   index. Approximate. `n` is `k + 1`, and grows while the last row ties
//!   with the `k`-th, so that ties at the cut are broken by id;
//!   `hnsw.ef_search` is raised to at least `n` for the transaction (the
//!   index returns at most `ef_search` rows). Recall grows with
//!   `ef_search` (default 40) at the cost of speed; a larger value for
//!   every search goes in the URL: `?options=-c%20hnsw.ef_search%3D200`.
//! - With a filter (or when a tie outgrows `ef_search`'s maximum of 1000,
//!   or above 2 000 dimensions): an exact scan of the matching rows ordered
//!   by distance then id. The subquery's `OFFSET 0` keeps the planner from
//!   using the HNSW index there: pgvector 0.6 filters *after* the index has
//!   produced its `ef_search` candidates, which would starve `top-k`
//!   whenever the matching rows are not among the nearest.
//!
//! Ids are ordered `COLLATE "C"` (byte order, as SQLite's `BINARY`),
//! whatever the database's collation.

use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Postgres, Row, SqlStr};

use super::{
    Collection, CollectionCache, Match, SearchRequest, VectorError, VectorRecord, VectorStore,
    cut_settled, db_error, dedup, finish_matches, not_found, redact_url, search_dimension, sql,
    upsert_dimension, validate_search, validate_upsert,
};

/// pgvector's HNSW index takes at most this many dimensions.
const HNSW_MAX_DIMENSION: usize = 2000;
/// pgvector's default `hnsw.ef_search`.
const DEFAULT_EF_SEARCH: usize = 40;
/// pgvector's largest `hnsw.ef_search`.
const MAX_EF_SEARCH: usize = 1000;
/// Records per `INSERT` statement of an upsert.
const BATCH: usize = 500;
/// Key of the advisory lock around schema setup ("weftvecs" in ASCII).
const SETUP_LOCK: i64 = 0x7765_6674_7665_6373;

/// The pgvector store.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL without its password, for messages.
    name: String,
    /// Collections already seen (never dropped, so never stale).
    collections: CollectionCache,
}

impl PostgresStore {
    /// Connects (one connection now, up to 5 on demand), checks pgvector,
    /// and creates the extension and the catalog if needed.
    pub async fn connect(url: &str) -> Result<PostgresStore, VectorError> {
        let name = redact_url(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            VectorError::Invalid(format!("`{name}` is not a valid PostgreSQL URL: {e}"))
        })?;
        let unreachable =
            |e| VectorError::Failed(format!("cannot connect to the vector store {name}: {e}"));
        // One plain connection first: the pool would retry a refused
        // connection until its acquire timeout; this fails at once.
        PgConnection::connect_with(&options)
            .await
            .map_err(unreachable)?
            .close()
            .await
            .map_err(unreachable)?;
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        setup(&pool, &name).await?;
        Ok(PostgresStore {
            pool,
            name,
            collections: CollectionCache::default(),
        })
    }

    async fn lookup(
        &self,
        conn: &mut PgConnection,
        name: &str,
    ) -> Result<Option<Collection>, VectorError> {
        if let Some(c) = self.collections.get(name) {
            return Ok(Some(c));
        }
        let row: Option<(i64, i32)> =
            sqlx::query_as("SELECT id, dimension FROM weft_vector_collections WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| db_error(&self.name, &format!("looking up `{name}`"), e))?;
        Ok(row.map(|(id, dimension)| Collection {
            id,
            dimension: usize::try_from(dimension).unwrap_or_default(),
        }))
    }

    /// Collection `name`, created with `dimension` if it does not exist (in
    /// the caller's transaction). A concurrent creator's row wins: the
    /// `ON CONFLICT` waits for its transaction.
    async fn get_or_create(
        &self,
        conn: &mut PgConnection,
        name: &str,
        dimension: usize,
    ) -> Result<Collection, VectorError> {
        if let Some(c) = self.lookup(conn, name).await? {
            return Ok(c);
        }
        let fail = |e| db_error(&self.name, &format!("creating collection `{name}`"), e);
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO weft_vector_collections (name, dimension) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(dimension as i32)
        .fetch_optional(&mut *conn)
        .await
        .map_err(fail)?;
        let Some(id) = id else {
            return self.lookup(conn, name).await?.ok_or_else(|| {
                VectorError::Failed(format!(
                    "collection `{name}` vanished while it was being created in {}",
                    self.name
                ))
            });
        };
        let c = Collection { id, dimension };
        let table = c.table();
        sqlx::query(sql(format!(
            "CREATE TABLE {table} (
                id text PRIMARY KEY,
                embedding vector({dimension}) NOT NULL,
                text text NOT NULL,
                metadata json NOT NULL
            )"
        )))
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
        if dimension <= HNSW_MAX_DIMENSION {
            sqlx::query(sql(format!(
                "CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
            )))
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
        }
        Ok(c)
    }

    /// Writes `records` (deduplicated, not empty) in the caller's
    /// transaction, creating the collection if needed. One statement per
    /// batch: the vectors travel as one flat `real[]`, sliced per row.
    async fn write(
        &self,
        conn: &mut PgConnection,
        collection: &str,
        records: &[&VectorRecord],
    ) -> Result<Collection, VectorError> {
        let fail = |e| db_error(&self.name, &format!("upserting into `{collection}`"), e);
        let first = records[0];
        let dimension = first.vector.len();
        let c = self.get_or_create(conn, collection, dimension).await?;
        if c.dimension != dimension {
            return Err(upsert_dimension(
                collection,
                c.dimension,
                &first.id,
                dimension,
            ));
        }
        let statement = sql(format!(
            "INSERT INTO {} (id, embedding, text, metadata)
             SELECT r.id, ($4::real[])[((r.n - 1) * $5 + 1):(r.n * $5)]::vector, r.text,
                    r.metadata::json
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
                  AS r(id, text, metadata, n)
             ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding,
                 text = excluded.text, metadata = excluded.metadata",
            c.table()
        ));
        for batch in records.chunks(BATCH) {
            let ids: Vec<&str> = batch.iter().map(|r| r.id.as_str()).collect();
            let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
            let metadata: Vec<String> = batch
                .iter()
                .map(|r| Value::Object(r.metadata.clone()).to_string())
                .collect();
            let vectors: Vec<f32> = batch
                .iter()
                .flat_map(|r| r.vector.iter().copied())
                .collect();
            sqlx::query(statement.clone())
                .bind(ids)
                .bind(texts)
                .bind(metadata)
                .bind(vectors)
                .bind(dimension as i32)
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

    /// An exact search: every row that passes the filter is ranked (no
    /// index). What filtered searches use; public for the benchmark.
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
            "SELECT id, distance, text, metadata FROM (
                SELECT id, embedding <=> $1::real[]::vector AS distance, text,
                       metadata::text AS metadata
                FROM {} WHERE {filter}
                OFFSET 0
             ) AS candidates
             ORDER BY distance, id COLLATE \"C\" LIMIT $2",
            c.table()
        );
        let query = sqlx::query(sql(text))
            .bind(request.vector.clone())
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

    /// A search through the HNSW index (no filter). It fetches `k + 1`
    /// rows, and more while the last one ties with the `k`-th; `None` when
    /// the tie outgrows the largest `hnsw.ef_search`.
    async fn indexed(
        &self,
        c: Collection,
        request: &SearchRequest,
    ) -> Result<Option<Vec<Match>>, VectorError> {
        check_query(c, request)?;
        let k = request.top_k as usize;
        let text = sql(format!(
            "SELECT id, embedding <=> $1::real[]::vector AS distance, text, metadata::text
             FROM {} ORDER BY distance LIMIT $2",
            c.table()
        ));
        let mut limit = (k + 1).min(MAX_EF_SEARCH);
        loop {
            let rows = self.fetch_indexed(&text, request, limit).await?;
            if cut_settled(&rows, k, limit) {
                return Ok(Some(finish_matches(rows, request)?));
            }
            if limit >= MAX_EF_SEARCH {
                return Ok(None);
            }
            limit = (limit * 4).min(MAX_EF_SEARCH);
        }
    }

    /// The first `limit` rows of the index scan, with `hnsw.ef_search`
    /// raised to at least `limit` for the transaction (pgvector returns at
    /// most `ef_search` rows).
    async fn fetch_indexed(
        &self,
        text: &SqlStr,
        request: &SearchRequest,
        limit: usize,
    ) -> Result<Vec<(String, f64, String, String)>, VectorError> {
        let fail = |e| {
            db_error(
                &self.name,
                &format!("searching `{}`", request.collection),
                e,
            )
        };
        let query = sqlx::query(text.clone())
            .bind(request.vector.clone())
            .bind(limit as i64);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        let rows = async {
            // At least `limit`, never lower than what the session has (e.g.
            // `?options=-c%20hnsw.ef_search%3D200` in the URL).
            sqlx::query(
                "SELECT set_config('hnsw.ef_search', GREATEST($1::int,
                     COALESCE(NULLIF(current_setting('hnsw.ef_search', true), '')::int, $2::int)
                 )::text, true)",
            )
            .bind(limit as i32)
            .bind(DEFAULT_EF_SEARCH as i32)
            .execute(&mut *tx)
            .await?;
            query.fetch_all(&mut *tx).await
        }
        .await;
        match rows {
            Ok(rows) => {
                tx.commit().await.map_err(fail)?;
                decode(rows)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(fail(e))
            }
        }
    }
}

/// Checks pgvector and creates the extension and catalog if needed.
async fn setup(pool: &PgPool, name: &str) -> Result<(), VectorError> {
    let fail = |e| db_error(name, "setting up the vector tables", e);
    let mut tx = pool.begin().await.map_err(fail)?;
    match setup_in(&mut tx, name).await {
        Ok(()) => tx.commit().await.map_err(fail),
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn setup_in(tx: &mut PgConnection, name: &str) -> Result<(), VectorError> {
    let fail = |e| db_error(name, "setting up the vector tables", e);
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SETUP_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    let installed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')")
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
    if !installed {
        let available: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(fail)?;
        if !available {
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut *tx)
                .await
                .unwrap_or_default();
            return Err(VectorError::Failed(format!(
                "the PostgreSQL server of the vector store {name} (version {version}) does not \
                 have the pgvector extension (`vector`); install pgvector on it, or use the \
                 embedded store (`sqlite:PATH`)"
            )));
        }
        sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                VectorError::Failed(format!(
                    "cannot enable pgvector in the vector store {name} (`CREATE EXTENSION \
                     vector` needs the CREATE privilege on the database; run it once as its \
                     owner): {e}"
                ))
            })?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS weft_vector_collections (
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            dimension integer NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await
    .map_err(fail)?;
    Ok(())
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

/// The filter as a SQL condition on `metadata`, with its parameters
/// numbered from `$first`; `true` when there is no filter. Each field is
/// `(metadata -> key)::jsonb = value::jsonb`: the key is matched exactly,
/// and `jsonb` equality compares types (`true` is not `1`) and numbers
/// numerically (`1` is `1.0`).
fn filter_sql(request: &SearchRequest, first: usize) -> (String, Vec<String>) {
    let mut terms = Vec::new();
    let mut params = Vec::new();
    for (i, (key, value)) in request.filter.iter().enumerate() {
        let k = first + 2 * i;
        terms.push(format!("(metadata -> ${k})::jsonb = ${}::jsonb", k + 1));
        params.push(key.clone());
        params.push(value.to_string());
    }
    if terms.is_empty() {
        ("true".to_string(), params)
    } else {
        (terms.join(" AND "), params)
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn bind_all(mut query: Query<'_>, params: Vec<String>) -> Query<'_> {
    for p in params {
        query = query.bind(p);
    }
    query
}

fn decode(rows: Vec<PgRow>) -> Result<Vec<(String, f64, String, String)>, VectorError> {
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
impl VectorStore for PostgresStore {
    async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<(), VectorError> {
        validate_upsert(collection, records)?;
        let records = dedup(records);
        if records.is_empty() {
            return Ok(());
        }
        let doing = format!("upserting into `{collection}`");
        let fail = |e| db_error(&self.name, &doing, e);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        match self.write(&mut tx, collection, &records).await {
            Ok(c) => {
                tx.commit().await.map_err(fail)?;
                self.collections.insert(collection, c);
                Ok(())
            }
            Err(e) => {
                // Now, not when the connection is next used: until then it
                // would hold its locks.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn search(&self, request: &SearchRequest) -> Result<Vec<Match>, VectorError> {
        validate_search(request)?;
        let c = self.existing(&request.collection).await?;
        if request.filter.is_empty()
            && c.dimension <= HNSW_MAX_DIMENSION
            && let Some(matches) = self.indexed(c, request).await?
        {
            return Ok(matches);
        }
        self.exact(c, request).await
    }
}
