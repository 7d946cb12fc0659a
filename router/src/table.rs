//! The routes of one (project, stage): conflicts at build time, lookups.
//!
//! ## Which route answers
//! Among the routes whose pattern matches the path, the most specific
//! wins, comparing segment by segment from the left (static > typed >
//! plain parameter > wildcard, see [`crate::pattern`]); a route that
//! ends exactly at the path's end is preferred to a wildcard taking an
//! empty rest. Only routes that answer the request's method take part, so
//! `GET /users/me` and `POST /users/{id}` both answer on `/users/me`.
//! When patterns match but none answers the method, the answer is
//! [`Lookup::MethodNotAllowed`] with the union of their methods; when no
//! pattern matches, [`Lookup::NotFound`].
//!
//! Among typed segments that could accept the same text (an `int` and a
//! `regex([0-9]+)`), the order is fixed: `int`, `uuid`, then regexes by
//! source text.
//!
//! ## Conflicts
//! Two routes conflict when their patterns have the same shape
//! ([`crate::Pattern::shape`]: same statics, same types, parameters in the
//! same places, names aside) and their method sets overlap: no request
//! could tell them apart. [`RouteTable::build`] reports every such pair.

use std::collections::HashMap;
use std::fmt;

use crate::error::PathError;
use crate::method::{Method, Methods};
use crate::params::{ParamValue, Params, normalize_uuid};
use crate::path::split_path;
use crate::pattern::{Pattern, ShapeSegment};
use crate::trie::{Capture, Search, Trie};

/// One route: a pattern and methods, answered by `target`.
#[derive(Debug, Clone)]
pub struct Route<T> {
    /// Unique within its table (e.g. the trigger's id in the flow).
    pub id: String,
    /// The flow the route belongs to, for messages.
    pub flow: String,
    pub methods: Methods,
    pub pattern: Pattern,
    /// What the caller runs for this route (a published flow version, ...).
    pub target: T,
}

/// Two routes no request could tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The route listed first.
    pub first: RouteRef,
    /// The route listed later.
    pub second: RouteRef,
    /// The methods both answer.
    pub methods: Methods,
}

/// A route, as named in a [`Conflict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRef {
    pub id: String,
    pub flow: String,
    /// The canonical pattern.
    pub pattern: String,
}

impl<T> From<&Route<T>> for RouteRef {
    fn from(route: &Route<T>) -> RouteRef {
        RouteRef {
            id: route.id.clone(),
            flow: route.flow.clone(),
            pattern: route.pattern.to_string(),
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route `{}` of flow `{}` ({}) conflicts with route `{}` of flow `{}` ({}): \
             both answer {} on the same paths",
            self.second.id,
            self.second.flow,
            self.second.pattern,
            self.first.id,
            self.first.flow,
            self.first.pattern,
            if self.methods.is_any() {
                "every method".to_string()
            } else {
                self.methods.to_string()
            }
        )
    }
}

impl std::error::Error for Conflict {}

/// The result of [`RouteTable::lookup`].
#[derive(Debug)]
pub enum Lookup<'a, T> {
    /// `route` answers, with these parameters.
    Found {
        route: &'a Route<T>,
        params: Params<'a>,
    },
    /// Routes match the path but none answers the method (HTTP 405).
    MethodNotAllowed { allow: Vec<Method> },
    /// No route matches the path (HTTP 404).
    NotFound,
}

/// The routes of one (project, stage), ready for lookups.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Route<T>>,
    trie: Trie,
}

impl<T> RouteTable<T> {
    /// Builds the table, or returns every conflicting pair (in the order of
    /// the later route, then the earlier).
    pub fn build(routes: Vec<Route<T>>) -> Result<RouteTable<T>, Vec<Conflict>> {
        let mut conflicts = Vec::new();
        let mut by_shape: HashMap<Vec<ShapeSegment<'_>>, Vec<usize>> = HashMap::new();
        for (i, route) in routes.iter().enumerate() {
            let same = by_shape.entry(route.pattern.shape()).or_default();
            for &j in same.iter() {
                let earlier = &routes[j];
                let methods = earlier.methods.intersection(route.methods);
                if !methods.is_empty() {
                    conflicts.push(Conflict {
                        first: earlier.into(),
                        second: route.into(),
                        methods,
                    });
                }
            }
            same.push(i);
        }
        drop(by_shape);
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        let trie = Trie::build(routes.iter().map(|r| (r.pattern.segments(), r.methods)));
        Ok(RouteTable { routes, trie })
    }

    /// The routes, in the order given to [`RouteTable::build`].
    pub fn routes(&self) -> &[Route<T>] {
        &self.routes
    }

    /// The route answering `method` on `path` (the path without its query
    /// string); a [`PathError`] for a path no route could match.
    pub fn lookup(&self, method: Method, path: &str) -> Result<Lookup<'_, T>, PathError> {
        let segments = split_path(path)?;
        let mut search = Search {
            trie: &self.trie,
            segments: &segments,
            method,
            captures: Vec::with_capacity(8),
            allow: Methods::NONE,
        };
        let Some(index) = search.run(0, 0) else {
            return Ok(if search.allow.is_empty() {
                Lookup::NotFound
            } else {
                Lookup::MethodNotAllowed {
                    allow: search.allow.iter().collect(),
                }
            });
        };
        let Some(route) = self.routes.get(index) else {
            return Ok(Lookup::NotFound);
        };
        let mut params = Params::with_capacity(search.captures.len());
        for (name, capture) in self.trie.param_names(index).zip(&search.captures) {
            let text = |i: usize| segments.get(i).map_or("", |s| s.as_ref());
            let value = match *capture {
                Capture::Segment(i) => ParamValue::Str(text(i).to_string()),
                Capture::Int(n) => ParamValue::Int(n),
                Capture::Uuid(i) => ParamValue::Uuid(normalize_uuid(text(i))),
                Capture::Rest(i) => ParamValue::Str(segments.get(i..).unwrap_or(&[]).join("/")),
            };
            params.push(name, value);
        }
        Ok(Lookup::Found { route, params })
    }
}
