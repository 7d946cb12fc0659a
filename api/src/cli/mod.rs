//! The `weft` subcommands.

pub mod common;
pub mod nodes;
pub mod progress;
pub mod run;
pub mod validate;
