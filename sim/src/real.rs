//! Against the real stack (feature `real-stack`): the simulator's gossipsub model next to real
//! rust-libp2p gossipsub swarms on the same topology, latencies and messages.
//!
//! [`compare`] runs a scenario in the simulator, then builds one real libp2p swarm per node
//! (libp2p 0.57.1, gossipsub 0.50.1, in one tokio runtime, in-memory transport + noise + yamux),
//! dials exactly the simulator's topology edges, delays every link by the simulator's base
//! latency for the pair (`latency`), configures gossipsub from the scenario's `[gossip]`
//! section (`swarm`), and publishes the simulator's real envelope bytes from the same author
//! nodes at the same times after the first one (`harness`). Both sides report deliveries,
//! duplicates and transmissions per message per node, and first-receipt latency percentiles
//! ([`Side`]); [`markdown`] renders them.
//!
//! How the real side counts: first receipts are gossipsub `Message` events, stamped with the
//! one process clock every swarm shares, minus the publish instant. Duplicates are
//! gossipsub's unfiltered minus filtered received-message counters (exact: every frame that
//! reaches the behaviour counts in the first, first receipts in the second, and there are no
//! invalid messages); transmissions are its sent-message counter minus messages dropped from
//! the send queue on IDONTWANT (see `counters`).
//!
//! Nothing leaves the process: the swarms listen on `/memory/0` only and dial each other's
//! memory addresses; no TCP, mDNS, Kademlia or bootstrap.

mod compare;
mod counters;
mod error;
mod harness;
mod latency;
mod sim_side;
mod swarm;
mod tally;

pub use compare::{
    Comparison, Diff, MAX_NODES, RunComparison, comparable, compare, compare_repeated, markdown,
};
pub use error::RealError;
pub use tally::{Percentiles, Side};
