//! Every error the router reports, as `thiserror` enums.
//!
//! - [`HostError`]: the Host header (or the path fallback) names no
//!   project and stage; the server answers 400.
//! - [`PathError`]: the request path cannot be routed at all (too long, too
//!   many segments, `.`/`..`, bad percent-escapes); the server answers 400
//!   (414 for [`PathError::TooLong`]).
//! - [`PatternError`]: a route pattern does not parse; it names the column
//!   and segment and what is wrong (publish time, 422).
//! - [`ConfigError`]: a [`crate::HostConfig`] is invalid (start-up).
//!
//! Conflicts between routes are not errors of one route but of a table:
//! see [`crate::Conflict`].
//!
//! Messages quote what the client sent, escaped and clipped by `shown`,
//! so that an error about a 1 MiB header is not itself 1 MiB.

use std::fmt;

use thiserror::Error;

/// The longest quotation of client input in an error message, in characters.
const SHOWN_MAX: usize = 80;

/// `text` for an error message: control characters escaped, clipped to
/// [`SHOWN_MAX`] characters (with `…`).
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where a project slug or stage name was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The first label of the Host header.
    Host,
    /// The first two segments of the path (the path fallback).
    Path,
    /// A custom domain in the configuration.
    Config,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Host => "in the Host",
            Source::Path => "in the path",
            Source::Config => "in the configuration",
        })
    }
}

/// Why a project slug or stage name is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SlugProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is {len} characters long")]
    TooLong { len: usize },
    #[error("it starts with a hyphen")]
    LeadingHyphen,
    #[error("`{}` is not allowed", .ch.escape_default())]
    InvalidChar { ch: char },
}

/// The request names no project and stage (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostError {
    #[error("missing Host header")]
    Missing,
    #[error("empty Host header")]
    Empty,
    #[error("Host header is {len} bytes long; a host name has at most {max}")]
    TooLong { len: usize, max: usize },
    #[error("Host `{host}` is not ASCII: internationalized names are sent in punycode (`xn--...`)")]
    NotAscii { host: String },
    #[error("Host `{host}` has an invalid port `{port}`: expected 1 to 5 digits")]
    InvalidPort { host: String, port: String },
    #[error("Host `{host}` is not a valid IP literal: expected `[address]` or `[address]:port`")]
    InvalidIpLiteral { host: String },
    #[error("Host `{host}` has an empty label (a leading dot or `..`)")]
    EmptyLabel { host: String },
    #[error("Host `{host}` has a label of {len} characters; DNS allows at most 63")]
    LabelTooLong { host: String, len: usize },
    #[error(
        "Host `{host}` contains `{}`: host names are letters, digits, hyphens and dots",
        .ch.escape_default()
    )]
    InvalidChar { host: String, ch: char },
    #[error(
        "Host `{host}` is more than one label below `{base}`: expected `{{project}}-{{stage}}.{base}`"
    )]
    NotOneLabel { host: String, base: String },
    #[error(
        "Host `{host}` names no stage: expected `{{project}}-{{stage}}.{base}` \
         (the stage follows the last hyphen)"
    )]
    NoStage { host: String, base: String },
    #[error(
        "invalid project slug `{project}` {at}: {problem} \
         (use 1 to 63 lowercase letters, digits and hyphens, not starting with a hyphen)"
    )]
    InvalidProject {
        project: String,
        at: Source,
        problem: SlugProblem,
    },
    #[error("invalid stage `{stage}` {at}: {problem} (use 1 to 63 lowercase letters and digits)")]
    InvalidStage {
        stage: String,
        at: Source,
        problem: SlugProblem,
    },
    #[error(
        "path `{path}` names no project and stage: expected `/{{project}}/{{stage}}/...` \
         (the Host `{host}` names none)"
    )]
    FallbackPath { host: String, path: String },
    #[error(
        "Host `{host}` is not served here: it is neither `{{project}}-{{stage}}` below a base \
         domain nor a custom domain (and the path fallback is off)"
    )]
    UnknownHost { host: String },
}

/// The request path cannot be matched against any route (HTTP 400, or 414
/// for [`PathError::TooLong`]). Segments are counted from 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("path `{path}` does not start with `/`")]
    NotAbsolute { path: String },
    #[error("path is {len} bytes long; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    #[error("path has more than {max} segments")]
    TooManySegments { max: usize },
    #[error("path segment {segment} is empty (`//`)")]
    EmptySegment { segment: usize },
    /// `text` is the segment as sent, clipped by `shown`.
    #[error(
        "path segment {segment} is `{text}`: `.` and `..` segments are not accepted, also not between `%2F`s"
    )]
    DotSegment { segment: usize, text: String },
    #[error("path segment {segment} has an invalid percent-escape (`%` takes two hex digits)")]
    BadEscape { segment: usize },
    #[error("path segment {segment} does not decode to UTF-8")]
    NotUtf8 { segment: usize },
}

/// What is wrong with a route pattern; see [`PatternError`] for where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternErrorKind {
    #[error("empty pattern (the root is `/`)")]
    Empty,
    #[error("a pattern starts with `/`")]
    NoLeadingSlash,
    #[error("the pattern is {len} bytes long; at most {max}")]
    TooLong { len: usize, max: usize },
    #[error("more than {max} segments")]
    TooManySegments { max: usize },
    #[error("empty segment (`//`, or a trailing `/`)")]
    EmptySegment,
    #[error("`.` and `..` are not allowed as segments")]
    DotSegment,
    #[error(
        "the segment decodes to `{decoded}`, with a `.` or `..` between `%2F`s: \
         request paths holding one are refused, so the route could never match"
    )]
    DotBetweenSlashes { decoded: String },
    #[error("`{}` is not allowed in a path segment (percent-encode it)", .ch.escape_default())]
    InvalidChar { ch: char },
    #[error("invalid percent-escape (`%` takes two hex digits)")]
    BadEscape,
    #[error("percent-escapes do not decode to UTF-8")]
    EscapeNotUtf8,
    #[error("unclosed `{{`: a parameter ends with `}}`")]
    UnclosedBrace,
    #[error("unmatched `}}`")]
    UnmatchedClose,
    #[error("a parameter must be a whole segment (`/{{name}}/`), not part of one")]
    NotWholeSegment,
    #[error("empty parameter name")]
    EmptyName,
    #[error(
        "invalid parameter name `{name}`: use ASCII letters, digits and `_`, \
         not starting with a digit, at most 64"
    )]
    InvalidName { name: String },
    #[error("duplicate parameter name `{name}` (first used in segment {first})")]
    DuplicateName { name: String, first: usize },
    #[error("the wildcard `{{*{name}}}` must be the last segment")]
    WildcardNotLast { name: String },
    #[error("a wildcard takes no type: write `{{*{name}}}`")]
    WildcardTyped { name: String },
    #[error("`:` must be followed by a type: `int`, `uuid` or `regex(...)`")]
    MissingType,
    #[error("unknown parameter type `{ty}`: use `int`, `uuid` or `regex(...)`")]
    UnknownType { ty: String },
    #[error("`regex` takes its expression in parentheses: `regex(...)`, closed before `}}`")]
    UnclosedRegex,
    #[error("empty regex in `regex()`")]
    EmptyRegex,
    #[error("invalid regex: {error}")]
    InvalidRegex { error: String },
}

/// A route pattern that does not parse. `column` counts characters from 1;
/// `segment` counts segments from 1, and is 0 when the error concerns the
/// whole pattern.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct PatternError {
    /// The pattern as written (clipped, escaped).
    pub pattern: String,
    pub column: usize,
    pub segment: usize,
    pub kind: PatternErrorKind,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid route pattern `{}`: ", self.pattern)?;
        if self.segment > 0 {
            write!(f, "segment {}, ", self.segment)?;
        }
        write!(f, "column {}: {}", self.column, self.kind)
    }
}

/// An invalid [`crate::HostConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("invalid base domain `{domain}`: {reason}")]
    BaseDomain { domain: String, reason: HostError },
    #[error("invalid custom domain `{domain}`: {reason}")]
    CustomDomain { domain: String, reason: HostError },
    #[error("custom domain `{domain}` is listed twice")]
    DuplicateCustomDomain { domain: String },
}

/// A method name that is not one of [`crate::Method`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown HTTP method `{0}`")]
pub struct UnknownMethod(pub String);
