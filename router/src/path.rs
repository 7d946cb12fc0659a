//! Request paths: splitting into segments, percent-decoding, limits.
//!
//! A request path is split on `/` before decoding, so `%2F` is part of a
//! segment, not a separator. Rules, each with its own [`PathError`]:
//! - at most [`MAX_PATH_LEN`] bytes and [`MAX_SEGMENTS`] segments;
//! - it starts with `/`; one trailing `/` is ignored (`/users/` is
//!   `/users`), but an empty segment inside (`/a//b`) is refused;
//! - `%XX` escapes must be valid and decode to UTF-8;
//! - no segment may be `.` or `..`, also when written with escapes
//!   (`%2e%2E`), nor hold one between escaped slashes (`a%2F..`), so no
//!   parameter or wildcard capture ever holds a `.` or `..` segment.
//!
//! The path is taken as given: the caller passes the path without its
//! query string (`uri.path()`).

use std::borrow::Cow;

use crate::error::PathError;

/// The longest request path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// The most segments a request path (or a route pattern) may have.
pub const MAX_SEGMENTS: usize = 64;

/// Why a percent-escaped text does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    BadEscape,
    NotUtf8,
}

/// Decodes `%XX` escapes; borrows when there are none.
pub(crate) fn percent_decode(text: &str) -> Result<Cow<'_, str>, DecodeError> {
    if !text.contains('%') {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(DecodeError::BadEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The decoded segments of request path `path` (none for `/`).
pub fn split_path(path: &str) -> Result<Vec<Cow<'_, str>>, PathError> {
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong {
            len: path.len(),
            max: MAX_PATH_LEN,
        });
    }
    let Some(body) = path.strip_prefix('/') else {
        return Err(PathError::NotAbsolute {
            path: crate::error::shown(path),
        });
    };
    let mut segments = Vec::new();
    if body.is_empty() {
        return Ok(segments);
    }
    // One trailing `/` is ignored; `//` is an empty segment.
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return Err(PathError::EmptySegment { segment: 1 });
    }
    for (i, raw) in body.split('/').enumerate() {
        let segment = i + 1;
        if segment > MAX_SEGMENTS {
            return Err(PathError::TooManySegments { max: MAX_SEGMENTS });
        }
        if raw.is_empty() {
            return Err(PathError::EmptySegment { segment });
        }
        let decoded = percent_decode(raw).map_err(|e| match e {
            DecodeError::BadEscape => PathError::BadEscape { segment },
            DecodeError::NotUtf8 => PathError::NotUtf8 { segment },
        })?;
        // `%2F` decodes to a `/` inside the segment: `a%2F..` must not
        // smuggle a `..` into a parameter or a wildcard capture.
        if decoded.split('/').any(|part| part == "." || part == "..") {
            return Err(PathError::DotSegment {
                segment,
                text: crate::error::shown(raw),
            });
        }
        segments.push(decoded);
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b").unwrap(), "a b");
        assert_eq!(percent_decode("caf%C3%A9").unwrap(), "café");
        assert!(matches!(percent_decode("plain").unwrap(), Cow::Borrowed(_)));
        assert_eq!(percent_decode("%"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%4"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%zz"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%FF"), Err(DecodeError::NotUtf8));
        // A multi-byte character right after `%` must not be sliced.
        assert_eq!(percent_decode("%é"), Err(DecodeError::BadEscape));
    }

    #[test]
    fn splitting() {
        assert!(split_path("/").unwrap().is_empty());
        assert_eq!(split_path("/a/b/").unwrap(), ["a", "b"]);
        assert_eq!(split_path("/a%2Fb").unwrap(), ["a/b"]);
        assert_eq!(
            split_path("/a//b"),
            Err(PathError::EmptySegment { segment: 2 })
        );
        assert!(matches!(
            split_path("/a/%2e%2E"),
            Err(PathError::DotSegment { segment: 2, .. })
        ));
        assert!(matches!(split_path(""), Err(PathError::NotAbsolute { .. })));
        assert_eq!(
            split_path("//"),
            Err(PathError::EmptySegment { segment: 1 })
        );
        assert!(matches!(
            split_path("/f/a%2F..%2Fetc"),
            Err(PathError::DotSegment { segment: 2, .. })
        ));
        assert!(matches!(
            split_path(&"/a".repeat(65)),
            Err(PathError::TooManySegments { .. })
        ));
        assert!(split_path(&"/a".repeat(64)).is_ok());
        // The segment is quoted clipped, like all client text.
        let long = format!("/f/{}%2F..", "x".repeat(5000));
        let e = split_path(&long).unwrap_err();
        assert!(matches!(e, PathError::DotSegment { segment: 2, .. }), "{e}");
        let message = e.to_string();
        assert!(message.len() < 300, "{} bytes: {message}", message.len());
        assert!(message.contains("xxx…`"), "{message}");
        assert!(matches!(
            split_path(&format!("/{}", "a".repeat(MAX_PATH_LEN))),
            Err(PathError::TooLong { .. })
        ));
    }
}
