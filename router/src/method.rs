//! HTTP methods and the set of methods a route answers.
//!
//! [`Methods`] is a bit set over [`Method`]; [`Methods::ANY`] is every
//! method. Two routes of the same shape conflict when their sets overlap.

use std::fmt;
use std::str::FromStr;

use crate::error::UnknownMethod;

/// An HTTP method. The order is the order of `Allow` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Connect,
    Trace,
}

impl Method {
    /// Every method, in `Allow`-list order.
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
        Method::Connect,
        Method::Trace,
    ];

    /// The method's name as sent on the wire (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    /// Method names are case-sensitive (RFC 9110 §9.1): `GET`, not `get`.
    fn from_str(s: &str) -> Result<Method, UnknownMethod> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMethod(crate::error::shown(s)))
    }
}

/// The methods a route answers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Methods(u16);

impl Methods {
    /// No method (a route that never matches).
    pub const NONE: Methods = Methods(0);
    /// Every method.
    pub const ANY: Methods = Methods((1 << Method::ALL.len()) - 1);

    /// Exactly `methods`.
    pub fn only(methods: impl IntoIterator<Item = Method>) -> Methods {
        Methods(methods.into_iter().fold(0, |bits, m| bits | m.bit()))
    }

    pub fn contains(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn is_any(self) -> bool {
        self == Methods::ANY
    }

    /// The methods in both sets.
    pub fn intersection(self, other: Methods) -> Methods {
        Methods(self.0 & other.0)
    }

    /// The methods in either set.
    pub fn union(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    /// The methods, in `Allow`-list order.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

impl From<Method> for Methods {
    fn from(method: Method) -> Methods {
        Methods(method.bit())
    }
}

/// `*` for [`Methods::ANY`], else the names joined by `,` (`GET,POST`).
impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("*");
        }
        for (i, m) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Methods({self})")
    }
}

impl FromStr for Methods {
    type Err = UnknownMethod;

    /// `*` (or `ANY`) for every method, else names separated by `,`.
    fn from_str(s: &str) -> Result<Methods, UnknownMethod> {
        if s == "*" || s == "ANY" {
            return Ok(Methods::ANY);
        }
        s.split(',')
            .map(|name| name.trim().parse::<Method>())
            .try_fold(Methods::NONE, |set, m| Ok(set.union(m?.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let m: Methods = "GET,POST".parse().unwrap();
        assert_eq!(m.to_string(), "GET,POST");
        assert!(m.contains(Method::Post) && !m.contains(Method::Put));
        assert_eq!("*".parse::<Methods>().unwrap(), Methods::ANY);
        assert_eq!(Methods::only(Method::ALL).to_string(), "*");
        assert!("get".parse::<Method>().is_err());
        assert!("GET,".parse::<Methods>().is_err());
        assert!(Methods::ANY.intersection(Method::Get.into()) == Method::Get.into());
    }
}
