//! Randomized inputs never panic: random bytes, and mutations of valid
//! inputs (which get past the first checks), fed to the host resolver, the
//! pattern parser and lookups. A fixed-seed xorshift, so failures repeat;
//! `WEFT_ROUTER_FUZZ_ITERATIONS` runs longer.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use weft_router::{
    CustomDomain, HostConfig, HostResolver, Lookup, Method, Methods, Pattern, Route, RouteTable,
};

#[path = "support/rng.rs"]
mod rng;

use rng::Rng;

fn iterations() -> usize {
    std::env::var("WEFT_ROUTER_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Random bytes, as a (lossy) string.
fn random_text(rng: &mut Rng, max_len: usize) -> String {
    let len = rng.below(max_len + 1);
    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `seed` with a few characters replaced, inserted or deleted, drawn
/// mostly from the characters the parsers care about.
fn mutate(rng: &mut Rng, seed: &str) -> String {
    const ALPHABET: &[char] = &[
        '{', '}', ':', '/', '*', '(', ')', '[', ']', '%', '.', '-', '\\', '?', 'a', 'Z', '0', '9',
        'é', '\0', ' ', '+', '2', 'e', 'F', 'f',
    ];
    let mut chars: Vec<char> = seed.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        let c = *rng.pick(ALPHABET);
        match rng.below(3) {
            0 if at < chars.len() => chars[at] = c,
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.insert(at, c),
        }
    }
    chars.into_iter().collect()
}

fn resolver(path_fallback: bool) -> HostResolver {
    HostResolver::new(HostConfig {
        base_domains: vec!["weft.run".into(), "eu.weft.run".into()],
        custom_domains: vec![CustomDomain {
            domain: "api.acme.com".into(),
            project: "acme".into(),
            stage: "prod".into(),
        }],
        path_fallback,
    })
    .unwrap()
}

fn table() -> RouteTable<()> {
    let patterns = [
        "/",
        "/users/me/settings",
        "/users/{id}/posts",
        "/users/{id:int}",
        "/users/{name}",
        "/files/{*path}",
        "/codes/{code:regex([A-Z]{3})}",
        "/orders/{id:uuid}",
        "/{a}/{b}/{c}",
    ];
    let routes = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| Route {
            id: format!("r{i}"),
            flow: "f".into(),
            methods: if i % 2 == 0 {
                Methods::ANY
            } else {
                Method::Get.into()
            },
            pattern: Pattern::parse(p).unwrap(),
            target: (),
        })
        .collect();
    RouteTable::build(routes).unwrap()
}

#[test]
fn hosts_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let resolvers = [resolver(true), resolver(false)];
    let seeds = [
        "acme-prod.weft.run",
        "My-Shop-Prod.EU.weft.run:8443",
        "api.acme.com.",
        "[::1]:8080",
        "localhost",
    ];
    let paths = ["/acme/prod/x", "/", "", "/a", "/acme/prod"];
    for i in 0..iterations() {
        let host = if i % 2 == 0 {
            random_text(&mut rng, 300)
        } else {
            let seed = rng_pick(&mut rng, &seeds);
            mutate(&mut rng, seed)
        };
        let path = if i % 3 == 0 {
            random_text(&mut rng, 40)
        } else {
            let seed = rng_pick(&mut rng, &paths);
            mutate(&mut rng, seed)
        };
        for r in &resolvers {
            let _ = r.resolve(Some(&host), &path);
            let _ = r.resolve(None, &path);
        }
    }
}

#[test]
fn patterns_and_lookups_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let table = table();
    let seeds = [
        "/users/{id:int}/posts",
        "/codes/{code:regex([A-Z]{3})}",
        "/files/{*rest}",
        "/a/{b}/{c:uuid}",
        "/caf%C3%A9/{x:regex(a\\}b)}",
    ];
    let paths = [
        "/users/me/settings",
        "/users/42/posts",
        "/files/a/b/c",
        "/orders/67e55044-10b1-426f-9247-bb680e5fe0c8",
        "/codes/ABC",
        "/files/a%2F%2e./%2E",
    ];
    for i in 0..iterations() {
        let text = if i % 2 == 0 {
            random_text(&mut rng, 60)
        } else {
            let seed = rng_pick(&mut rng, &seeds);
            mutate(&mut rng, seed)
        };
        if let Ok(pattern) = Pattern::parse(&text) {
            // The canonical form parses back to the same pattern.
            let again = Pattern::parse(&pattern.to_string());
            assert_eq!(again.as_ref(), Ok(&pattern), "{text:?} → {pattern}");
        }
        let path = if i % 2 == 0 {
            random_text(&mut rng, 60)
        } else {
            let seed = rng_pick(&mut rng, &paths);
            mutate(&mut rng, seed)
        };
        let method = *rng.pick(&Method::ALL);
        if let Ok(Lookup::Found { route, params }) = table.lookup(method, &path) {
            assert_eq!(params.len(), route.pattern.param_names().count());
            for (name, value) in params.iter() {
                let text = value.to_string();
                assert!(
                    !text.split('/').any(|s| s == "." || s == ".."),
                    "{path:?}: {name} = {text:?}"
                );
            }
        }
    }
}

fn rng_pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}
