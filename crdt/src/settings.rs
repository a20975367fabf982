//! Per-space settings of contagion, decay and crystallization.

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;
use crate::fraction::Fraction;
use crate::limits::MAX_INLINE_BODY_BYTES;

/// The numbers of the memory model, one set per space, replicated as a last-writer-wins
/// register so every replica derives the same rankings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpaceSettings {
    /// Contagion factor: a use of P within reach counts as `factor * w` of a use of a related
    /// procedure in its prior (`w` the strongest path weight).
    pub contagion_factor: Fraction,
    /// How many hops contagion travels over `similar` and `context` edges (0: off).
    pub contagion_hops: u8,
    /// Whether neighbours' failures may rank a procedure below its own evidence (failure
    /// contagion). Off: contagion only lifts.
    pub negative_contagion: bool,
    /// Half-life of the contagion prior, in milliseconds, counted from the neighbourhood's
    /// latest use (0: no decay).
    pub contagion_half_life_ms: u64,
    /// Most pseudo-uses the contagion prior may add up to: however much evidence the
    /// neighbours hold, it weighs at most this many of the procedure's own uses.
    pub contagion_prior_max: u32,
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
    /// Whether agents' reports count with weights derived from their agreement with other
    /// agents (see [`crate::weights`]): rankings and crystallization use weighted counts, and
    /// only agents of weight at least ½ count towards `crystallize_min_agents`. Off: every
    /// report counts fully.
    pub evidence_weighting: bool,
}

/// Seven days, in milliseconds.
const SEVEN_DAYS_MS: u64 = 7 * 24 * 60 * 60 * 1000;

impl Default for SpaceSettings {
    fn default() -> Self {
        SpaceSettings {
            contagion_factor: Fraction::const_millionths(100_000),
            contagion_hops: 3,
            negative_contagion: false,
            contagion_half_life_ms: SEVEN_DAYS_MS,
            contagion_prior_max: 5,
            crystallize_min_outcomes: 20,
            crystallize_confidence: Fraction::const_millionths(900_000),
            crystallize_min_agents: 2,
            melt_confidence: Fraction::const_millionths(750_000),
            inline_max_bytes: 64 * 1024,
            evidence_weighting: false,
        }
    }
}

/// Most contagion hops a space may set: the walk is `O(hops * edges)`, and path weights stay
/// exact integers up to this many hops.
pub const MAX_CONTAGION_HOPS: u8 = crate::contagion::MAX_EXACT_HOPS;

impl SpaceSettings {
    /// Checks the settings are usable: hysteresis the right way round, bounded hops and inline
    /// size.
    pub fn validate(&self) -> Result<(), CrdtError> {
        if self.contagion_hops > MAX_CONTAGION_HOPS {
            return Err(CrdtError::OutOfRange {
                field: "contagion_hops",
                range: "0..=6",
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
