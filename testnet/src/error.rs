//! The library's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while driving a testnet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestnetError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The `knack` binary was not found.
    #[error(
        "no `knack` binary found ({0}); build it with `cargo build --bin knack`, or pass --knack PATH / set KNACK_BIN"
    )]
    KnackNotFound(String),
    /// A command the testnet runs (knack init, ip, tc) failed.
    #[error("`{command}` failed: {reason}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr or exit status.
        reason: String,
    },
    /// A node did not start, stop or answer in time.
    #[error("node {node}: {reason}")]
    Node {
        /// The node's name.
        node: String,
        /// What happened.
        reason: String,
    },
    /// The HTTP API of a node answered with an error or not at all.
    #[error("API of {node}: {reason}")]
    Api {
        /// The node's name.
        node: String,
        /// What happened.
        reason: String,
    },
    /// A scenario file is malformed.
    #[error("{file}:{line}:{column}: {message}")]
    Scenario {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A scenario cannot run as asked (e.g. a partition without `--netns`).
    #[error("scenario cannot run: {0}")]
    Unsupported(String),
    /// A name that is no node of the testnet.
    #[error("no node named `{0}` in this testnet")]
    UnknownNode(String),
    /// No testnet is recorded in the directory.
    #[error("no testnet in {0} (run `knack-testnet up` first)")]
    NoTestnet(PathBuf),
    /// A testnet is already running in the directory.
    #[error("a testnet is already running in {0}; run `knack-testnet down --dir {0}` first")]
    AlreadyUp(PathBuf),
    /// The state file is unreadable.
    #[error("{path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl TestnetError {
    /// An IO error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> TestnetError {
        TestnetError::Io {
            path: path.into(),
            source,
        }
    }

    /// A node error.
    pub fn node(node: &str, reason: impl Into<String>) -> TestnetError {
        TestnetError::Node {
            node: node.to_owned(),
            reason: reason.into(),
        }
    }

    /// An API error.
    pub fn api(node: &str, reason: impl Into<String>) -> TestnetError {
        TestnetError::Api {
            node: node.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = TestnetError> = std::result::Result<T, E>;
