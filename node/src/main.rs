//! `knack`: the knack daemon and its command-line client, over the `knack_node` library.
//!
//! The binary owns what only a process needs: argument parsing (`cli`, clap), the daemon's
//! lifecycle (`daemon`: tracing, the runtime, signals, the API's address file) and the MCP
//! server on stdio (`cli/mcp_stdio.rs`). It reports errors with `anyhow`; the library returns
//! typed errors only.

mod cli;
mod daemon;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
