//! Host header + path → project and stage (`HostResolver::resolve`).
//!
//! Input: the Host header's bytes, a 0 byte, then the path's bytes (both
//! lossily decoded as UTF-8). Without a 0 byte the whole input is the Host
//! and the path is `/`.
//!
//! Never a panic, and:
//! - a missing Host header is always `HostError::Missing`;
//! - an `Ok` names a project and stage that pass `validate_project` /
//!   `validate_stage`, and agrees with how it was found (the custom
//!   domain's pair; `{project}-{stage}.` at the start of the host; the
//!   first two path segments, with the rest as the path to route);
//! - the resolver without the path fallback gives the same answer whenever
//!   the one with it did not use the fallback, and never resolves by path;
//! - the Host's letter case changes nothing;
//! - error messages stay short (client input is clipped).

#![no_main]

use std::mem::discriminant;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use weft_router::host::{validate_project, validate_stage};
use weft_router::{CustomDomain, HostConfig, HostError, HostResolver, Target, Via};

/// Longer than any message quoting two clipped inputs.
const MAX_MESSAGE_LEN: usize = 4096;

fn resolver(path_fallback: bool) -> HostResolver {
    let config = HostConfig {
        base_domains: vec!["localhost".into(), "weft.example.com".into()],
        custom_domains: vec![CustomDomain {
            domain: "api.acme.com".into(),
            project: "acme".into(),
            stage: "prod".into(),
        }],
        path_fallback,
    };
    match HostResolver::new(config) {
        Ok(resolver) => resolver,
        Err(e) => panic!("fuzz resolver config: {e}"),
    }
}

static WITH_FALLBACK: LazyLock<HostResolver> = LazyLock::new(|| resolver(true));
static WITHOUT_FALLBACK: LazyLock<HostResolver> = LazyLock::new(|| resolver(false));

fuzz_target!(|data: &[u8]| {
    let (host, path) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"/"[..]),
    };
    let host = String::from_utf8_lossy(host);
    let path = String::from_utf8_lossy(path);
    check(&host, &path);
});

fn check(host: &str, path: &str) {
    assert_eq!(WITH_FALLBACK.resolve(None, path), Err(HostError::Missing));

    let resolved = WITH_FALLBACK.resolve(Some(host), path);
    match &resolved {
        Ok(target) => check_target(host, path, target),
        Err(e) => check_message(e),
    }

    let strict = WITHOUT_FALLBACK.resolve(Some(host), path);
    match (&resolved, &strict) {
        (_, Ok(target)) if target.via == Via::Path => {
            panic!("resolved by path without the fallback: {target:?}")
        }
        (Ok(target), _) if target.via != Via::Path => {
            assert_eq!(strict.as_ref(), Ok(target), "{host:?} {path:?}");
        }
        (Ok(_), Err(HostError::UnknownHost { .. })) => {}
        (Ok(_), other) => panic!("fallback hit, strict gave {other:?}"),
        (Err(_), Ok(target)) => panic!("only the strict resolver answered: {target:?}"),
        (Err(a), Err(b)) => {
            check_message(b);
            // Only the fallback's own errors become `UnknownHost`.
            if !matches!(b, HostError::UnknownHost { .. }) {
                assert_eq!(a, b, "{host:?} {path:?}");
            }
        }
    }

    if host.is_ascii() {
        for cased in [host.to_ascii_uppercase(), host.to_ascii_lowercase()] {
            let again = WITH_FALLBACK.resolve(Some(&cased), path);
            match (&resolved, &again) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{host:?} vs {cased:?}"),
                (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "{a} vs {b}"),
                (a, b) => panic!("{host:?} gave {a:?}, {cased:?} gave {b:?}"),
            }
        }
    }
}

fn check_target(host: &str, path: &str, target: &Target<'_>) {
    let (project, stage) = (&*target.project, &*target.stage);
    if let Err(problem) = validate_project(project) {
        panic!("{host:?} {path:?} → invalid project {project:?}: {problem}");
    }
    if let Err(problem) = validate_stage(stage) {
        panic!("{host:?} {path:?} → invalid stage {stage:?}: {problem}");
    }
    match target.via {
        Via::CustomDomain => {
            assert_eq!((project, stage), ("acme", "prod"));
            assert_eq!(target.path, path);
        }
        Via::Host => {
            let prefix = format!("{project}-{stage}.");
            assert!(
                host.to_ascii_lowercase().starts_with(&prefix),
                "{host:?} → {prefix:?}"
            );
            assert_eq!(target.path, path);
        }
        Via::Path => {
            let Some(rest) = path.strip_prefix(&format!("/{project}/{stage}")) else {
                panic!("{path:?} → ({project}, {stage}) by path");
            };
            if rest.is_empty() {
                assert_eq!(target.path, "/");
            } else {
                assert!(rest.starts_with('/'), "{path:?} → {rest:?}");
                assert_eq!(target.path, rest);
            }
        }
    }
}

fn check_message(e: &HostError) {
    let message = e.to_string();
    assert!(
        message.len() <= MAX_MESSAGE_LEN,
        "a {}-byte message: {e:?}",
        message.len()
    );
}
