//! # weft-router
//!
//! Which published flow answers an HTTP request: the Host header (or the
//! path) names a project and stage, and that stage's route table matches
//! the method and path to a route, with typed parameters. Matching is pure
//! functions and data, no I/O; routes come from a [`RouteStore`] (the
//! trait here, implemented by Weft's SQL database in the `weft` crate and
//! by DynamoDB), and a server keeps one [`RouteTable`] per (project, stage)
//! in a [`RouteCache`].
//!
//! ## Layout
//! - [`host`]: Host header → [`Target`] (project, stage, path to route):
//!   `{project}-{stage}.{base}`, custom domains, the `/{project}/{stage}`
//!   path fallback.
//! - [`pattern`]: the route pattern language (`/users/{id:int}`,
//!   `{code:regex([A-Z]{3})}`, `{*rest}`), its parser with located errors,
//!   specificity, shape, and the overlap of typed segments behind
//!   conflicts.
//! - [`table`]: [`Route`], [`RouteTable::build`] (every conflict at once;
//!   [`RouteTable::build_with`] serves typed overlaps published before
//!   they counted) and [`RouteTable::lookup`] (found, 405 with `Allow`,
//!   404).
//! - `trie` (private): the segment trie with backtracking behind lookups.
//! - [`path`]: request paths: segments, percent-decoding, limits.
//! - [`params`]: captured values ([`ParamValue`]: text, `i64`, UUID).
//! - [`method`]: [`Method`] and the [`Methods`] set of a route.
//! - [`published`]: a flow document's HTTP triggers as routes, and the
//!   conflicts a publish would make on its stage.
//! - [`store`]: [`RouteStore`], where routers read the routes live on a
//!   stage ([`RouteRecord`]s and the stage's routes version), and the
//!   table built from them.
//! - [`cache`]: [`RouteCache`], compiled tables per (project, stage),
//!   stamped with the stage's routes version, dropped on a change.
//! - `dynamodb` (feature `dynamodb`): `DynamoRoutes`, a [`RouteStore`] in
//!   a DynamoDB table (one item per route, one version item per stage).
//! - [`error`]: every error, as `thiserror` enums.
//!
//! Data flows one way: request → [`HostResolver::resolve`] → table for
//! (project, stage) → [`RouteTable::lookup`] → route and parameters.
//!
//! Tests: unit tests per module, golden cases in `tests/golden/*.golden`
//! (`WEFT_BLESS=1 cargo test -p weft-router --test golden` rewrites their
//! expected output), a randomized no-panic test in `tests/no_panic.rs`;
//! `cargo bench -p weft-router` prints lookup latencies.

pub mod cache;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod error;
pub mod host;
pub mod method;
pub mod params;
pub mod path;
pub mod pattern;
pub mod published;
pub mod store;
pub mod table;
mod trie;

pub use cache::{Cached, RouteCache};
pub use error::{ConfigError, HostError, PathError, PatternError, PatternErrorKind};
pub use host::{CustomDomain, HostConfig, HostResolver, Target, Via};
pub use method::{Method, Methods};
pub use params::{ParamValue, Params};
pub use pattern::{Pattern, Segment, Specificity};
pub use published::{FlowRoute, flow_routes, publish_conflicts};
pub use store::{
    RouteRecord, RouteStore, RouteStoreError, StageKey, StageRoutes, StoreFuture, document_records,
    stage_table,
};
pub use table::{Conflict, ConflictKind, ConflictPolicy, Lookup, Route, RouteRef, RouteTable};
