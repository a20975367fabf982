//! Hybrid logical clock timestamps and write stamps.
//!
//! A [`Hlc`] is the timestamp of Kulkarni et al., "Logical Physical Clocks" (2014): wall-clock
//! milliseconds plus a logical counter, totally ordered, and never behind any timestamp its
//! node has seen. The clock that issues them lives in `knack-protocol` (`HybridClock`); this
//! crate only needs the type, to order last-writer-wins registers and the `last_used` register.

use serde::{Deserialize, Serialize};

use crate::ids::AgentId;

/// A hybrid logical clock timestamp: wall milliseconds since the Unix epoch, then a counter.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch (the physical part).
    pub wall_ms: u64,
    /// Tie-breaking counter within one millisecond (the logical part).
    pub logical: u32,
}

/// Who wrote a value and when: the order of last-writer-wins registers.
///
/// An agent's clock is strictly monotonic, so a stamp names one write; ties between agents at
/// the same timestamp are broken by agent id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// When.
    pub hlc: Hlc,
    /// By whom.
    pub agent: AgentId,
}

impl Hlc {
    /// A timestamp at `wall_ms` with a zero counter.
    pub const fn at(wall_ms: u64) -> Self {
        Hlc {
            wall_ms,
            logical: 0,
        }
    }
}

impl Stamp {
    /// A stamp of `agent` at `hlc`.
    pub const fn new(agent: AgentId, hlc: Hlc) -> Self {
        Stamp { hlc, agent }
    }
}
