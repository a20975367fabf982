//! Per-agent contagion boost slots.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The boost one agent has given a procedure by success contagion, written only by that agent.
///
/// The slot holds a value `v` as of time `at_ms`; its worth at time `t` is
/// `v * 2^(-(t - at_ms) / half_life)`. The owner decays the slot to the present before adding a
/// new delta, so the slot stays one number. Merge keeps the higher `seq`; equal sequences (only
/// a faulty author produces them) are broken by `(at_ms, value bits)` so merge stays a join.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct BoostSlot {
    /// The owner's sequence number of this value.
    pub seq: u64,
    /// The boost at `at_ms`.
    pub value: f64,
    /// When `value` was set, in wall milliseconds.
    pub at_ms: u64,
}

impl BoostSlot {
    /// Joins `other` into `self`.
    pub fn merge(&mut self, other: &BoostSlot) {
        if other.cmp(self) == Ordering::Greater {
            *self = *other;
        }
    }

    /// The slot's value decayed to `now_ms`. A slot set in the future of `now_ms` (clock skew
    /// between agents) counts at face value, never more.
    pub fn value_at(&self, now_ms: u64, half_life_ms: u64) -> f64 {
        decay(self.value, now_ms.saturating_sub(self.at_ms), half_life_ms)
    }

    /// The owner's next write: the slot decayed to `now_ms`, plus `delta`.
    pub fn next(&self, delta: f64, now_ms: u64, half_life_ms: u64) -> BoostSlot {
        let at_ms = now_ms.max(self.at_ms);
        BoostSlot {
            seq: self.seq + 1,
            value: self.value_at(at_ms, half_life_ms) + delta,
            at_ms,
        }
    }
}

/// `value * 2^(-elapsed / half_life)`; a zero half-life means no decay.
pub(crate) fn decay(value: f64, elapsed_ms: u64, half_life_ms: u64) -> f64 {
    if half_life_ms == 0 || elapsed_ms == 0 {
        return value;
    }
    value * (-(elapsed_ms as f64) / half_life_ms as f64).exp2()
}

impl PartialEq for BoostSlot {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for BoostSlot {}

impl PartialOrd for BoostSlot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BoostSlot {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.seq, self.at_ms, self.value.to_bits()).cmp(&(
            other.seq,
            other.at_ms,
            other.value.to_bits(),
        ))
    }
}
