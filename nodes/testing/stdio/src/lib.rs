//! `test.stdio`: writes to the guest's stdout and stderr.
//!
//! * Config: `{stdout?: string, stderr?: string}`: the lines to write
//!   (defaults `test.stdio: stdout line` / `test.stdio: stderr line`).
//! * Input: `value: any` (optional, ignored).
//! * Output: `done: bool` (always `true`).
//!
//! Uses `println!` and `eprintln!`, i.e. WASI `stdout`/`stderr`.

use weft_node_sdk::prelude::*;

/// `test.stdio`'s config.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The line written to stdout.
    #[serde(default)]
    pub stdout: Option<String>,
    /// The line written to stderr.
    #[serde(default)]
    pub stderr: Option<String>,
}

/// The `test.stdio` node.
#[derive(Debug)]
pub struct Stdio;

impl Node for Stdio {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.stdio",
        version: "1.0.0",
        summary: "Test guest: writes a line to stdout and one to stderr",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new()
            .input(Port::new("value", "any").optional().description("Ignored"))
            .output(Port::new("done", "bool").description("Always true")))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        println!(
            "{}",
            ctx.config
                .stdout
                .as_deref()
                .unwrap_or("test.stdio: stdout line")
        );
        eprintln!(
            "{}",
            ctx.config
                .stderr
                .as_deref()
                .unwrap_or("test.stdio: stderr line")
        );
        Ok(Outputs::new().set("done", true))
    }
}

weft_node_sdk::export_node!(Stdio);
