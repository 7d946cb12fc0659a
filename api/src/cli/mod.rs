//! The `weft` subcommands.

pub mod common;
pub mod config;
pub mod nodes;
pub mod progress;
pub mod router;
pub mod run;
pub mod serve;
pub mod validate;

use std::io::Write;

/// Writes to stdout. A closed pipe (`weft nodes | head -1`) surfaces as
/// an `io::ErrorKind::BrokenPipe` error, which `main` ends quietly on.
pub fn out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}
