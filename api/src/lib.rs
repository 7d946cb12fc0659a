//! # weft (library)
//!
//! The server half of the `weft` binary, as a library so that its tests
//! (and `tests/`) can drive it in-process. The command-line front end is
//! `main.rs` and `cli/`.
//!
//! ## Layout
//! - [`store`]: durable state through sqlx: projects, flows and their
//!   immutable versions, stages and publications, runs with their node
//!   records and events, encrypted secrets, API tokens. SQLite (the default,
//!   a file under `./weft-data/`) or PostgreSQL, same behaviour, one
//!   migration set per database.
//! - [`server`]: `weft serve`: the REST API, the editor websocket, run
//!   execution with live event fan-out, metrics.

pub mod server;
pub mod store;
