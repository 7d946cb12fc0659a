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
//! Typed segments are tried in a fixed order: `int`, `uuid`, then regexes
//! by source text. The order only decides between routes that answer
//! different methods, or that differ further along the path
//! (`/n/{a:int}/{*rest}` and `/n/{b:regex([0-9]+)}/x` on `/n/5/x`): routes
//! it would pick between silently are a conflict (below).
//!
//! ## Conflicts
//! Two routes conflict when their method sets overlap and, position by
//! position, their segments are of the same specificity class and could
//! accept a common segment text: equal statics; two plain parameters; two
//! wildcards; two typed segments whose languages intersect (an `int` and a
//! `regex([0-9]+)`, a `uuid` and a regex accepting a UUID, two regexes
//! sharing a text; not `regex([a-z]+)` and `regex([0-9]+)`). Some request
//! then matches both with the same specificity everywhere, and no request
//! could tell them apart. Routes of the same shape
//! ([`crate::Pattern::shape`]: same statics, same types, parameters in the
//! same places, names aside) always conflict, even through a regex that
//! accepts nothing.
//!
//! Whether two typed segments share a text is decided on their automata
//! (`pattern/overlap.rs`, `pattern/language.rs`): exactly, counting only
//! texts a request segment can be (non-empty, no `.` or `..` between
//! decoded `%2F`s), except past a bound (a DFA over 1 MiB, more than
//! 20,000 product states explored for a pair or 1,000,000 for the build,
//! a Unicode `\b` meeting non-ASCII text): then they count as sharing
//! one, so a doubt is reported as a conflict, never missed. The path
//! length limit is not taken into account.
//!
//! [`RouteTable::build`] reports every conflicting pair. The test costs
//! time at build (and publish) only, and only for routes alike but for
//! their typed segments (the types in one place are decided together, on
//! one DFA); lookups are unchanged.
//!
//! ## Serving what was published under the older rule
//! Typed segments sharing a text were not always a conflict: a stage may
//! hold routes published before, which the fixed typed order has always
//! told apart. Each [`Conflict`] says which rule it breaks
//! ([`ConflictKind`]), and [`RouteTable::build_with`] with
//! [`ConflictPolicy::TolerateTypedOverlaps`] (what routers use,
//! [`crate::stage_table`]) fails only on same-shape conflicts: the typed
//! overlaps are served in the fixed order and kept in
//! [`RouteTable::overlaps`] for the caller to report. Publishing and flow
//! validation refuse both ([`ConflictPolicy::RefuseAll`]).

use std::collections::HashMap;
use std::fmt;

use crate::error::PathError;
use crate::method::{Method, Methods};
use crate::params::{ParamValue, Params, normalize_uuid};
use crate::path::split_path;
use crate::pattern::Pattern;
use crate::pattern::overlap::{self, Class, Overlaps, classes};
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
    /// Which rule the pair breaks.
    pub kind: ConflictKind,
}

/// Why two routes conflict (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// The patterns have the same shape ([`crate::Pattern::shape`]): they
    /// match exactly the same paths, and only their order in the list
    /// could decide between them.
    SameShape,
    /// The shapes differ, but in typed segments that could accept a
    /// common text (`/a/{id:int}` and `/a/{c:regex([0-9]+)}`): the fixed
    /// typed order (`int`, `uuid`, then regexes by source) decides
    /// between them, silently. A conflict since typed overlaps are
    /// checked; a stage published before may hold some.
    TypedOverlap,
}

/// Which conflicts fail [`RouteTable::build_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictPolicy {
    /// Every conflict fails the build ([`RouteTable::build`]): publishing
    /// and flow validation.
    RefuseAll,
    /// Only [`ConflictKind::SameShape`] conflicts fail the build; the
    /// [`ConflictKind::TypedOverlap`]s are served in the fixed typed order
    /// and listed by [`RouteTable::overlaps`]: serving a stage, which may
    /// hold routes published before typed overlaps were checked.
    TolerateTypedOverlaps,
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

/// Every conflicting pair of `routes` (see the module documentation), in
/// the order of the later route, then the earlier. Only routes with the
/// same [`Class`] at every segment are compared.
fn conflicts<T>(routes: &[Route<T>]) -> Vec<Conflict> {
    let mut by_class: HashMap<Vec<Class<'_>>, Vec<(usize, &Route<T>)>> = HashMap::new();
    for (i, route) in routes.iter().enumerate() {
        by_class
            .entry(classes(&route.pattern))
            .or_default()
            .push((i, route));
    }
    let groups: Vec<&Vec<(usize, &Route<T>)>> =
        by_class.values().filter(|group| group.len() > 1).collect();
    let mut contested = Vec::new();
    for group in &groups {
        let patterns: Vec<&Pattern> = group.iter().map(|(_, r)| &r.pattern).collect();
        overlap::contested(&patterns, &mut contested);
    }
    let mut overlaps = Overlaps::new(&contested);
    let mut found = Vec::new();
    for group in groups {
        for (k, &(i, route)) in group.iter().enumerate() {
            for &(j, earlier) in &group[..k] {
                let methods = earlier.methods.intersection(route.methods);
                if !methods.is_empty() && overlaps.patterns(&earlier.pattern, &route.pattern) {
                    let kind = if earlier.pattern.shape() == route.pattern.shape() {
                        ConflictKind::SameShape
                    } else {
                        ConflictKind::TypedOverlap
                    };
                    let conflict = Conflict {
                        first: earlier.into(),
                        second: route.into(),
                        methods,
                        kind,
                    };
                    found.push((i, j, conflict));
                }
            }
        }
    }
    found.sort_by_key(|&(i, j, _)| (i, j));
    found.into_iter().map(|(_, _, conflict)| conflict).collect()
}

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
    /// The conflicts the build tolerated (typed overlaps only).
    overlaps: Vec<Conflict>,
}

impl<T> RouteTable<T> {
    /// Builds the table, or returns every conflicting pair (in the order of
    /// the later route, then the earlier). [`ConflictPolicy::RefuseAll`].
    pub fn build(routes: Vec<Route<T>>) -> Result<RouteTable<T>, Vec<Conflict>> {
        RouteTable::build_with(routes, ConflictPolicy::RefuseAll)
    }

    /// Builds the table unless a conflict that `policy` refuses is found;
    /// then returns every conflicting pair, of either kind (in the order
    /// of the later route, then the earlier). The conflicts `policy`
    /// tolerates are kept in [`RouteTable::overlaps`].
    pub fn build_with(
        routes: Vec<Route<T>>,
        policy: ConflictPolicy,
    ) -> Result<RouteTable<T>, Vec<Conflict>> {
        let conflicts = conflicts(&routes);
        let refused = |c: &Conflict| match policy {
            ConflictPolicy::RefuseAll => true,
            ConflictPolicy::TolerateTypedOverlaps => c.kind == ConflictKind::SameShape,
        };
        if conflicts.iter().any(refused) {
            return Err(conflicts);
        }
        let trie = Trie::build(routes.iter().map(|r| (r.pattern.segments(), r.methods)));
        Ok(RouteTable {
            routes,
            trie,
            overlaps: conflicts,
        })
    }

    /// The conflicts the build tolerated, in the order
    /// [`RouteTable::build_with`] lists them: typed overlaps under
    /// [`ConflictPolicy::TolerateTypedOverlaps`], none otherwise. Routes
    /// in one are still answered, in the fixed typed order.
    pub fn overlaps(&self) -> &[Conflict] {
        &self.overlaps
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn table(routes: &[(&str, &str)]) -> Vec<Route<()>> {
        routes
            .iter()
            .map(|&(id, pattern)| Route {
                id: id.to_string(),
                flow: "f".to_string(),
                methods: Method::Get.into(),
                pattern: Pattern::parse(pattern).unwrap(),
                target: (),
            })
            .collect()
    }

    fn found(table: &RouteTable<()>, path: &str) -> String {
        match table.lookup(Method::Get, path).unwrap() {
            Lookup::Found { route, .. } => route.id.clone(),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn conflicts_say_which_rule_they_break() {
        let routes = table(&[
            ("int", "/a/{x:int}"),
            ("digits", "/a/{y:regex([0-9]+)}"),
            ("again", "/a/{z:int}"),
        ]);
        let conflicts = RouteTable::build(routes).unwrap_err();
        let kinds: Vec<(&str, &str, ConflictKind)> = conflicts
            .iter()
            .map(|c| (c.first.id.as_str(), c.second.id.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("int", "digits", ConflictKind::TypedOverlap),
                ("int", "again", ConflictKind::SameShape),
                ("digits", "again", ConflictKind::TypedOverlap),
            ]
        );
    }

    #[test]
    fn serving_tolerates_typed_overlaps_only() {
        let overlapping = || {
            table(&[
                ("digits", "/a/{y:regex([0-9]+)}"),
                ("int", "/a/{x:int}"),
                ("uuid", "/u/{u:uuid}"),
                ("hex", "/u/{h:regex([0-9a-f-]+)}"),
                ("other", "/b/{x:int}"),
            ])
        };
        assert_eq!(RouteTable::build(overlapping()).unwrap_err().len(), 2);
        let served =
            RouteTable::build_with(overlapping(), ConflictPolicy::TolerateTypedOverlaps).unwrap();
        let tolerated: Vec<(&str, &str)> = served
            .overlaps()
            .iter()
            .map(|c| (c.first.id.as_str(), c.second.id.as_str()))
            .collect();
        assert_eq!(tolerated, [("digits", "int"), ("uuid", "hex")]);
        assert!(
            served
                .overlaps()
                .iter()
                .all(|c| c.kind == ConflictKind::TypedOverlap)
        );
        // The fixed typed order: int, uuid, then regexes by source.
        assert_eq!(found(&served, "/a/5"), "int");
        assert_eq!(found(&served, "/a/99999999999999999999"), "digits");
        assert_eq!(
            found(&served, "/u/67e55044-10b1-426f-9247-bb680e5fe0c8"),
            "uuid"
        );
        assert_eq!(found(&served, "/u/abc-1"), "hex");

        // Nothing to tolerate: no overlaps listed, under either policy.
        let plain = table(&[("int", "/a/{x:int}"), ("letters", "/a/{y:regex([a-z]+)}")]);
        let built = RouteTable::build_with(plain, ConflictPolicy::TolerateTypedOverlaps).unwrap();
        assert!(built.overlaps().is_empty());
        let strict = RouteTable::build(table(&[("int", "/a/{x:int}")])).unwrap();
        assert!(strict.overlaps().is_empty());

        // A same-shape pair fails the serving build too, with every
        // conflict named.
        let mut duplicated = overlapping();
        duplicated.extend(table(&[("again", "/a/{n:int}")]));
        let conflicts =
            RouteTable::build_with(duplicated, ConflictPolicy::TolerateTypedOverlaps).unwrap_err();
        let kinds: Vec<ConflictKind> = conflicts.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ConflictKind::TypedOverlap,
                ConflictKind::TypedOverlap,
                ConflictKind::TypedOverlap,
                ConflictKind::SameShape,
            ]
        );
    }

    #[test]
    fn a_doubt_past_the_bounds_does_not_stop_serving() {
        // The first regex's DFA is past its size limit, so the pair counts
        // as overlapping though no text is shared.
        let routes = || {
            table(&[
                ("huge", "/h/{x:regex([ab]*a[ab]{20})}"),
                ("digits", "/h/{y:regex([0-9]+)}"),
            ])
        };
        assert!(RouteTable::build(routes()).is_err());
        let served =
            RouteTable::build_with(routes(), ConflictPolicy::TolerateTypedOverlaps).unwrap();
        assert_eq!(served.overlaps().len(), 1);
        assert_eq!(found(&served, "/h/42"), "digits");
        assert_eq!(found(&served, &format!("/h/a{}", "b".repeat(20))), "huge");
    }
}
