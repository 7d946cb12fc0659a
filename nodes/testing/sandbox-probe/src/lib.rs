//! `test.sandbox-probe`: tries to reach what a node must not: environment
//! variables, the filesystem, the network, and reports what it found.
//!
//! * Config: `{connect?: string}`, an address to try (default
//!   `127.0.0.1:5432`).
//! * Output: `report: object{env: int, files: string, connect: string}`:
//!   how many environment variables it saw, and the outcome of listing `/`
//!   and of opening a TCP connection (`"ok"` or the error text).

use weft_node_sdk::prelude::*;

/// `test.sandbox-probe`'s config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address to try to connect to.
    #[serde(default)]
    pub connect: Option<String>,
}

/// The `test.sandbox-probe` node.
#[derive(Debug)]
pub struct Probe;

impl Node for Probe {
    type Config = Config;

    const INFO: Info = Info {
        type_name: "test.sandbox-probe",
        version: "1.0.0",
        summary: "Test guest: reports whether it can see env vars, files or the network",
    };

    fn describe(_config: &Config) -> Result<Spec, Vec<ConfigProblem>> {
        Ok(Spec::new().output(Port::new(
            "report",
            "object{env: int, files: string, connect: string}",
        )))
    }

    fn run(ctx: &Context<Config>, _inputs: Inputs) -> Result<Outputs, NodeError> {
        let env = std::env::vars().count();
        let files = match std::fs::read_dir("/") {
            Ok(entries) => format!("ok: {} entries", entries.count()),
            Err(e) => e.to_string(),
        };
        let addr = ctx.config.connect.as_deref().unwrap_or("127.0.0.1:5432");
        let connect = match std::net::TcpStream::connect(addr) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        Ok(Outputs::new().set(
            "report",
            json!({ "env": env, "files": files, "connect": connect }),
        ))
    }
}

weft_node_sdk::export_node!(Probe);
