//! Route pattern text → `Pattern::parse`; an accepted pattern becomes a
//! one-route `RouteTable` and is looked up.
//!
//! Input (lossily decoded as UTF-8): the pattern on the first line, then
//! up to 8 lines of request paths. The route answers `GET` plus the
//! methods picked by the bits of the input's length.
//!
//! Never a panic, and:
//! - an error names a column within the text (or just past it) and its
//!   message stays short;
//! - the canonical form (`Display`) parses back to an equal pattern and is
//!   a fixed point; the wildcard is only last; parameter names are unique;
//! - a regex constraint's source is a regex on its own, so that the
//!   router's `^(?:RE)$` anchors all of it (`a)|(b` would make
//!   `^(?:a)|(b)$`, which matches `ax` and `xb`);
//! - one route builds a table; the same pattern twice (as parsed and from
//!   its canonical form) is one conflict;
//! - looking up the pattern's own text, its canonical form and the input's
//!   paths, a found route's parameters follow the pattern: names in order,
//!   `int` as integers, `uuid` lower-cased, regex captures matching the
//!   regex, no `.` or `..` segment in any value; a 405 lists exactly the
//!   route's methods;
//! - a path built from the pattern (sample values for parameters) is found
//!   with exactly those values, for every method the route answers, and is
//!   a 405 for the others.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_router::path::{MAX_SEGMENTS, split_path};
use weft_router::pattern::ParamKind;
use weft_router::{
    Lookup, Method, Methods, ParamValue, Params, Pattern, PatternError, Route, RouteTable, Segment,
};

/// Longer than any message quoting clipped input.
const MAX_MESSAGE_LEN: usize = 4096;
/// The compiled size allowed when checking a regex source on its own
/// (the router allows 256 KiB; anything it accepts fits).
const STANDALONE_SIZE_LIMIT: usize = 1 << 20;
/// Paths read from the input after the pattern.
const MAX_PATHS: usize = 8;
const UUID: &str = "67E55044-10B1-426F-9247-BB680E5FE0C8";
/// Values tried for a regex parameter, before the input's lines.
const REGEX_CANDIDATES: &[&str] = &[
    "x",
    "42",
    "-1",
    "0",
    "ABC",
    "abc",
    "a",
    "Z",
    "_",
    "é",
    "a b",
    "%",
    "a/b",
    "67e55044-10b1-426f-9247-bb680e5fe0c8",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let source = lines.next().unwrap_or_default();
    let paths: Vec<&str> = lines.take(MAX_PATHS).collect();
    let methods = methods_for(data.len());
    match Pattern::parse(source) {
        Ok(pattern) => check_pattern(source, &pattern, &paths, methods),
        Err(e) => check_error(source, &e),
    }
});

/// `GET`, and each other method whose bit of `n` is set.
fn methods_for(n: usize) -> Methods {
    let picked = Method::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (n >> i) & 1 == 1)
        .map(|(_, m)| m);
    Methods::only(picked).union(Method::Get.into())
}

fn check_error(source: &str, e: &PatternError) {
    let message = e.to_string();
    assert!(
        message.len() <= MAX_MESSAGE_LEN,
        "a {}-byte message: {e:?}",
        message.len()
    );
    assert!(
        (1..=source.chars().count() + 1).contains(&e.column),
        "{source:?}: {e}"
    );
    assert!(e.segment <= MAX_SEGMENTS + 1, "{source:?}: {e}");
}

fn route(id: &str, pattern: Pattern, methods: Methods) -> Route<()> {
    Route {
        id: id.to_string(),
        flow: "fuzz".to_string(),
        methods,
        pattern,
        target: (),
    }
}

fn check_pattern(source: &str, pattern: &Pattern, paths: &[&str], methods: Methods) {
    let canonical = pattern.to_string();
    let again = match Pattern::parse(&canonical) {
        Ok(again) => again,
        Err(e) => panic!("{source:?} → {canonical:?}, which does not parse: {e}"),
    };
    assert_eq!(&again, pattern, "{source:?} → {canonical:?}");
    assert_eq!(again.to_string(), canonical, "{source:?}");

    let segments = pattern.segments();
    assert!(segments.len() <= MAX_SEGMENTS, "{source:?}");
    assert_eq!(pattern.shape().len(), segments.len());
    assert_eq!(pattern.specificity().len(), segments.len());
    if let Some(at) = segments
        .iter()
        .position(|s| matches!(s, Segment::Wildcard { .. }))
    {
        assert_eq!(at + 1, segments.len(), "{source:?}: wildcard not last");
    }
    let names: Vec<&str> = pattern.param_names().collect();
    for (i, name) in names.iter().enumerate() {
        assert!(!names[..i].contains(name), "{source:?}: `{name}` twice");
    }
    for segment in segments {
        if let Segment::Param {
            kind: ParamKind::Regex(regex),
            ..
        } = segment
        {
            check_regex_source(source, regex.source());
        }
    }

    let table = match RouteTable::build(vec![route("r", pattern.clone(), methods)]) {
        Ok(table) => table,
        Err(conflicts) => panic!("{source:?}: one route, {conflicts:?}"),
    };
    let twice = vec![
        route("a", pattern.clone(), methods),
        route("b", again, Method::Get.into()),
    ];
    match RouteTable::build(twice) {
        Ok(_) => panic!("{source:?}: no conflict with its canonical form"),
        Err(conflicts) => {
            assert_eq!(conflicts.len(), 1, "{source:?}");
            assert_eq!(conflicts[0].methods, Method::Get.into(), "{source:?}");
            let _ = conflicts[0].to_string();
        }
    }

    let allow: Vec<Method> = methods.iter().collect();
    for path in [source, canonical.as_str()]
        .into_iter()
        .chain(paths.iter().copied())
    {
        for method in [Method::Get, Method::Delete] {
            match table.lookup(method, path) {
                Ok(Lookup::Found { params, .. }) => {
                    assert!(methods.contains(method), "{source:?} {path:?}");
                    check_params(pattern, &params, path);
                }
                Ok(Lookup::MethodNotAllowed { allow: got }) => {
                    assert!(!methods.contains(method), "{source:?} {path:?}");
                    assert_eq!(got, allow, "{source:?} {path:?}");
                }
                Ok(Lookup::NotFound) => {}
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    }

    let wide = paths.len().is_multiple_of(2);
    let Some((path, expected)) = instantiate(pattern, paths, wide) else {
        return;
    };
    // Sample values can make a path the router refuses (too long, or a
    // regex value from the input such as `a/..`, which becomes `a%2F..`);
    // nothing to look up then. Statics cannot: the parser refuses
    // `a%2F..` in a pattern.
    if split_path(&path).is_err() {
        return;
    }
    for method in Method::ALL {
        match table.lookup(method, &path) {
            Ok(Lookup::Found { params, .. }) => {
                assert!(methods.contains(method), "{source:?} {path:?}");
                let got: Vec<(String, ParamValue)> = params
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.clone()))
                    .collect();
                assert_eq!(got, expected, "{source:?} {path:?}");
            }
            Ok(Lookup::MethodNotAllowed { allow: got }) => {
                assert!(!methods.contains(method), "{source:?} {path:?}");
                assert_eq!(got, allow, "{source:?} {path:?}");
            }
            other => panic!("{source:?}: its own path {path:?} gave {other:?}"),
        }
    }
}

/// `regex` (a constraint's source) parses as a regex by itself. Only
/// syntax counts: the router limits the compiled size, not this check.
fn check_regex_source(source: &str, regex: &str) {
    let alone = regex::RegexBuilder::new(regex)
        .size_limit(STANDALONE_SIZE_LIMIT)
        .build();
    if let Err(regex::Error::Syntax(e)) = alone {
        panic!(
            "{source:?}: `{regex}` is not a regex on its own, so `^(?:{regex})$` is not anchored: {e}"
        );
    }
}

/// A found route's parameters agree with its pattern.
fn check_params(pattern: &Pattern, params: &Params<'_>, path: &str) {
    let names: Vec<&str> = pattern.param_names().collect();
    let got: Vec<&str> = params.iter().map(|(name, _)| name).collect();
    assert_eq!(got, names, "{pattern} {path:?}");
    let captures = pattern.segments().iter().filter(|s| s.name().is_some());
    for (segment, (name, value)) in captures.zip(params.iter()) {
        let ok = match (segment, value) {
            (
                Segment::Param {
                    kind: ParamKind::Int,
                    ..
                },
                ParamValue::Int(_),
            ) => true,
            (
                Segment::Param {
                    kind: ParamKind::Uuid,
                    ..
                },
                ParamValue::Uuid(text),
            ) => text.len() == 36 && !text.bytes().any(|b| b.is_ascii_uppercase()),
            (
                Segment::Param {
                    kind: ParamKind::Regex(regex),
                    ..
                },
                ParamValue::Str(text),
            ) => regex.is_match(text),
            (
                Segment::Param {
                    kind: ParamKind::Plain,
                    ..
                },
                ParamValue::Str(text),
            ) => !text.is_empty(),
            (Segment::Wildcard { .. }, ParamValue::Str(_)) => true,
            _ => false,
        };
        assert!(ok, "{pattern} {path:?}: {name} = {value:?}");
        if let ParamValue::Str(text) = value {
            assert!(
                !text.split('/').any(|part| part == "." || part == ".."),
                "{pattern} {path:?}: {name} = {text:?}"
            );
        }
    }
}

/// A request path matching `pattern`, and the parameters it should give:
/// `x` for a plain parameter, `-42` for an `int`, an upper-case UUID, the
/// first candidate (then line of the input) a regex accepts, and `w/v`
/// (`wide`) or nothing for a wildcard. `None` if no candidate fits a
/// regex.
fn instantiate(
    pattern: &Pattern,
    lines: &[&str],
    wide: bool,
) -> Option<(String, Vec<(String, ParamValue)>)> {
    let mut path = String::new();
    let mut expected = Vec::new();
    for segment in pattern.segments() {
        match segment {
            Segment::Static(text) => {
                path.push('/');
                encode(text, &mut path);
            }
            Segment::Param { name, kind } => {
                path.push('/');
                let value = match kind {
                    ParamKind::Plain => {
                        path.push('x');
                        ParamValue::Str("x".to_string())
                    }
                    ParamKind::Int => {
                        path.push_str("-42");
                        ParamValue::Int(-42)
                    }
                    ParamKind::Uuid => {
                        path.push_str(UUID);
                        ParamValue::Uuid(UUID.to_ascii_lowercase())
                    }
                    ParamKind::Regex(regex) => {
                        let value = REGEX_CANDIDATES
                            .iter()
                            .chain(lines)
                            .find(|c| !c.is_empty() && regex.is_match(c))?;
                        encode(value, &mut path);
                        ParamValue::Str(value.to_string())
                    }
                };
                expected.push((name.clone(), value));
            }
            Segment::Wildcard { name } => {
                let rest = if wide { "w/v" } else { "" };
                if wide {
                    path.push_str("/w/v");
                }
                expected.push((name.clone(), ParamValue::Str(rest.to_string())));
            }
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    Some((path, expected))
}

/// `text` as one path segment: every byte but ASCII letters, digits and
/// `-._~` percent-escaped.
fn encode(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}
