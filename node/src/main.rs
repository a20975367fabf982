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
    {
        if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
            eprintln!("jemalloc's background thread not started: {e}");
        }
        if let Err(e) = return_freed_pages_within(FREED_PAGES_DECAY_MS) {
            eprintln!("jemalloc's decay not set: {e}");
        }
    }
    cli::main()
}

/// How long freed pages stay with the allocator before they go back to the system (jemalloc's
/// default is 10 s). A node's transients are large and brief: a snapshot encoding or a
/// checkpoint's scratch space is ~200-300 MB at 100k procedures; held 10 s after each, they
/// were counted in the node's resident set long after they were freed.
#[cfg(feature = "jemalloc")]
const FREED_PAGES_DECAY_MS: isize = 1_000;

/// Sets jemalloc's dirty-page decay to `ms` for every arena, the existing and the later ones.
#[cfg(feature = "jemalloc")]
fn return_freed_pages_within(ms: isize) -> Result<(), tikv_jemalloc_ctl::Error> {
    use tikv_jemalloc_ctl::{Access, AsName};
    b"arenas.dirty_decay_ms\0".name().write(ms)?;
    let arenas: u32 = b"arenas.narenas\0".name().read()?;
    for arena in 0..arenas {
        // Arenas are made as threads first allocate: those not made yet take the default.
        let initialized: bool = format!("arena.{arena}.initialized\0")
            .as_bytes()
            .name()
            .read()?;
        if initialized {
            format!("arena.{arena}.dirty_decay_ms\0")
                .as_bytes()
                .name()
                .write(ms)?;
        }
    }
    Ok(())
}
