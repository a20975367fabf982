//! `knack-sim`: the network simulator's command line (not written yet).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("knack-sim: the simulator is not written yet (see the project's issues)");
    ExitCode::from(2)
}
