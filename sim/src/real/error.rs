//! The comparison's error type.

use thiserror::Error;

use crate::error::SimError;

/// Everything that can go wrong when comparing the simulator with real swarms.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RealError {
    /// The scenario uses something the comparison does not reproduce on the real stack.
    #[error("scenario not comparable with the real stack: {field}: {reason}")]
    Unsupported {
        /// The parameter (dotted key).
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The simulator side failed.
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    /// The tokio runtime could not start.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(std::io::Error),
    /// libp2p refused a configuration or an operation.
    #[error("libp2p: {0}")]
    Libp2p(String),
    /// A node reported a failure (a dial or listener error).
    #[error("node {node}: {reason}")]
    Node {
        /// The node.
        node: u32,
        /// What failed.
        reason: String,
    },
    /// Setting up the swarms took too long.
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The timeout.
        secs: u64,
    },
    /// A node's task ended before the run did (`u32::MAX`: all of them).
    #[error("the swarm task of node {node} ended unexpectedly")]
    SwarmGone {
        /// The node.
        node: u32,
    },
    /// gossipsub refused to publish.
    #[error("publish at node {node}: {reason}")]
    Publish {
        /// The publishing node.
        node: u32,
        /// gossipsub's reason.
        reason: String,
    },
}
