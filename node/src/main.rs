//! `knack`: the knack daemon and its command-line client, over the `knack_node` library.
//!
//! The binary owns what only a process needs: argument parsing (`cli`, clap), the daemon's
//! lifecycle (`daemon`: tracing, the runtime, signals, the API's address file) and the MCP
//! server on stdio (`cli/mcp_stdio.rs`). It reports errors with `anyhow`; the library returns
//! typed errors only.

mod cli;
mod daemon;
mod served_api;

use std::process::ExitCode;

/// mimalloc rather than the system allocator: glibc's per-thread arenas kept the memory of
/// transient buffers (snapshot encodings, checkpoint runs, HTTP bodies) and held a node at
/// 10k procedures ~110 MB above its live heap (ARCHITECTURE.md, "Memory").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::main()
}
