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

/// jemalloc rather than the system allocator: glibc's per-thread arenas kept the memory of
/// transient buffers (snapshot encodings, checkpoint runs, HTTP bodies) and held a node at
/// 10k procedures ~110 MB above its live heap; mimalloc, used before, purged lazily and kept a
/// restarted 100k-procedure node ~200 MB above it (ARCHITECTURE.md, "Memory").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Freed pages go back to the system from a background thread as they age (jemalloc's
    // decay), not only when a thread next allocates: an idle node's memory follows its heap.
    #[cfg(feature = "jemalloc")]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("jemalloc's background thread not started: {e}");
    }
    cli::main()
}
