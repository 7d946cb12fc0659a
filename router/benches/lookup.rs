//! Route lookup latency: host resolution + table fetch + match, per request.
//!
//! Scenarios (each a `HashMap<(project, stage), RouteTable>`, keyed as the
//! server's cache will be):
//! - 1,000 (project, stage) tables of 10 routes each (10,000 routes), the
//!   requests spread over all of them;
//! - one table of 10, 100, 1,000 and 10,000 routes (the same 10 routes
//!   under 1, 10, 100, 1,000 static prefixes), to show that the cost does
//!   not grow with the number of routes;
//! - the parts alone: host resolution, and the match in a 10-route table.
//!
//! Every request set mixes all route kinds (static, int, uuid, regex,
//! plain, wildcard, backtracking) and a 404. Each sample times a pass over
//! 4,096 pre-generated requests and divides by their number; the figures
//! are the median, p90 and minimum of 500 samples (5 rounds × 100). Plain
//! `std::time::Instant`, no harness; nothing here asserts on timings.
//!
//! `cargo bench -p weft-router --bench lookup`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use weft_router::{HostConfig, HostResolver, Lookup, Method, Methods, Pattern, Route, RouteTable};

const REQUESTS: usize = 4096;
const ROUNDS: usize = 5;
const SAMPLES_PER_ROUND: usize = 100;

type Tables = HashMap<(String, String), RouteTable<u32>>;

#[path = "../tests/support/rng.rs"]
mod rng;

use rng::Rng;

struct Request {
    host: String,
    path: String,
    method: Method,
}

/// The 10 routes of a typical stage, under `prefix` (`""` or `/g7`).
fn routes(prefix: &str, first_id: u32) -> Vec<Route<u32>> {
    let specs: [(&str, &str); 10] = [
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/users/me/settings"),
        ("GET", "/users/{id:int}"),
        ("GET", "/users/{id}/posts"),
        ("POST", "/users"),
        ("GET", "/orders/{id:uuid}"),
        ("GET", "/codes/{code:regex([A-Z]{3})}"),
        ("GET,POST", "/hooks/{name}"),
        ("GET", "/files/{*path}"),
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, (methods, path))| {
            let text = match (prefix, *path) {
                ("", path) => path.to_string(),
                (prefix, "/") => prefix.to_string(),
                (prefix, path) => format!("{prefix}{path}"),
            };
            Route {
                id: format!("r{i}"),
                flow: format!("flow{i}"),
                methods: methods.parse::<Methods>().unwrap(),
                pattern: Pattern::parse(&text).unwrap(),
                target: first_id + i as u32,
            }
        })
        .collect()
}

/// A request for one of the 10 routes (or a 404) under `prefix`.
fn request_path(rng: &mut Rng, prefix: &str) -> (Method, String) {
    let (method, rest) = match rng.below(11) {
        0 => (Method::Get, String::new()),
        1 => (Method::Get, "/health".into()),
        2 => (Method::Get, "/users/me/settings".into()),
        3 => (Method::Get, format!("/users/{}", rng.below(1_000_000))),
        4 => (Method::Get, format!("/users/u{}/posts", rng.below(1000))),
        5 => (Method::Post, "/users".into()),
        6 => (
            Method::Get,
            format!("/orders/67e55044-10b1-426f-9247-{:012x}", rng.next() >> 16),
        ),
        7 => (Method::Get, "/codes/ABC".into()),
        8 => (Method::Post, format!("/hooks/deploy{}", rng.below(10))),
        9 => (Method::Get, "/files/docs/2026/report%20v2.pdf".into()),
        _ => (Method::Get, "/nope/not/here".into()),
    };
    let path = format!("{prefix}{rest}");
    (method, if path.is_empty() { "/".into() } else { path })
}

fn resolver() -> HostResolver {
    HostResolver::new(HostConfig {
        base_domains: vec!["weft.run".into()],
        ..HostConfig::default()
    })
    .unwrap()
}

/// `(project, stage)` number `i`: projects with hyphens, two stages each.
fn stage_key(i: usize) -> (String, String) {
    let stage = if i.is_multiple_of(2) { "prod" } else { "dev" };
    (format!("shop-{}", i / 2), stage.to_string())
}

/// Resolves, fetches the table and matches; returns something that
/// depends on the answer, so that nothing is optimized away.
fn route(resolver: &HostResolver, tables: &Tables, r: &Request) -> u64 {
    let Ok(target) = resolver.resolve(Some(&r.host), &r.path) else {
        return 1;
    };
    let key = (target.project.into_owned(), target.stage.into_owned());
    let Some(table) = tables.get(&key) else {
        return 2;
    };
    match table.lookup(r.method, target.path) {
        Ok(Lookup::Found { route, params }) => u64::from(route.target) + params.len() as u64,
        Ok(Lookup::MethodNotAllowed { allow }) => 3 + allow.len() as u64,
        Ok(Lookup::NotFound) => 4,
        Err(_) => 5,
    }
}

/// Times `f` over `requests`; prints ns per request.
fn measure(name: &str, requests: &[Request], f: impl Fn(&Request) -> u64) {
    let mut sink = 0u64;
    for r in requests {
        sink = sink.wrapping_add(f(r));
    }
    let mut samples = Vec::with_capacity(ROUNDS * SAMPLES_PER_ROUND);
    for _ in 0..ROUNDS * SAMPLES_PER_ROUND {
        let start = Instant::now();
        for r in requests {
            sink = sink.wrapping_add(f(black_box(r)));
        }
        samples.push(start.elapsed().as_nanos() as f64 / requests.len() as f64);
    }
    black_box(sink);
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<58} median {:>6.0} ns   p90 {:>6.0} ns   min {:>6.0} ns",
        at(0.5),
        at(0.9),
        samples[0]
    );
}

/// How many requests find a route, for a sanity line.
fn found(resolver: &HostResolver, tables: &Tables, requests: &[Request]) -> usize {
    requests
        .iter()
        .filter(|r| {
            let t = resolver.resolve(Some(&r.host), &r.path).unwrap();
            let table = &tables[&(t.project.into_owned(), t.stage.into_owned())];
            matches!(table.lookup(r.method, t.path), Ok(Lookup::Found { .. }))
        })
        .count()
}

fn main() {
    let resolver = resolver();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);

    // 1,000 tables of 10 routes.
    let start = Instant::now();
    let mut tables: Tables = HashMap::new();
    for i in 0..1000 {
        let table = RouteTable::build(routes("", (i * 10) as u32)).unwrap();
        tables.insert(stage_key(i), table);
    }
    let built = start.elapsed();
    let requests: Vec<Request> = (0..REQUESTS)
        .map(|_| {
            let (project, stage) = stage_key(rng.below(1000));
            let (method, path) = request_path(&mut rng, "");
            Request {
                host: format!("{project}-{stage}.weft.run"),
                path,
                method,
            }
        })
        .collect();
    println!(
        "1,000 tables × 10 routes built in {:.1} ms; {} of {} requests find a route \
         (the rest are 404s)\n",
        built.as_secs_f64() * 1e3,
        found(&resolver, &tables, &requests),
        requests.len()
    );
    measure(
        "1,000 tables × 10 routes: resolve + fetch + match",
        &requests,
        |r| route(&resolver, &tables, r),
    );
    measure("  host resolution alone", &requests, |r| {
        match resolver.resolve(Some(&r.host), &r.path) {
            Ok(t) => t.project.len() as u64,
            Err(_) => 0,
        }
    });
    let keys: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            let t = resolver.resolve(Some(&r.host), &r.path).unwrap();
            (t.project.into_owned(), t.stage.into_owned())
        })
        .collect();
    let fetched: Vec<&RouteTable<u32>> = keys.iter().map(|k| &tables[k]).collect();
    let position = |r: &Request| {
        // Requests are contiguous: the offset gives the index.
        (r as *const Request as usize - requests.as_ptr() as usize) / std::mem::size_of::<Request>()
    };
    measure(
        "  table fetch alone (key from the target, map get)",
        &requests,
        |r| {
            let t = &keys[position(r)];
            let key = (t.0.clone(), t.1.clone());
            tables.get(&key).map_or(0, |t| t.routes().len() as u64)
        },
    );
    measure(
        "  match alone, in each request's own table",
        &requests,
        |r| {
            let i = position(r);
            match fetched[i].lookup(r.method, &r.path) {
                Ok(Lookup::Found { route, .. }) => u64::from(route.target),
                _ => 0,
            }
        },
    );
    let one = &tables[&stage_key(0)];
    measure(
        "  match alone (one 10-route table)",
        &requests,
        |r| match one.lookup(r.method, &r.path) {
            Ok(Lookup::Found { route, .. }) => u64::from(route.target),
            _ => 0,
        },
    );

    // One table of 10 .. 10,000 routes.
    println!();
    for groups in [1usize, 10, 100, 1000] {
        let mut all = Vec::new();
        for g in 0..groups {
            let prefix = if groups == 1 {
                String::new()
            } else {
                format!("/g{g}")
            };
            all.extend(routes(&prefix, (g * 10) as u32));
        }
        let n = all.len();
        let start = Instant::now();
        let table = RouteTable::build(all).unwrap();
        let built = start.elapsed();
        let mut tables: Tables = HashMap::new();
        tables.insert(stage_key(0), table);
        let (project, stage) = stage_key(0);
        let host = format!("{project}-{stage}.weft.run");
        let requests: Vec<Request> = (0..REQUESTS)
            .map(|_| {
                let prefix = if groups == 1 {
                    String::new()
                } else {
                    format!("/g{}", rng.below(groups))
                };
                let (method, path) = request_path(&mut rng, &prefix);
                Request {
                    host: host.clone(),
                    path,
                    method,
                }
            })
            .collect();
        let hits = found(&resolver, &tables, &requests);
        measure(
            &format!(
                "1 table × {n:>6} routes: resolve + fetch + match ({hits} found, built {:.1} ms)",
                built.as_secs_f64() * 1e3
            ),
            &requests,
            |r| route(&resolver, &tables, r),
        );
    }
}
