//! Finding the `knack` binary the testnet starts.

use std::path::{Path, PathBuf};

use crate::error::{Result, TestnetError};

/// The environment variable naming the `knack` binary.
pub const KNACK_BIN_ENV: &str = "KNACK_BIN";

/// The `knack` binary: `explicit` (from `--knack` or `KNACK_BIN`) if given, else `knack` next
/// to the running executable (the same cargo target directory), else its parent directory
/// (an integration test runs from `target/debug/deps/`).
pub fn find_knack(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(TestnetError::KnackNotFound(format!(
                "{} does not exist",
                path.display()
            )))
        };
    }
    let exe = std::env::current_exe().map_err(|e| TestnetError::io("current executable", e))?;
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(format!("knack{}", std::env::consts::EXE_SUFFIX));
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(TestnetError::KnackNotFound(format!(
        "looked at {}",
        tried.join(", ")
    )))
}
