//! Parameter values captured by a match, and the typed-segment checks.
//!
//! | pattern          | value                                           |
//! |------------------|-------------------------------------------------|
//! | `{name}`         | [`ParamValue::Str`]: the decoded segment        |
//! | `{name:int}`     | [`ParamValue::Int`]: `-?[0-9]+` within `i64`    |
//! | `{name:uuid}`    | [`ParamValue::Uuid`]: hyphenated, lower-cased   |
//! | `{name:regex()}` | [`ParamValue::Str`]: the decoded segment        |
//! | `{*name}`        | [`ParamValue::Str`]: the rest, joined with `/`  |
//!
//! `int` and `uuid` never both accept a segment (a hyphenated UUID is not
//! an integer), so `/{id:int}` and `/{id:uuid}` do not conflict.

use std::fmt;

/// A captured parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// A plain, regex-constrained or wildcard parameter.
    Str(String),
    /// An `int` parameter.
    Int(i64),
    /// A `uuid` parameter, normalized to lower-case hyphenated form.
    Uuid(String),
}

impl ParamValue {
    /// The value as text (a [`ParamValue::Str`] or [`ParamValue::Uuid`]).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) | ParamValue::Uuid(s) => Some(s),
            ParamValue::Int(_) => None,
        }
    }

    /// The value of an `int` parameter.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ParamValue::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Str(s) | ParamValue::Uuid(s) => f.write_str(s),
            ParamValue::Int(n) => write!(f, "{n}"),
        }
    }
}

/// The parameters of a match, in pattern order; names borrow from the
/// route table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params<'a> {
    items: Vec<(&'a str, ParamValue)>,
}

impl<'a> Params<'a> {
    pub(crate) fn with_capacity(n: usize) -> Params<'a> {
        Params {
            items: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, name: &'a str, value: ParamValue) {
        self.items.push((name, value));
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.items.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// `(name, value)` pairs in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &ParamValue)> {
        self.items.iter().map(|(n, v)| (*n, v))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// An `int` segment: an optional `-` and ASCII digits, within `i64`.
pub(crate) fn parse_int(segment: &str) -> Option<i64> {
    // `i64::from_str` also takes a leading `+`; a route does not.
    if segment.starts_with('+') {
        return None;
    }
    segment.parse().ok()
}

/// Whether `segment` is a hyphenated UUID (`8-4-4-4-12` hex digits, any
/// case).
pub(crate) fn is_uuid(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A UUID segment (checked by [`is_uuid`]) in normal form: lower-case.
pub(crate) fn normalize_uuid(segment: &str) -> String {
    segment.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-7"), Some(-7));
        assert_eq!(parse_int("007"), Some(7));
        assert_eq!(parse_int("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "-",
            "+1",
            "1.5",
            " 1",
            "9223372036854775808",
            "1e3",
            "٣",
        ] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        assert!(is_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8"));
        assert_eq!(
            normalize_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
        for bad in [
            "",
            "67e5504410b1426f9247bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247_bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "g7e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }
}
