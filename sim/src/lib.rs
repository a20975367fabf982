//! # knack-sim: a discrete-event network simulator over the real knack code
//!
//! Thousands to hundreds of thousands of simulated agents, each holding a real `knack-crdt`
//! [`Space`](knack_crdt::Space) and running `knack-protocol`'s real anti-entropy
//! [`SyncEngine`](knack_protocol::SyncEngine), exchange real signed
//! [`Envelope`](knack_protocol::Envelope)s over a modelled network. Convergence is measured by
//! the spaces' real state digests.
//!
//! ## The model
//! - **Engine**: virtual time in microseconds, one event queue ordered by
//!   (time, scheduling order), seeded ChaCha8 streams per concern. Same scenario, seed and
//!   build: byte-identical outputs.
//! - **Network**: per-link latency (constant, uniform, log-normal, or a matrix of regions),
//!   jitter, loss, per-node upload and download bandwidth with FIFO queueing, partitions on a
//!   timeline, churn, clock skew (it shifts the hybrid clocks of authored ops).
//! - **Gossip**: flooding; push and push-pull epidemics in synchronous rounds (Demers et al.
//!   1987, Pittel 1987, Karp et al. 2000); gossipsub v1.1 with mesh D / D_lo / D_hi / D_lazy,
//!   heartbeat, message cache windows, IHAVE / IWANT, GRAFT / PRUNE with backoff, fanout,
//!   seen-cache duplicate suppression, and v1.2's IDONTWANT (Vyzovitis et al. 2020).
//! - **Anti-entropy**: the protocol's `SyncEngine` per agent, with `anti_entropy.peers`
//!   neighbours, over a view of the shared envelope table as the agent's op log.
//! - **Adversaries**: droppers, flooders of invalid envelopes, an eclipse of one node.
//! - **Workload**: procedures added, outcomes recorded (success contagion), links, over a
//!   random or clustered relation graph, by chosen authors at a chosen rate.
//!
//! ## Where it departs from the real node, and why
//! - An envelope is sealed (signed) once by its author and every agent forwards the same bytes,
//!   as the node does. Receivers apply its decoded delta; only a sample of receptions
//!   (`verify.sample`, 1.0 by default) decodes and verifies the bytes with ed25519, because
//!   verifying every reception of 100k agents costs minutes and proves nothing new.
//! - Ops are applied in each author's sequence order, holding out-of-order ones, which is what
//!   the protocol's `Inbox` does; the simulator keeps a compact per-author counter instead of
//!   an `Inbox` per agent so that 100k agents fit in memory.
//! - gossipsub is modelled without peer scoring (see the `gossip` module).
//!
//! ## Example
//! ```
//! use knack_sim::{Scenario, runner};
//!
//! let scenario = Scenario::parse(
//!     "nodes = 50\nduration_ms = 5000\n[gossip]\nmodel = \"gossipsub\"",
//!     &["workload.updates=3".into()],
//! )?;
//! let run = runner::run(&scenario, false)?;
//! assert_eq!(run.summary.per_update.len(), 3);
//! assert!(run.summary.convergence.converged_ms.is_some());
//! # Ok::<(), knack_sim::SimError>(())
//! ```

mod adversary;
mod agent;
mod convergence;
mod engine;
mod error;
mod gossip;
pub mod learning;
mod ledger;
mod message;
mod metrics;
mod network;
mod output;
mod plot;
#[cfg(feature = "real-stack")]
pub mod real;
mod replicas;
mod report;
mod rng;
pub mod runner;
mod scenario;
mod sim;
mod sync;
mod topology;
mod updates;
mod workload;
mod world;

pub use adversary::Adversaries;
pub use convergence::{Final, Heal};
pub use error::SimError;
pub use metrics::Counters;
pub use output::{Outputs, RunInfo, build, peak_rss};
pub use report::{
    AdversaryEffect, Latency as LatencySummary, Memory, Stat, Summary, Traffic, UpdateReach,
};
pub use scenario::{
    AdversaryConfig, AntiEntropyConfig, ChurnConfig, GossipConfig, Latency, Model, NetworkConfig,
    PartitionConfig, PeerSampling, Relations, Scenario, SubscriptionOrder, SweepConfig,
    TopologyConfig, VerifyConfig, WorkloadConfig, parse_value, split_override,
};
pub use sim::Simulation;
pub use topology::Topology;
