//! Route patterns: syntax, parser, canonical form, specificity and shape.
//!
//! ## Syntax
//! A pattern starts with `/`; `/` alone is the root. Each segment between
//! slashes is either all static text or exactly one parameter:
//!
//! | segment               | matches                                      |
//! |-----------------------|----------------------------------------------|
//! | `users`               | exactly `users` (after percent-decoding)     |
//! | `{id}`                | any one segment                              |
//! | `{id:int}`            | `-?[0-9]+` within `i64`                      |
//! | `{id:uuid}`           | a hyphenated UUID, any case                  |
//! | `{code:regex(RE)}`    | a segment matching `RE` as a whole           |
//! | `{*rest}`             | the rest of the path, zero or more segments; |
//! |                       | only as the last segment                     |
//!
//! `RE` is a [`regex`] expression, anchored at both ends (`^(?:RE)$`). It
//! may contain balanced `{…}` and `(…)` (`regex([A-Z]{3})`); a `}` or `{`
//! that is not balanced is written `\}` / `\{`. Names are ASCII letters,
//! digits and `_`, not starting with a digit, unique within a pattern.
//! Static text may use `%XX` escapes, and any character but ASCII
//! controls, space and `` "#<>?[\]^`{|} ``. A static segment that no
//! request path could hold is refused: `.` or `..`, also escaped (`%2e`),
//! and one with a `.` or `..` between `%2F`s (`a%2F..`), see
//! [`crate::path`].
//!
//! ## Specificity, shape and overlap
//! Per segment: static, then typed (`int`, `uuid`, `regex`), then plain
//! parameter, then wildcard ([`Specificity`]). Two patterns have the same *shape*
//! ([`Pattern::shape`]) when they match exactly the same paths: same
//! statics, same types (regexes compared by source) and parameters in the
//! same places; names do not count. Patterns of different shapes can still
//! *overlap*: some path matches both with the same specificity at every
//! segment (`/a/{id:int}` and `/a/{code:regex([0-9]+)}`). See
//! [`crate::table`] for how these decide matches and conflicts.
//!
//! The types are here; the parser is in `parser`, the process-wide cache
//! of compiled regex constraints in `interned`, the overlap test behind
//! conflicts in `overlap`, with typed segments as automata in `language`.

mod interned;
mod language;
pub(crate) mod overlap;
mod parser;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use regex::Regex;

use crate::error::PatternError;

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

/// One segment of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text, percent-decoded.
    Static(String),
    /// `{name}` or `{name:type}`.
    Param { name: String, kind: ParamKind },
    /// `{*name}`: the rest of the path.
    Wildcard { name: String },
}

/// The type of a [`Segment::Param`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamKind {
    Plain,
    Int,
    Uuid,
    Regex(RegexConstraint),
}

/// A `regex(...)` constraint: its source and the anchored, compiled form.
/// Equality and hashing go by source.
#[derive(Debug, Clone)]
pub struct RegexConstraint {
    source: String,
    regex: Arc<Regex>,
}

impl RegexConstraint {
    /// The expression as written between `regex(` and `)`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `segment` matches.
    pub fn is_match(&self, segment: &str) -> bool {
        self.regex.is_match(segment)
    }
}

impl PartialEq for RegexConstraint {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RegexConstraint {}

impl Hash for RegexConstraint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

/// How specific a segment is; greater is more specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Specificity {
    Wildcard,
    Param,
    Typed,
    Static,
}

/// One segment of a pattern's shape: what it matches, without names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShapeSegment<'a> {
    Static(&'a str),
    Int,
    Uuid,
    Regex(&'a str),
    Param,
    Wildcard,
}

impl Segment {
    pub fn specificity(&self) -> Specificity {
        match self {
            Segment::Static(_) => Specificity::Static,
            Segment::Param {
                kind: ParamKind::Plain,
                ..
            } => Specificity::Param,
            Segment::Param { .. } => Specificity::Typed,
            Segment::Wildcard { .. } => Specificity::Wildcard,
        }
    }

    pub fn shape(&self) -> ShapeSegment<'_> {
        match self {
            Segment::Static(text) => ShapeSegment::Static(text),
            Segment::Param { kind, .. } => match kind {
                ParamKind::Plain => ShapeSegment::Param,
                ParamKind::Int => ShapeSegment::Int,
                ParamKind::Uuid => ShapeSegment::Uuid,
                ParamKind::Regex(r) => ShapeSegment::Regex(&r.source),
            },
            Segment::Wildcard { .. } => ShapeSegment::Wildcard,
        }
    }

    /// The parameter name, if the segment captures one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Segment::Static(_) => None,
            Segment::Param { name, .. } | Segment::Wildcard { name } => Some(name),
        }
    }
}

impl Pattern {
    /// Parses `text`; see the module documentation for the syntax.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        parser::Parser::new(text)?.run()
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The specificity of each segment, left to right.
    pub fn specificity(&self) -> Vec<Specificity> {
        self.segments.iter().map(Segment::specificity).collect()
    }

    /// Equal for patterns that match exactly the same paths.
    pub fn shape(&self) -> Vec<ShapeSegment<'_>> {
        self.segments.iter().map(Segment::shape).collect()
    }

    /// The parameter names, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(Segment::name)
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Pattern, PatternError> {
        Pattern::parse(text)
    }
}

/// The canonical text: parses back to an equal pattern.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            f.write_str("/")?;
            match segment {
                Segment::Static(text) => {
                    for c in text.chars() {
                        if static_char_ok(c) && c != '%' {
                            write!(f, "{c}")?;
                        } else {
                            let mut buf = [0; 4];
                            for b in c.encode_utf8(&mut buf).bytes() {
                                write!(f, "%{b:02X}")?;
                            }
                        }
                    }
                }
                Segment::Param { name, kind } => match kind {
                    ParamKind::Plain => write!(f, "{{{name}}}")?,
                    ParamKind::Int => write!(f, "{{{name}:int}}")?,
                    ParamKind::Uuid => write!(f, "{{{name}:uuid}}")?,
                    ParamKind::Regex(r) => write!(f, "{{{name}:regex({})}}", r.source)?,
                },
                Segment::Wildcard { name } => write!(f, "{{*{name}}}")?,
            }
        }
        Ok(())
    }
}

/// Whether `c` may appear unescaped in a static segment: RFC 3986 `pchar`
/// (with `%` for escapes) plus any non-ASCII character but controls.
fn static_char_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%".contains(c)
    } else {
        !c.is_control()
    }
}
