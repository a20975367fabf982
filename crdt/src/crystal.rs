//! Crystallization: when a procedure is proven, and the latch that remembers it.
//!
//! A pure function of the counts cannot have hysteresis (crystallize at 0.9, melt below 0.75)
//! and still give the same answer on replicas that saw the counts arrive in different orders:
//! a replica that watched the confidence fall from 0.92 to 0.8 says "crystallized", one that
//! received everything at once says "not yet". So the state is a replicated latch, an epoch in a
//! max-register whose odd values mean crystallized. Any replica that sees the counts call for a
//! transition proposes `epoch + 1`; replicas that propose concurrently propose the same number,
//! so the proposals merge into one transition.

use crate::settings::SpaceSettings;
use crate::weights::WeightedCounts;

/// Whether an epoch means crystallized.
pub const fn is_crystallized(epoch: u32) -> bool {
    epoch % 2 == 1
}

/// The epoch the counts call for, if it differs from `epoch`: crystallize when there are at
/// least `crystallize_min_outcomes` uses, confidence at least `crystallize_confidence` and
/// successes from at least `crystallize_min_agents` agents; melt when confidence falls below
/// `melt_confidence`. The counts are weighted (see [`crate::weights`]; raw counts with weight
/// one when the space does not weight evidence) and `success_agents` counts only agents
/// trusted by the weights.
pub fn transition(
    epoch: u32,
    counts: &WeightedCounts,
    success_agents: usize,
    settings: &SpaceSettings,
) -> Option<u32> {
    let conf = counts.confidence();
    let next = epoch.checked_add(1)?;
    if is_crystallized(epoch) {
        (conf < settings.melt_confidence.as_f64()).then_some(next)
    } else {
        let proven = counts.uses_at_least(settings.crystallize_min_outcomes)
            && conf >= settings.crystallize_confidence.as_f64()
            && success_agents >= settings.crystallize_min_agents as usize;
        proven.then_some(next)
    }
}
