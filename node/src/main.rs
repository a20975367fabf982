//! `knack`: the knack daemon and its command-line client.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: glibc's per-thread arenas kept the memory of
/// transient buffers (snapshot encodings, checkpoint runs, HTTP bodies) and held a node at
/// 10k procedures ~110 MB above its live heap (ARCHITECTURE.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    knack_node::cli::main()
}
