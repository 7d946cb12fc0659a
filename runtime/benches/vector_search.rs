//! Vector search: 100 000 random vectors of dimension 384 (SplitMix64,
//! fixed seed, components uniform in [-1, 1)), top-10 searches with random
//! query vectors, through the `VectorStore` API.
//!
//! 1. The embedded store (sqlite-vec, in a temporary directory): insert
//!    throughput (upserts of 1 000 records, one transaction each); search
//!    through `vec0` (what `search` does) and by the brute-force
//!    `vec_distance_cosine` scan (`search_exact`), without and with a
//!    metadata filter that 10 % of the records pass. The two must return
//!    the same ids (both are exact).
//! 2. pgvector (a fresh schema, dropped at the end): insert throughput with
//!    the HNSW index maintained row by row (the store creates it with the
//!    collection), search through the index and recall@10 against the
//!    exact scan, the exact scan, the filtered search (exact), then the
//!    index rebuilt in bulk (`CREATE INDEX` on the loaded table: the build
//!    time) and searched again; then HNSW recall on clustered vectors
//!    (closer to real embeddings than uniform noise).
//!
//! `cargo bench -p weft-runtime --bench vector_search`
//!
//! `WEFT_BENCH_SCALE=0.1` loads 10 000 vectors instead; `WEFT_BENCH_VARIANTS
//! =sqlite` or `=pgvector` runs one store. pgvector needs
//! `WEFT_TEST_PGVECTOR_URL` (`bash tests/testbeds.sh start` and
//! `eval "$(bash tests/testbeds.sh env)"`).

mod common;

use std::collections::HashSet;
use std::error::Error;
use std::time::{Duration, Instant};

use common::{Stats, fmt, footer, header, measure, ms, runtime, sample_async, scaled};
use serde_json::{Map, Value, json};
use sqlx::Connection;
use weft_runtime::capabilities::vectors::{
    Match, PostgresStore, SearchRequest, SqliteStore, VectorRecord, VectorStore,
};

const DIM: usize = 384;
const TOP_K: u32 = 10;
/// Searches per round (each with its own query vector).
const QUERIES: usize = 20;
/// Records per upsert call.
const BATCH: usize = 1000;
const COLLECTION: &str = "bench";

/// SplitMix64: a small, fixed-seed generator (the vectors only need to be
/// reproducible, not strong).
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

fn records(n: usize) -> Vec<VectorRecord> {
    let mut rng = SplitMix64(0x5EED_0001);
    (0..n)
        .map(|i| VectorRecord {
            id: format!("v{i:06}"),
            vector: rng.vector(),
            text: String::new(),
            metadata: json!({"bucket": i % 10, "even": i % 2 == 0})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

fn queries(filter: Option<Value>) -> Vec<SearchRequest> {
    let mut rng = SplitMix64(0x5EED_0002);
    let filter: Map<String, Value> = filter
        .and_then(|f| f.as_object().cloned())
        .unwrap_or_default();
    (0..QUERIES)
        .map(|_| SearchRequest {
            collection: COLLECTION.into(),
            vector: rng.vector(),
            top_k: TOP_K,
            filter: filter.clone(),
            min_score: None,
        })
        .collect()
}

/// Loads `records` in upserts of `BATCH`; prints and returns the total time.
async fn load(
    store: &dyn VectorStore,
    records: &[VectorRecord],
) -> Result<Duration, Box<dyn Error>> {
    let mut batches = Vec::new();
    let start = Instant::now();
    for chunk in records.chunks(BATCH) {
        let t = Instant::now();
        store.upsert(COLLECTION, chunk).await?;
        batches.push(t.elapsed());
    }
    let total = start.elapsed();
    let per_batch = Stats::of(&mut batches);
    println!(
        "{:<48} total {:>11}  {:>9.0} records/s  (per upsert of {BATCH}: median {}, max {})",
        format!("insert {} records", records.len()),
        fmt(total),
        records.len() as f64 / total.as_secs_f64(),
        fmt(per_batch.median),
        fmt(per_batch.max)
    );
    Ok(total)
}

type SearchFn<'a> = &'a (
        dyn Fn(
    &'a SearchRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<Match>, String>> + Send + 'a>,
> + Sync
    );

/// The ids each query found, in order.
type Ids = Vec<Vec<String>>;

/// Times `search` over the query set (`rounds()` rounds after a warm-up)
/// and returns the statistics and the ids each query found.
fn time_search<'a>(
    rt: &tokio::runtime::Runtime,
    name: &str,
    requests: &'a [SearchRequest],
    search: SearchFn<'a>,
) -> Result<(Stats, Ids), Box<dyn Error>> {
    let mut found = Vec::with_capacity(requests.len());
    for r in requests {
        let matches = rt.block_on(search(r))?;
        found.push(matches.into_iter().map(|m| m.id).collect());
    }
    let mut failed = None;
    let mut i = 0;
    let stats = measure(name, || {
        rt.block_on(sample_async(requests.len(), async || {
            if let Err(e) = search(&requests[i % requests.len()]).await {
                failed.get_or_insert(e);
            }
            i += 1;
        }))
    });
    if let Some(e) = failed {
        return Err(format!("{name}: {e}").into());
    }
    Ok((stats, found))
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

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn sqlite(rt: &tokio::runtime::Runtime, data: &[VectorRecord]) -> Result<(), Box<dyn Error>> {
    println!(
        "-- 1. embedded store (sqlite-vec, {DIM}-d, {} vectors)",
        data.len()
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("weft.db");
    let store = rt.block_on(SqliteStore::open(&path))?;
    rt.block_on(load(&store, data))?;
    println!(
        "   database size: {:.1} MiB (records with their vectors, plus vec0's copy)",
        dir_size(dir.path()) as f64 / (1024.0 * 1024.0)
    );

    let plain = queries(None);
    let (knn, knn_ids) = time_search(rt, "top-10, vec0 knn (`search`)", &plain, &|r| {
        Box::pin(async { store.search(r).await.map_err(|e| e.to_string()) })
    })?;
    let (scan, scan_ids) = time_search(
        rt,
        "top-10, vec_distance_cosine scan (`search_exact`)",
        &plain,
        &|r| Box::pin(async { store.search_exact(r).await.map_err(|e| e.to_string()) }),
    )?;
    println!(
        "   vec0 and the scan found the same ids for {} of {} queries (both are exact)",
        knn_ids
            .iter()
            .zip(&scan_ids)
            .filter(|(a, b)| a == b)
            .count(),
        plain.len()
    );
    let tenth = queries(Some(json!({"bucket": 3})));
    let (f10, _) = time_search(
        rt,
        "top-10, filter passing 10 % (`search`: scan)",
        &tenth,
        &|r| Box::pin(async { store.search(r).await.map_err(|e| e.to_string()) }),
    )?;
    let half = queries(Some(json!({"even": true})));
    let (f50, _) = time_search(
        rt,
        "top-10, filter passing 50 % (`search`: scan)",
        &half,
        &|r| Box::pin(async { store.search(r).await.map_err(|e| e.to_string()) }),
    )?;
    println!(
        "   summary: vec0 knn {:.2} ms (target ≤ 20 ms: {:.2}× the target), scan {:.2} ms ({:.1}× vec0); filtered 10 % {:.2} ms, 50 % {:.2} ms",
        ms(knn.median),
        ms(knn.median) / 20.0,
        ms(scan.median),
        ms(scan.median) / ms(knn.median).max(1e-9),
        ms(f10.median),
        ms(f50.median)
    );
    rt.block_on(sqlite_experiments(
        &path,
        &plain,
        &scan_ids,
        &[&tenth, &half],
    ))
}

/// Raw SQL on the store's tables: what the alternatives to `search`'s
/// choices cost.
async fn sqlite_experiments(
    path: &std::path::Path,
    plain: &[SearchRequest],
    exact_ids: &[Vec<String>],
    filtered: &[&[SearchRequest]],
) -> Result<(), Box<dyn Error>> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    println!("-- 1b. embedded store: alternatives, in raw SQL on the same tables");
    let mut conn = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(path)
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-65536"),
    )
    .await?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM weft_vector_collections WHERE name = ?1")
        .bind(COLLECTION)
        .fetch_one(&mut conn)
        .await?;
    let table = format!("weft_vec_{id}");
    // Times `text` (binding ?1 = the query vector) over `requests`.
    async fn timed(
        conn: &mut SqliteConnection,
        name: &str,
        text: &str,
        requests: &[SearchRequest],
    ) -> Result<Vec<Vec<String>>, Box<dyn Error>> {
        let mut found = Vec::new();
        let mut rounds = Vec::new();
        for round in 0..=common::rounds() {
            let mut samples = Vec::new();
            for r in requests {
                let blob: Vec<u8> = r.vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(text.to_string())).bind(blob);
                let t = Instant::now();
                let ids: Vec<String> = query.fetch_all(&mut *conn).await?;
                samples.push(t.elapsed());
                if round == 0 {
                    found.push(ids);
                }
            }
            if round > 0 {
                rounds.push(Stats::of(&mut samples));
            }
        }
        common::report(name, &rounds);
        Ok(found)
    }

    // The filter alone: deciding which rows match.
    for (requests, (key, value)) in filtered.iter().zip([("bucket", "3"), ("even", "true")]) {
        let test = if value == "true" {
            "type = 'true'".to_string()
        } else {
            format!("type IN ('integer', 'real') AND atom = {value}")
        };
        let condition =
            format!("EXISTS (SELECT 1 FROM json_each(metadata) WHERE key = '{key}' AND {test})");
        let share = if key == "bucket" { "10 %" } else { "50 %" };
        timed(
            &mut conn,
            &format!("filter alone ({share}; json_each, every row)"),
            &format!(
                "SELECT CAST(count(*) AS TEXT) FROM {table} WHERE ?1 IS NOT NULL AND {condition}"
            ),
            &requests[..5],
        )
        .await?;
        // vec0 knn restricted to the matching rows (`rowid IN (...)`).
        timed(
            &mut conn,
            &format!("top-10, filter {share}, vec0 + rowid IN"),
            &format!(
                "WITH nearest AS (
                    SELECT rowid, distance FROM {table}_knn
                    WHERE embedding MATCH ?1 AND k = {TOP_K}
                      AND rowid IN (SELECT rid FROM {table} WHERE {condition}))
                 SELECT r.id FROM nearest JOIN {table} r ON r.rid = nearest.rowid
                 ORDER BY nearest.distance, r.id"
            ),
            requests,
        )
        .await?;
    }

    // Binary quantization: one bit per dimension in a vec0 `bit[384]`
    // table (Hamming distance), then the best `n` candidates rescored
    // exactly by cosine.
    let t = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE VIRTUAL TABLE bench_bits USING vec0(embedding bit[{DIM}]);
         INSERT INTO bench_bits (rowid, embedding)
             SELECT rid, vec_quantize_binary(embedding) FROM {table};"
    )))
    .execute(&mut conn)
    .await?;
    println!(
        "{:<48} {:>11}",
        "build a bit[384] vec0 table",
        fmt(t.elapsed())
    );
    for candidates in [100, 400, 1600] {
        let found = timed(
            &mut conn,
            &format!("bit[384] top-{candidates}, rescored by cosine"),
            &format!(
                "SELECT id FROM {table}
                 WHERE rid IN (SELECT rowid FROM bench_bits
                               WHERE embedding MATCH vec_quantize_binary(?1) AND k = {candidates})
                 ORDER BY vec_distance_cosine(embedding, ?1), id LIMIT {TOP_K}"
            ),
            plain,
        )
        .await?;
        println!(
            "   recall@10 against the exact search: {:.3}",
            recall(&found, exact_ids)
        );
    }
    Ok(())
}

fn pgvector(rt: &tokio::runtime::Runtime, data: &[VectorRecord]) -> Result<(), Box<dyn Error>> {
    println!(
        "-- 2. pgvector ({DIM}-d, {} vectors, HNSW cosine, m 16, ef_construction 64)",
        data.len()
    );
    let admin_url = std::env::var("WEFT_TEST_PGVECTOR_URL").map_err(|_| {
        "WEFT_TEST_PGVECTOR_URL is not set: start pgvector with `bash tests/testbeds.sh start` \
         and `eval \"$(bash tests/testbeds.sh env)\"` (or set WEFT_BENCH_VARIANTS=sqlite)"
    })?;
    let schema = format!("weft_bench_{}", std::process::id());
    let admin = async |sql: String| -> Result<(), Box<dyn Error>> {
        let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        Ok(())
    };
    rt.block_on(admin(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))?;
    let result = pgvector_in(rt, data, &admin_url, &schema);
    rt.block_on(admin(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))?;
    result
}

fn pgvector_in(
    rt: &tokio::runtime::Runtime,
    data: &[VectorRecord],
    admin_url: &str,
    schema: &str,
) -> Result<(), Box<dyn Error>> {
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}%2Cpublic");
    let store = rt.block_on(PostgresStore::connect(&url))?;
    let online = rt.block_on(load(&store, data))?;

    let mut conn = rt.block_on(sqlx::PgConnection::connect(&url))?;
    let id: i64 = rt.block_on(
        sqlx::query_scalar("SELECT id FROM weft_vector_collections WHERE name = $1")
            .bind(COLLECTION)
            .fetch_one(&mut conn),
    )?;
    let table = format!("weft_vec_{id}");
    let sizes = async |conn: &mut sqlx::PgConnection| -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT pg_total_relation_size('{table}'), pg_relation_size('{table}_hnsw')"
        )))
        .fetch_one(conn)
        .await
    };
    let (total, index) = rt.block_on(sizes(&mut conn))?;
    println!(
        "   sizes: table with indexes {:.1} MiB, of which HNSW {:.1} MiB",
        total as f64 / 1048576.0,
        index as f64 / 1048576.0
    );

    let plain = queries(None);
    let filtered = queries(Some(json!({"bucket": 3})));
    let store = &store;
    let search = move |r| -> std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> {
        Box::pin(async move { store.search(r).await.map_err(|e| e.to_string()) })
    };
    let exact = move |r| -> std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> {
        Box::pin(async move { store.search_exact(r).await.map_err(|e| e.to_string()) })
    };
    let (hnsw, hnsw_ids) = time_search(
        rt,
        "search top-10, HNSW (online-built index)",
        &plain,
        &search,
    )?;
    let (scan, scan_ids) = time_search(rt, "search top-10, exact scan", &plain, &exact)?;
    let online_recall = recall(&hnsw_ids, &scan_ids);
    println!("   recall@10 of the HNSW search against the exact scan: {online_recall:.3}");
    let (fscan, _) = time_search(
        rt,
        "filtered (10 %) top-10, exact scan (`search`)",
        &filtered,
        &search,
    )?;

    // Recall against latency: the same index searched with a larger
    // `hnsw.ef_search` (raw SQL on one connection).
    let hnsw_sql =
        format!("SELECT id FROM {table} ORDER BY embedding <=> $1::real[]::vector LIMIT {TOP_K}");
    for ef in [100, 200, 400] {
        rt.block_on(
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET hnsw.ef_search = {ef}")))
                .execute(&mut conn),
        )?;
        let found = rt.block_on(timed_pg(
            &mut conn,
            &format!("top-10, HNSW, ef_search {ef} (raw SQL)"),
            &hnsw_sql,
            &plain,
        ))?;
        println!(
            "   recall@10 at ef_search {ef}: {:.3}",
            recall(&found, &scan_ids)
        );
    }
    rt.block_on(sqlx::raw_sql("RESET hnsw.ef_search").execute(&mut conn))?;

    // The index built in bulk, as after a restore or `REINDEX`.
    rt.block_on(
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP INDEX {table}_hnsw; SET maintenance_work_mem = '1GB'"
        )))
        .execute(&mut conn),
    )?;
    let t = Instant::now();
    rt.block_on(
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
        )))
        .execute(&mut conn),
    )?;
    let build = t.elapsed();
    let workers: String = rt.block_on(
        sqlx::query_scalar("SHOW max_parallel_maintenance_workers").fetch_one(&mut conn),
    )?;
    let (_, index) = rt.block_on(sizes(&mut conn))?;
    println!(
        "{:<48} {:>11}  (maintenance_work_mem 1 GB, max_parallel_maintenance_workers {workers}, index {:.1} MiB)",
        "HNSW bulk build (CREATE INDEX on the table)",
        fmt(build),
        index as f64 / 1048576.0
    );
    let (bulk, bulk_ids) = time_search(
        rt,
        "search top-10, HNSW (bulk-built index)",
        &plain,
        &search,
    )?;
    let bulk_recall = recall(&bulk_ids, &scan_ids);
    println!("   recall@10 of the bulk-built index: {bulk_recall:.3}");
    rt.block_on(clustered(&mut conn, data.len()))?;
    println!(
        "   summary: insert {:.0} records/s with the index online ({}), bulk build {}; HNSW {:.2} ms (recall {online_recall:.3}; bulk-built {:.2} ms, recall {bulk_recall:.3}), exact scan {:.2} ms, filtered {:.2} ms",
        data.len() as f64 / online.as_secs_f64(),
        fmt(online),
        fmt(build),
        ms(hnsw.median),
        ms(bulk.median),
        ms(scan.median),
        ms(fscan.median)
    );
    Ok(())
}

/// Times `text` (binding $1 = the query vector) over `requests` on one
/// connection; returns the ids each query found.
async fn timed_pg(
    conn: &mut sqlx::PgConnection,
    name: &str,
    text: &str,
    requests: &[SearchRequest],
) -> Result<Ids, Box<dyn Error>> {
    let mut found = Vec::new();
    let mut rounds = Vec::new();
    for round in 0..=common::rounds() {
        let mut samples = Vec::new();
        for r in requests {
            let t = Instant::now();
            let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(text.to_string()))
                .bind(r.vector.clone())
                .fetch_all(&mut *conn)
                .await?;
            samples.push(t.elapsed());
            if round == 0 {
                found.push(ids);
            }
        }
        if round > 0 {
            rounds.push(Stats::of(&mut samples));
        }
    }
    common::report(name, &rounds);
    Ok(found)
}

/// HNSW recall on clustered vectors, closer to real embeddings than uniform
/// noise (whose nearest neighbours are barely nearer than the rest): 1 000
/// random centres, each vector a centre plus uniform noise of ±0.5 per
/// component, queries likewise around random centres. Raw SQL: a plain
/// table, loaded, then indexed in bulk.
async fn clustered(conn: &mut sqlx::PgConnection, n: usize) -> Result<(), Box<dyn Error>> {
    const CENTRES: usize = 1000;
    let mut rng = SplitMix64(0x5EED_0003);
    let centres: Vec<Vec<f32>> = (0..CENTRES).map(|_| rng.vector()).collect();
    let mut near = |c: &[f32]| -> Vec<f32> { c.iter().map(|x| x + 0.5 * rng.unit()).collect() };
    let vectors: Vec<Vec<f32>> = (0..n).map(|i| near(&centres[i % CENTRES])).collect();
    let requests: Vec<SearchRequest> = (0..QUERIES)
        .map(|q| SearchRequest {
            collection: String::new(),
            vector: near(&centres[(q * 37) % CENTRES]),
            top_k: TOP_K,
            filter: Map::new(),
            min_score: None,
        })
        .collect();
    println!(
        "-- 2b. pgvector: HNSW recall on clustered vectors ({n} = {CENTRES} centres × {}, noise ±0.5)",
        n / CENTRES
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE bench_clustered (id text PRIMARY KEY, embedding vector({DIM}) NOT NULL)"
    )))
    .execute(&mut *conn)
    .await?;
    for (b, chunk) in vectors.chunks(BATCH).enumerate() {
        let ids: Vec<String> = (0..chunk.len())
            .map(|i| format!("c{:06}", b * BATCH + i))
            .collect();
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        sqlx::query(
            "INSERT INTO bench_clustered (id, embedding)
             SELECT r.id, ($2::real[])[((r.n - 1) * $3 + 1):(r.n * $3)]::vector
             FROM unnest($1::text[]) WITH ORDINALITY AS r(id, n)",
        )
        .bind(ids)
        .bind(flat)
        .bind(DIM as i32)
        .execute(&mut *conn)
        .await?;
    }
    let t = Instant::now();
    sqlx::raw_sql(
        "CREATE INDEX bench_clustered_hnsw ON bench_clustered
         USING hnsw (embedding vector_cosine_ops)",
    )
    .execute(&mut *conn)
    .await?;
    println!(
        "{:<48} {:>11}",
        "HNSW bulk build (clustered)",
        fmt(t.elapsed())
    );
    let text = format!(
        "SELECT id FROM bench_clustered ORDER BY embedding <=> $1::real[]::vector LIMIT {TOP_K}"
    );
    sqlx::raw_sql("SET enable_indexscan = off")
        .execute(&mut *conn)
        .await?;
    let exact = timed_pg(conn, "top-10, exact scan (clustered)", &text, &requests).await?;
    sqlx::raw_sql("RESET enable_indexscan")
        .execute(&mut *conn)
        .await?;
    for ef in [40, 100] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET hnsw.ef_search = {ef}")))
            .execute(&mut *conn)
            .await?;
        let found = timed_pg(
            conn,
            &format!("top-10, HNSW ef_search {ef} (clustered)"),
            &text,
            &requests,
        )
        .await?;
        println!(
            "   recall@10 at ef_search {ef}: {:.3}",
            recall(&found, &exact)
        );
    }
    sqlx::raw_sql("RESET hnsw.ef_search")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    header("vector_search: 384-d random vectors, top-10 (sqlite-vec and pgvector)");
    let n = scaled(100_000);
    let rt = runtime()?;
    let t = Instant::now();
    let data = records(n);
    println!("   {n} vectors generated in {}", fmt(t.elapsed()));
    if wanted("sqlite") {
        sqlite(&rt, &data)?;
    }
    if wanted("pgvector") {
        pgvector(&rt, &data)?;
    }
    footer();
    Ok(())
}
