//! The simulator's error type.

use thiserror::Error;

/// Everything that can go wrong when loading a scenario or running the simulator.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The scenario is not valid TOML or does not fit the scenario schema.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    /// A `--set` or `--sweep` argument that is not `key=value`.
    #[error("invalid override {0:?}: expected key=value with a dotted key such as gossip.d=8")]
    Override(String),
    /// A parameter outside its range.
    #[error("invalid parameter {field}: {reason}")]
    Parameter {
        /// The parameter (dotted key).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The real CRDT refused an authored change (a workload bug).
    #[error("workload: {0}")]
    Crdt(#[from] knack_crdt::CrdtError),
    /// The real protocol refused an envelope the simulator built.
    #[error("protocol: {0}")]
    Protocol(#[from] knack_protocol::ProtocolError),
    /// Writing an output failed.
    #[error("cannot write output {path}: {reason}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}
