//! `knack`: the knack daemon and its command-line client.

use std::process::ExitCode;

fn main() -> ExitCode {
    knack_node::cli::main()
}
