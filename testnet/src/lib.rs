//! knack-testnet: a local testnet of real `knack` daemons on one machine.
//!
//! - [`Testnet`] starts N `knack run` processes, each with its own data directory, ports and
//!   API token, bootstrapped to each other, and records them in `DIR/testnet.json` so later
//!   commands (`status`, `kill`, `restart`, `down`) act on exactly those processes, by PID.
//! - With `--netns` (Linux, root) every node runs in its own network namespace on a private
//!   bridge ([`netns`]), so the testnet can partition the mesh, heal it, and shape links
//!   (`tc netem`, `tbf`).
//! - [`Scenario`] files (TOML) script timed steps: start, load, partition, heal, netem, kill,
//!   restart, wait-until-converged, assert. [`run`] executes one and returns a [`Report`]:
//!   time to converge after each heal, propagation latency (from the nodes' `applied`
//!   events), gossip traffic per node (from `/metrics`), memory and CPU per node (from
//!   `/proc`), and writes acknowledged vs present.
//!
//! Every process binds to 127.0.0.1 or to an address inside a namespace the testnet created;
//! mDNS stays off; nothing is dialled outside.

pub mod binary;
pub mod client;
pub mod converge;
pub mod error;
pub mod netns;
pub mod process;
pub mod prometheus;
pub mod report;
pub mod resources;
pub mod runner;
pub mod scenario;
pub mod state;
pub mod testnet;

pub use error::{Result, TestnetError};
pub use report::Report;
pub use runner::{RunOptions, run};
pub use scenario::Scenario;
pub use testnet::{Testnet, UpOptions};
