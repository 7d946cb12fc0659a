//! Vector search at the scale of issue 3: 100 000 vectors of dimension 384,
//! top-10, through the `VectorStore` API (target for the embedded store:
//! ≤ 20 ms per search).
//!
//! The vectors are random (SplitMix64, fixed seeds): *uniform* components
//! in [-1, 1), the worst case for approximate indexes (every vector is
//! nearly orthogonal to every other), and *clustered* ones (1 000 random
//! centres plus ±0.5 of noise per component), closer to real embeddings.
//! Each record has the metadata `{"bucket": i % 10, "even": i % 2 == 0}`.
//!
//! 1. The embedded store (sqlite-vec, in a temporary directory): upserts of
//!    1 000 records; the first search (which builds the in-memory index);
//!    `search` (index, then the exact ranking of the candidates) against
//!    `search_exact` (the brute-force scan), which must return the same
//!    matches; filtered searches (exact scans of the records that pass);
//!    a search right after an upsert (the index catches up); and, in raw
//!    SQL on the same rows, sqlite-vec's own `vec0` k-nearest search.
//! 2. pgvector (a fresh schema, dropped at the end): a bulk load (upserts
//!    without the HNSW index, then `CREATE INDEX`); `search` through the
//!    index with its recall@10 against `search_exact`, also with larger
//!    `hnsw.ef_search` values; the filtered search (an exact scan); upserts
//!    with the index maintained row by row, as the store runs them; the
//!    same searches on clustered vectors.
//!
//! `cargo bench -p weft-runtime --bench vector_search`
//!
//! `WEFT_BENCH_SCALE=0.1` loads 10 000 vectors instead. `WEFT_BENCH_VARIANTS
//! =sqlite` (or `=pgvector`) runs one store. pgvector needs
//! `WEFT_TEST_PGVECTOR_URL` (`bash tests/testbeds.sh start`, then
//! `eval "$(bash tests/testbeds.sh env)"`).

mod common;

use std::collections::HashSet;
use std::error::Error;
use std::time::Instant;

use common::{Stats, fmt, footer, header, ms, report, rounds, runtime, scaled};
use serde_json::{Value, json};
use sqlx::Connection;
use weft_runtime::capabilities::vectors::{
    Match, PostgresStore, SearchRequest, SqliteStore, VectorRecord, VectorStore,
};

type Res<T> = Result<T, Box<dyn Error>>;

const DIM: usize = 384;
const TOP_K: u32 = 10;
/// Searches per round, each with its own query vector.
const QUERIES: usize = 50;
/// Records per upsert.
const BATCH: usize = 1000;
const UNIFORM: &str = "uniform";
const CLUSTERED: &str = "clustered";
const CENTRES: usize = 1000;

/// SplitMix64: small and reproducible (the vectors need nothing more).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.unit()).collect()
    }
}

fn uniform(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64(seed);
    (0..n).map(|_| rng.vector()).collect()
}

/// `n` vectors around [`CENTRES`] fixed centres, taking the centres in
/// turn from `first`.
fn clustered(n: usize, seed: u64, first: usize) -> Vec<Vec<f32>> {
    let centres = uniform(CENTRES, 0x5EED_C000);
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|i| {
            let centre = &centres[(first + i * 37) % CENTRES];
            centre.iter().map(|x| x + 0.5 * rng.unit()).collect()
        })
        .collect()
}

fn records(vectors: Vec<Vec<f32>>) -> Vec<VectorRecord> {
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, vector)| VectorRecord {
            id: format!("v{i:06}"),
            vector,
            text: String::new(),
            metadata: json!({"bucket": i % 10, "even": i % 2 == 0})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

fn requests(collection: &str, vectors: Vec<Vec<f32>>, filter: Value) -> Vec<SearchRequest> {
    let filter = filter.as_object().cloned().unwrap_or_default();
    vectors
        .into_iter()
        .map(|vector| SearchRequest {
            collection: collection.into(),
            vector,
            top_k: TOP_K,
            filter: filter.clone(),
            min_score: None,
        })
        .collect()
}

/// Upserts `records` in batches of [`BATCH`]; prints the throughput.
async fn load(
    store: &dyn VectorStore,
    collection: &str,
    records: &[VectorRecord],
    how: &str,
) -> Res<()> {
    let mut batches = Vec::new();
    let start = Instant::now();
    for chunk in records.chunks(BATCH) {
        let t = Instant::now();
        store.upsert(collection, chunk).await?;
        batches.push(t.elapsed());
    }
    let total = start.elapsed();
    let batch = Stats::of(&mut batches);
    println!(
        "{:<52} {:>9.0} records/s  ({} in all; per upsert of {BATCH}: median {}, max {})",
        format!("insert {} records{how}", records.len()),
        records.len() as f64 / total.as_secs_f64(),
        fmt(total),
        fmt(batch.median),
        fmt(batch.max)
    );
    Ok(())
}

/// The ids each query found, best first.
type Ids = Vec<Vec<String>>;

fn ids(matches: Vec<Match>) -> Vec<String> {
    matches.into_iter().map(|m| m.id).collect()
}

/// Runs `search` once over `requests` (untimed; its ids are returned), then
/// `rounds()` timed rounds, and reports.
async fn time(
    name: &str,
    requests: &[SearchRequest],
    mut search: impl AsyncFnMut(&SearchRequest) -> Res<Vec<String>>,
) -> Res<(Stats, Ids)> {
    let mut found = Vec::with_capacity(requests.len());
    for r in requests {
        found.push(search(r).await?);
    }
    let mut stats = Vec::new();
    for _ in 0..rounds() {
        let mut samples = Vec::with_capacity(requests.len());
        for r in requests {
            let t = Instant::now();
            search(r).await?;
            samples.push(t.elapsed());
        }
        stats.push(Stats::of(&mut samples));
    }
    Ok((report(name, &stats), found))
}

/// Mean share of `exact`'s ids that `approx` found.
fn recall(approx: &[Vec<String>], exact: &[Vec<String>]) -> f64 {
    let mut total = 0.0;
    for (a, e) in approx.iter().zip(exact) {
        let a: HashSet<&String> = a.iter().collect();
        let hits = e.iter().filter(|id| a.contains(id)).count();
        total += hits as f64 / e.len().max(1) as f64;
    }
    total / exact.len().max(1) as f64
}

fn wanted(variant: &str) -> bool {
    std::env::var("WEFT_BENCH_VARIANTS")
        .map(|v| v.split(',').any(|w| variant.contains(w.trim())))
        .unwrap_or(true)
}

async fn sqlite(data: &[VectorRecord]) -> Res<()> {
    println!("-- 1. embedded store (sqlite-vec), {} × {DIM}", data.len());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("weft.db");
    let store = SqliteStore::open(&path).await?;
    load(&store, UNIFORM, data, "").await?;
    let size: u64 = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "   database files: {:.1} MiB",
        size as f64 / (1024.0 * 1024.0)
    );

    let plain = requests(UNIFORM, uniform(QUERIES, 0x5EED_0002), json!({}));
    let t = Instant::now();
    store.search(&plain[0]).await?;
    println!(
        "{:<52} {:>11}",
        "first search (builds the in-memory index)",
        fmt(t.elapsed())
    );
    let (indexed, _) = time(
        "top-10, `search` (index, then exact ranking)",
        &plain,
        async |r| Ok(ids(store.search(r).await?)),
    )
    .await?;
    let (scan, exact) = time("top-10, `search_exact` (scan)", &plain, async |r| {
        Ok(ids(store.search_exact(r).await?))
    })
    .await?;
    let mut same = 0;
    for r in &plain {
        same += usize::from(store.search(r).await? == store.search_exact(r).await?);
    }
    println!(
        "   `search` and `search_exact` returned the same matches (ids, scores, order) for {same} of {} queries",
        plain.len()
    );
    let mut filtered = Vec::new();
    for (filter, share) in [
        (json!({"bucket": 3}), "10 %"),
        (json!({"even": true}), "50 %"),
    ] {
        let requests = requests(UNIFORM, uniform(QUERIES, 0x5EED_0003), filter);
        let name = format!("top-10, filter passing {share} (scan of those)");
        let (stats, _) = time(&name, &requests, async |r| Ok(ids(store.search(r).await?))).await?;
        filtered.push(stats);
    }

    // Freshness: each round rewrites 1 000 records (same vectors, new
    // version), then times the next search, which re-quantizes them.
    let mut after = Vec::new();
    for round in 0..rounds() {
        let at = (round * 7919 * BATCH) % (data.len() - BATCH);
        store.upsert(UNIFORM, &data[at..at + BATCH]).await?;
        let t = Instant::now();
        store.search(&plain[round % plain.len()]).await?;
        after.push(t.elapsed());
    }
    let after = Stats::of(&mut after);
    println!(
        "{:<52} median {:>11}  max {:>11}  (n={})",
        "top-10 right after an upsert of 1 000 records",
        fmt(after.median),
        fmt(after.max),
        after.n
    );
    let vec0 = vec0(&path, &plain, &exact).await?;
    println!(
        "   summary: `search` {:.2} ms (p99 {:.2} ms; target ≤ 20 ms: {:.2}×), scan {:.1} ms, vec0 {:.1} ms; filtered 10 % {:.1} ms, 50 % {:.1} ms",
        ms(indexed.median),
        ms(indexed.p99),
        ms(indexed.median) / 20.0,
        ms(scan.median),
        ms(vec0.median),
        ms(filtered[0].median),
        ms(filtered[1].median)
    );
    Ok(())
}

/// sqlite-vec's `vec0` k-nearest search (a chunked scan, in C) on a copy
/// of the same vectors, in raw SQL: the alternative to the index.
async fn vec0(path: &std::path::Path, plain: &[SearchRequest], exact: &Ids) -> Res<Stats> {
    let mut conn = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-65536"),
    )
    .await?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM weft_vector_collections WHERE name = ?1")
        .bind(UNIFORM)
        .fetch_one(&mut conn)
        .await?;
    let t = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE VIRTUAL TABLE bench_vec0
             USING vec0(embedding float[{DIM}] distance_metric=cosine);
         INSERT INTO bench_vec0 (rowid, embedding) SELECT rid, embedding FROM weft_vec_{id};"
    )))
    .execute(&mut conn)
    .await?;
    println!(
        "{:<52} {:>11}",
        "copy the vectors into a vec0 table",
        fmt(t.elapsed())
    );
    let text = format!(
        "WITH nearest AS (
             SELECT rowid, distance FROM bench_vec0 WHERE embedding MATCH ?1 AND k = {TOP_K})
         SELECT r.id FROM nearest JOIN weft_vec_{id} r ON r.rid = nearest.rowid
         ORDER BY nearest.distance, r.id"
    );
    let (stats, found) = time("top-10, vec0 k-nearest (raw SQL)", plain, async |r| {
        let blob: Vec<u8> = r.vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(text.clone()))
            .bind(blob)
            .fetch_all(&mut conn)
            .await?)
    })
    .await?;
    println!(
        "   vec0 found the scan's ids for {} of {} queries",
        found.iter().zip(exact).filter(|(a, b)| a == b).count(),
        exact.len()
    );
    Ok(stats)
}

async fn pgvector(data: &[VectorRecord]) -> Res<()> {
    println!(
        "-- 2. pgvector, {} × {DIM}, HNSW (vector_cosine_ops, m 16, ef_construction 64)",
        data.len()
    );
    let admin = std::env::var("WEFT_TEST_PGVECTOR_URL").map_err(|_| {
        "WEFT_TEST_PGVECTOR_URL is not set: start pgvector with `bash tests/testbeds.sh start` \
         and `eval \"$(bash tests/testbeds.sh env)\"` (or set WEFT_BENCH_VARIANTS=sqlite)"
    })?;
    let schema = format!("weft_bench_{}", std::process::id());
    let run = async |sql: String| -> Res<()> {
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        Ok(())
    };
    run(format!("CREATE SCHEMA {schema}")).await?;
    let sep = if admin.contains('?') { '&' } else { '?' };
    // The store's tables go to the first schema of the search path.
    let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}%2Cpublic");
    let result = pgvector_in(&url, data).await;
    run(format!("DROP SCHEMA {schema} CASCADE")).await?;
    result
}

async fn pgvector_in(url: &str, data: &[VectorRecord]) -> Res<()> {
    let store = PostgresStore::connect(url).await?;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    bulk_load(&store, &mut conn, UNIFORM, data).await?;
    let plain = requests(UNIFORM, uniform(QUERIES, 0x5EED_0002), json!({}));
    let (hnsw, exact, recall_40) = compare(&store, url, UNIFORM, &plain).await?;
    let filtered = requests(UNIFORM, uniform(QUERIES, 0x5EED_0003), json!({"bucket": 3}));
    let (fscan, _) = time(
        "top-10, filter passing 10 % (exact scan)",
        &filtered,
        async |r| Ok(ids(store.search(r).await?)),
    )
    .await?;
    // Row by row into the index (what every upsert pays), at this size.
    let mut more = records(uniform(2 * BATCH, 0x5EED_0006));
    for r in &mut more {
        r.id.insert_str(0, "more-");
    }
    load(&store, UNIFORM, &more, " more, HNSW index online").await?;

    println!("-- 2b. pgvector, {} clustered vectors", data.len());
    let clustered_records = records(clustered(data.len(), 0x5EED_0004, 0));
    bulk_load(&store, &mut conn, CLUSTERED, &clustered_records).await?;
    let near = requests(CLUSTERED, clustered(QUERIES, 0x5EED_0005, 500), json!({}));
    let (chnsw, _, crecall_40) = compare(&store, url, CLUSTERED, &near).await?;
    println!(
        "   summary: HNSW {:.2} ms (recall@10 {recall_40:.3}; clustered {:.2} ms, {crecall_40:.3}), exact {:.1} ms, filtered {:.1} ms",
        ms(hnsw.median),
        ms(chnsw.median),
        ms(exact.median),
        ms(fscan.median)
    );
    Ok(())
}

/// Loads `records` the fast way (inserting 100 000 rows into the HNSW index
/// one by one takes 4–11 minutes here): the first upsert creates the
/// collection and its index, the index is dropped while the rest goes in,
/// then built again in one `CREATE INDEX`, as the store defines it.
async fn bulk_load(
    store: &PostgresStore,
    conn: &mut sqlx::PgConnection,
    collection: &str,
    records: &[VectorRecord],
) -> Res<()> {
    store.upsert(collection, &records[..BATCH]).await?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM weft_vector_collections WHERE name = $1")
        .bind(collection)
        .fetch_one(&mut *conn)
        .await?;
    let table = format!("weft_vec_{id}");
    let run = async |conn: &mut sqlx::PgConnection, sql: String| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await
    };
    run(conn, format!("DROP INDEX {table}_hnsw")).await?;
    load(store, collection, &records[BATCH..], ", no index").await?;
    run(conn, "SET maintenance_work_mem = '1GB'".into()).await?;
    let t = Instant::now();
    run(
        conn,
        format!("CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"),
    )
    .await?;
    let build = t.elapsed();
    let (total, index): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT pg_total_relation_size('{table}'), pg_relation_size('{table}_hnsw')"
    )))
    .fetch_one(&mut *conn)
    .await?;
    println!(
        "{:<52} {:>11}  (maintenance_work_mem 1 GB; table {:.1} MiB, of which HNSW {:.1} MiB)",
        "build the HNSW index (CREATE INDEX)",
        fmt(build),
        total as f64 / 1048576.0,
        index as f64 / 1048576.0
    );
    Ok(())
}

/// Times `search` (HNSW, the default `ef_search` of 40) and `search_exact`
/// on `requests`, then `search` with larger `ef_search` values (set in the
/// URL); prints each recall@10. Returns the HNSW and exact statistics and
/// the recall at 40.
async fn compare(
    store: &PostgresStore,
    url: &str,
    collection: &str,
    requests: &[SearchRequest],
) -> Res<(Stats, Stats, f64)> {
    let (hnsw, approx) = time(
        &format!("top-10, `search` (HNSW, ef_search 40), {collection}"),
        requests,
        async |r| Ok(ids(store.search(r).await?)),
    )
    .await?;
    let (exact, truth) = time(
        &format!("top-10, `search_exact` (scan), {collection}"),
        requests,
        async |r| Ok(ids(store.search_exact(r).await?)),
    )
    .await?;
    let at_40 = recall(&approx, &truth);
    println!("   recall@10 at ef_search 40: {at_40:.3}");
    for ef in [100, 400] {
        let tuned = PostgresStore::connect(&format!("{url}%20-c%20hnsw.ef_search%3D{ef}")).await?;
        let (_, found) = time(
            &format!("top-10, `search` (HNSW, ef_search {ef}), {collection}"),
            requests,
            async |r| Ok(ids(tuned.search(r).await?)),
        )
        .await?;
        println!(
            "   recall@10 at ef_search {ef}: {:.3}",
            recall(&found, &truth)
        );
    }
    Ok((hnsw, exact, at_40))
}

fn main() -> Res<()> {
    header("vector_search: 384-d vectors, top-10 (sqlite-vec, pgvector)");
    let n = scaled(100_000);
    let t = Instant::now();
    let data = records(uniform(n, 0x5EED_0001));
    println!("   {n} vectors generated in {}", fmt(t.elapsed()));
    let rt = runtime()?;
    if wanted("sqlite") {
        rt.block_on(sqlite(&data))?;
    }
    if wanted("pgvector") {
        rt.block_on(pgvector(&data))?;
    }
    footer();
    Ok(())
}
