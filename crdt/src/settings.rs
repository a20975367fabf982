//! Per-space settings of contagion, decay and crystallization.

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;
use crate::fraction::Fraction;
use crate::limits::MAX_INLINE_BODY_BYTES;

/// The numbers of the memory model, one set per space, replicated as a last-writer-wins
/// register so every replica derives the same rankings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpaceSettings {
    /// Contagion factor: a success of P adds `factor * rate(P) * w` to related procedures.
    pub contagion_factor: Fraction,
    /// How many hops contagion travels over `similar` and `context` edges.
    pub contagion_hops: u8,
    /// Whether a failure propagates a negative boost `-factor * (1 - rate(P)) * w`.
    pub negative_contagion: bool,
    /// Half-life of boosts, in milliseconds (0: boosts never decay).
    pub boost_half_life_ms: u64,
    /// Fewest outcomes (successes + failures) before a procedure can crystallize.
    pub crystallize_min_outcomes: u64,
    /// Wilson lower bound of the success rate needed to crystallize.
    pub crystallize_confidence: Fraction,
    /// Fewest distinct agents with successes needed to crystallize.
    pub crystallize_min_agents: u32,
    /// A crystallized procedure melts when its confidence falls below this (hysteresis).
    pub melt_confidence: Fraction,
    /// Bodies up to this size travel inline in operations; larger ones go by hash.
    pub inline_max_bytes: u32,
}

/// Seven days, in milliseconds.
const SEVEN_DAYS_MS: u64 = 7 * 24 * 60 * 60 * 1000;

impl Default for SpaceSettings {
    fn default() -> Self {
        SpaceSettings {
            contagion_factor: Fraction::const_millionths(100_000),
            contagion_hops: 3,
            negative_contagion: false,
            boost_half_life_ms: SEVEN_DAYS_MS,
            crystallize_min_outcomes: 20,
            crystallize_confidence: Fraction::const_millionths(900_000),
            crystallize_min_agents: 2,
            melt_confidence: Fraction::const_millionths(750_000),
            inline_max_bytes: 64 * 1024,
        }
    }
}

/// Most contagion hops a space may set (the walk is `O(hops * edges)`).
pub const MAX_CONTAGION_HOPS: u8 = 8;

impl SpaceSettings {
    /// Checks the settings are usable: hysteresis the right way round, bounded hops and inline
    /// size.
    pub fn validate(&self) -> Result<(), CrdtError> {
        if self.contagion_hops > MAX_CONTAGION_HOPS {
            return Err(CrdtError::OutOfRange {
                field: "contagion_hops",
                range: "0..=8",
                value: self.contagion_hops.to_string(),
            });
        }
        if self.melt_confidence > self.crystallize_confidence {
            return Err(CrdtError::OutOfRange {
                field: "melt_confidence",
                range: "0..=crystallize_confidence",
                value: self.melt_confidence.to_string(),
            });
        }
        if self.inline_max_bytes as usize > MAX_INLINE_BODY_BYTES {
            return Err(CrdtError::OutOfRange {
                field: "inline_max_bytes",
                range: "0..=262144",
                value: self.inline_max_bytes.to_string(),
            });
        }
        Ok(())
    }
}
