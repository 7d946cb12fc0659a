//! # weft
//!
//! The `weft` command: `run`, `validate`, `nodes`, `serve` and `router`;
//! deployment arrives with its issue. The server itself is
//! the `weft` library (`lib.rs`).
//!
//! ## Layout
//! - `main.rs`: argument parsing and dispatch; errors become one line on
//!   stderr and a non-zero exit status, never a panic or a backtrace.
//! - `cli/`: one module per command, plus `progress` (the live stderr view
//!   of a run) and `common` (engine setup shared by the commands).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Weft: typed AI workflows, every node a sandboxed WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a flow and print its outputs as JSON.
    Run(cli::run::RunArgs),
    /// Check a flow and report every problem at once.
    Validate(cli::validate::ValidateArgs),
    /// List the node types this Weft can run.
    Nodes(cli::nodes::NodesArgs),
    /// Serve the management API, the editor websocket and published flows.
    Serve(Box<cli::serve::ServeArgs>),
    /// Serve published flows only: a replica beside `weft serve`, sharing
    /// its database.
    Router(Box<cli::router::RouterArgs>),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match args.command {
            Command::Run(a) => cli::run::run(a).await,
            Command::Validate(a) => cli::validate::run(a).await,
            Command::Nodes(a) => cli::nodes::run(a).await,
            Command::Serve(a) => cli::serve::run(*a).await,
            Command::Router(a) => cli::router::run(*a).await,
        }
    });
    match result {
        Ok(code) => code,
        // The reader went away (`weft nodes | head`): stop quietly.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
