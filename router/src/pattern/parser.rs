//! The route pattern parser: text → [`Pattern`], or a [`PatternError`]
//! naming the segment, the column (in characters) and what is wrong.
//! Regex constraints are compiled here, once per source while it stays in
//! the process-wide cache (`interned`).

use std::sync::Arc;

use regex::{Regex, RegexBuilder};

use super::interned::REGEXES;
use super::{ParamKind, Pattern, RegexConstraint, Segment, static_char_ok};
use crate::error::{PatternError, PatternErrorKind as Kind, shown};
use crate::path::{DecodeError, MAX_PATH_LEN, MAX_SEGMENTS, percent_decode};

/// The longest parameter name, in bytes.
const MAX_NAME_LEN: usize = 64;
/// The compiled size limit of one regex constraint, in bytes.
pub(super) const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The anchored regex for constraint `source`, from [`REGEXES`] if there,
/// else compiled and interned.
fn compile_regex(source: &str) -> Result<Arc<Regex>, regex::Error> {
    if let Ok(mut interned) = REGEXES.lock()
        && let Some(regex) = interned.get(source)
    {
        return Ok(regex);
    }
    let regex = Arc::new(
        RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()?,
    );
    // `source` must also be a regex by itself, or it could close the group
    // above: `a)|(b` makes `^(?:a)|(b)$`, which matches `ax` and `xb`.
    RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()?;
    Ok(match REGEXES.lock() {
        Ok(mut interned) => interned.intern(source, regex),
        Err(_) => regex,
    })
}

fn name_ok(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) struct Parser<'t> {
    text: &'t str,
    chars: Vec<char>,
    /// The current segment, from 1.
    segment: usize,
    /// `(name, segment)` of every parameter so far.
    names: Vec<(String, usize)>,
    segments: Vec<Segment>,
}

impl<'t> Parser<'t> {
    pub(super) fn new(text: &'t str) -> Result<Parser<'t>, PatternError> {
        let whole = |column, kind| PatternError {
            pattern: shown(text),
            column,
            segment: 0,
            kind,
        };
        if text.is_empty() {
            return Err(whole(1, Kind::Empty));
        }
        if text.len() > MAX_PATH_LEN {
            return Err(whole(
                1,
                Kind::TooLong {
                    len: text.len(),
                    max: MAX_PATH_LEN,
                },
            ));
        }
        if !text.starts_with('/') {
            return Err(whole(1, Kind::NoLeadingSlash));
        }
        Ok(Parser {
            text,
            chars: text.chars().collect(),
            segment: 0,
            names: Vec::new(),
            segments: Vec::new(),
        })
    }

    /// An error at character index `at` (0-based) of the current segment.
    fn error(&self, at: usize, kind: Kind) -> PatternError {
        PatternError {
            pattern: shown(self.text),
            column: at + 1,
            segment: self.segment,
            kind,
        }
    }

    pub(super) fn run(mut self) -> Result<Pattern, PatternError> {
        if self.chars.len() == 1 {
            return Ok(Pattern { segments: vec![] });
        }
        // `i` is just past a `/`.
        let mut i = 1;
        let mut wildcard_at: Option<(usize, String)> = None;
        loop {
            self.segment += 1;
            if let Some((at, name)) = wildcard_at.take() {
                self.segment -= 1;
                return Err(self.error(at, Kind::WildcardNotLast { name }));
            }
            if self.segment > MAX_SEGMENTS {
                return Err(self.error(i, Kind::TooManySegments { max: MAX_SEGMENTS }));
            }
            match self.chars.get(i) {
                None | Some('/') => return Err(self.error(i, Kind::EmptySegment)),
                Some('{') => {
                    let (segment, end) = self.param(i)?;
                    if let Segment::Wildcard { name } = &segment {
                        wildcard_at = Some((i, name.clone()));
                    }
                    self.segments.push(segment);
                    i = end;
                }
                Some(_) => i = self.static_segment(i)?,
            }
            // `i` is at a `/` or the end.
            if i >= self.chars.len() {
                return Ok(Pattern {
                    segments: self.segments,
                });
            }
            i += 1;
        }
    }

    /// The static segment starting at `start`; returns the index of the
    /// `/` or end after it.
    fn static_segment(&mut self, start: usize) -> Result<usize, PatternError> {
        let mut raw = String::new();
        let mut i = start;
        while let Some(&c) = self.chars.get(i) {
            match c {
                '/' => break,
                '{' => return Err(self.error(i, Kind::NotWholeSegment)),
                '}' => return Err(self.error(i, Kind::UnmatchedClose)),
                c if !static_char_ok(c) => return Err(self.error(i, Kind::InvalidChar { ch: c })),
                c => raw.push(c),
            }
            i += 1;
        }
        let decoded = percent_decode(&raw).map_err(|e| {
            self.error(
                start,
                match e {
                    DecodeError::BadEscape => Kind::BadEscape,
                    DecodeError::NotUtf8 => Kind::EscapeNotUtf8,
                },
            )
        })?;
        if decoded == "." || decoded == ".." {
            return Err(self.error(start, Kind::DotSegment));
        }
        // Request paths holding `a%2F..` are refused (`crate::path`), so a
        // route with it could never match.
        if let Some(at) = dot_between_slashes(&self.chars[start..i]) {
            let decoded = shown(&decoded);
            return Err(self.error(start + at, Kind::DotBetweenSlashes { decoded }));
        }
        self.segments.push(Segment::Static(decoded.into_owned()));
        Ok(i)
    }

    /// The parameter whose `{` is at `open`; returns it and the index
    /// just past its segment.
    fn param(&mut self, open: usize) -> Result<(Segment, usize), PatternError> {
        let mut depth = 0usize;
        let mut i = open;
        let close = loop {
            match self.chars.get(i) {
                None => return Err(self.error(open, Kind::UnclosedBrace)),
                Some('\\') => i += 2,
                Some('{') => {
                    depth += 1;
                    i += 1;
                }
                Some('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break i;
                    }
                    i += 1;
                }
                Some(_) => i += 1,
            }
        };
        match self.chars.get(close + 1) {
            None | Some('/') => {}
            Some(_) => return Err(self.error(close + 1, Kind::NotWholeSegment)),
        }
        let inner: String = self.chars[open + 1..close].iter().collect();
        let name_at = open + 1;
        if let Some(name) = inner.strip_prefix('*') {
            if let Some((name, _)) = name.split_once(':') {
                return Err(self.error(name_at, Kind::WildcardTyped { name: shown(name) }));
            }
            self.check_name(name_at + 1, name)?;
            return Ok((
                Segment::Wildcard {
                    name: name.to_string(),
                },
                close + 1,
            ));
        }
        let (name, ty) = match inner.split_once(':') {
            Some((name, ty)) => (name, Some(ty)),
            None => (inner.as_str(), None),
        };
        self.check_name(name_at, name)?;
        let ty_at = name_at + name.chars().count() + 1;
        let kind = match ty {
            None => ParamKind::Plain,
            Some("") => return Err(self.error(ty_at, Kind::MissingType)),
            Some("int") => ParamKind::Int,
            Some("uuid") => ParamKind::Uuid,
            Some(ty) if ty.starts_with("regex") => self.regex(ty_at, ty)?,
            Some(ty) => return Err(self.error(ty_at, Kind::UnknownType { ty: shown(ty) })),
        };
        let segment = Segment::Param {
            name: name.to_string(),
            kind,
        };
        Ok((segment, close + 1))
    }

    /// `ty` is `regex...`, at column index `at`.
    fn regex(&self, at: usize, ty: &str) -> Result<ParamKind, PatternError> {
        let Some(source) = ty
            .strip_prefix("regex(")
            .and_then(|rest| rest.strip_suffix(')'))
        else {
            return Err(self.error(at, Kind::UnclosedRegex));
        };
        let body_at = at + "regex(".len();
        if source.is_empty() {
            return Err(self.error(body_at, Kind::EmptyRegex));
        }
        let regex = compile_regex(source).map_err(|e| {
            self.error(
                body_at,
                Kind::InvalidRegex {
                    error: regex_error(&e),
                },
            )
        })?;
        Ok(ParamKind::Regex(RegexConstraint {
            source: source.to_string(),
            regex,
        }))
    }

    /// Checks parameter name `name` (at column index `at`) and records it.
    fn check_name(&mut self, at: usize, name: &str) -> Result<(), PatternError> {
        if name.is_empty() {
            return Err(self.error(at, Kind::EmptyName));
        }
        if !name_ok(name) {
            return Err(self.error(at, Kind::InvalidName { name: shown(name) }));
        }
        if let Some((_, first)) = self.names.iter().find(|(n, _)| n == name) {
            let kind = Kind::DuplicateName {
                name: name.to_string(),
                first: *first,
            };
            return Err(self.error(at, kind));
        }
        self.names.push((name.to_string(), self.segment));
        Ok(())
    }
}

/// Where (a character index into `raw`, a static segment that decodes) the
/// first part between `%2F`s that decodes to `.` or `..` starts.
fn dot_between_slashes(raw: &[char]) -> Option<usize> {
    let escape = |at: usize, hex: [char; 2]| {
        raw.get(at + 1..at + 3).is_some_and(|pair| {
            pair.iter()
                .zip(hex)
                .all(|(c, h)| c.eq_ignore_ascii_case(&h))
        })
    };
    // The start of the current part and its dots; `None` once it holds
    // something else.
    let (mut part, mut dots) = (0, Some(0));
    let mut i = 0;
    while i < raw.len() {
        let width = if raw[i] == '%' { 3 } else { 1 };
        if raw[i] == '%' && escape(i, ['2', 'F']) {
            if let Some(1 | 2) = dots {
                return Some(part);
            }
            (part, dots) = (i + width, Some(0));
        } else if raw[i] == '.' || (raw[i] == '%' && escape(i, ['2', 'E'])) {
            dots = dots.map(|n| n + 1);
        } else {
            dots = None;
        }
        i += width;
    }
    matches!(dots, Some(1 | 2)).then_some(part)
}

/// The one-line gist of a regex error (the parser's own message spans
/// several lines, with a caret under the pattern).
fn regex_error(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or("syntax error")
            .to_string(),
        regex::Error::CompiledTooBig(limit) => {
            format!("it compiles to more than {limit} bytes")
        }
        _ => "it does not compile".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let pattern = Pattern::parse(text).unwrap();
        let canonical = pattern.to_string();
        assert_eq!(Pattern::parse(&canonical).unwrap(), pattern, "{text}");
        canonical
    }

    #[test]
    fn canonical_form_parses_back() {
        assert_eq!(round_trip("/"), "/");
        assert_eq!(
            round_trip("/a/{b}/{c:int}/{d:uuid}/{*e}"),
            "/a/{b}/{c:int}/{d:uuid}/{*e}"
        );
        assert_eq!(round_trip("/caf%C3%A9/x"), "/café/x");
        assert_eq!(round_trip("/a%2Fb/%25/%7B%7D"), "/a%2Fb/%25/%7B%7D");
        assert_eq!(round_trip("/a%20b"), "/a%20b");
        assert_eq!(round_trip("/{c:regex([A-Z]{3})}"), "/{c:regex([A-Z]{3})}");
        assert_eq!(round_trip(r"/{c:regex(a\}b)}"), r"/{c:regex(a\}b)}");
    }

    #[test]
    fn regex_is_anchored_and_sees_one_segment() {
        let p = Pattern::parse("/{c:regex([A-Z]{3})}").unwrap();
        let Segment::Param {
            kind: ParamKind::Regex(r),
            ..
        } = &p.segments()[0]
        else {
            panic!("not a regex: {p:?}");
        };
        assert!(r.is_match("ABC"));
        assert!(!r.is_match("ABCD") && !r.is_match("xABC"));
    }

    #[test]
    fn columns_count_characters() {
        let e = Pattern::parse("/é/{").unwrap_err();
        assert_eq!((e.segment, e.column), (2, 4));
    }

    #[test]
    fn limits() {
        let long = format!("/{}", "a".repeat(crate::path::MAX_PATH_LEN));
        let e = Pattern::parse(&long).unwrap_err();
        assert!(matches!(e.kind, Kind::TooLong { .. }), "{e}");
        assert!(e.to_string().len() < 200, "{e}");
        assert!(Pattern::parse(&"/a".repeat(MAX_SEGMENTS)).is_ok());
    }

    #[test]
    fn regex_cannot_close_the_anchoring_group() {
        // Found by the `pattern` fuzz target (`/{i:regex()()}`). Accepted,
        // `a)|(b` made `^(?:a)|(b)$`, which matched `ax` and `xb`.
        for text in ["/{x:regex(a)|(b)}", "/{x:regex()()}"] {
            let e = Pattern::parse(text).unwrap_err();
            assert!(matches!(e.kind, Kind::InvalidRegex { .. }), "{text}: {e}");
        }
        assert!(Pattern::parse("/{x:regex((a)|(b))}").is_ok());
    }

    #[test]
    fn dots_between_escaped_slashes_are_refused() {
        for (text, segment, column) in [
            ("/a%2F..", 1, 6),
            ("/x/a%2f.%2Fb", 2, 8),
            ("/..%2Fa", 1, 2),
            ("/a%2F%2e%2E", 1, 6),
            ("/a%2F%2Fb%2F.", 1, 13),
        ] {
            let e = Pattern::parse(text).unwrap_err();
            assert!(matches!(e.kind, Kind::DotBetweenSlashes { .. }), "{e}");
            assert_eq!((e.segment, e.column), (segment, column), "{e}");
            // No request path could hold that segment.
            assert!(crate::path::split_path(text).is_err(), "{text}");
        }
        let e = Pattern::parse("/a%2F..").unwrap_err();
        assert!(e.to_string().contains("decodes to `a/..`"), "{e}");
        for text in [
            "/a%2F...",
            "/a%2F.b",
            "/a%2F",
            "/%2F",
            "/a%2F%2Fb",
            "/..a",
            "/a...",
        ] {
            let pattern = Pattern::parse(text).unwrap();
            let canonical = pattern.to_string();
            assert!(crate::path::split_path(&canonical).is_ok(), "{canonical}");
        }
    }

    #[test]
    fn patterns_share_an_interned_regex() {
        let regex = |text: &str| match &Pattern::parse(text).unwrap().segments()[0] {
            Segment::Param {
                kind: ParamKind::Regex(r),
                ..
            } => r.regex.clone(),
            other => panic!("not a regex: {other:?}"),
        };
        let first = regex("/{a:regex(interned_[0-9]+)}");
        let second = regex("/{b:regex(interned_[0-9]+)}");
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn huge_regex_is_refused() {
        let e = Pattern::parse("/{x:regex(\\w{1000}\\w{1000})}").unwrap_err();
        assert!(matches!(e.kind, Kind::InvalidRegex { .. }), "{e}");
    }
}
