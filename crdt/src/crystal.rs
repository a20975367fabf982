//! Crystallization: when a procedure is proven, and the latch that remembers it.
//!
//! A pure function of the counts cannot have hysteresis (crystallize at 0.9, melt below 0.75)
//! and still give the same answer on replicas that saw the counts arrive in different orders:
//! a replica that watched the confidence fall from 0.92 to 0.8 says "crystallized", one that
//! received everything at once says "not yet". So the state is a replicated latch, an epoch in a
//! max-register whose odd values mean crystallized. Any replica that sees the counts call for a
//! transition proposes `epoch + 1`; replicas that propose concurrently propose the same number,
//! so the proposals merge into one transition.
//!
//! A receiver cannot check a proposal against the counts its proposer saw, and a max-register
//! would let one writer latch a procedure for good (epoch `u32::MAX` is odd and has no
//! successor). So the replicated state is the grow-only *set* of proposed epochs, and the latch
//! is derived from it by [`effective_epoch`], a pure function of converged state: the longest
//! chain `1, 2, ..., e` of proposals in which every step's precondition holds on the counts.
//! The preconditions are the parts of the transition rule that only grow as counts merge in
//! (enough uses and agents with successes to crystallize; a failure to melt), so a proposal
//! that was sound where it was made stays sound everywhere, whatever order the counts arrive
//! in. A proposal that skips epochs never takes effect; one past [`MAX_CRYSTAL_EPOCH`] is
//! rejected by validation.
//!
//! What this does not stop: a writer may propose the next epoch when the confidence part of the
//! rule (not monotone, so not checkable by a receiver) does not call for it. Such a flip holds
//! only while the counts sit between `melt_confidence` and `crystallize_confidence`: anywhere
//! else the next honest replica to see the counts proposes the epoch after it.

use std::collections::BTreeSet;

use crate::outcome::Counts;
use crate::settings::SpaceSettings;
use crate::weights::WeightedCounts;

/// The largest crystallization epoch a change may carry: far more transitions than any
/// procedure's counts can call for, and small enough that a chain of proposals stays cheap to
/// walk.
pub const MAX_CRYSTAL_EPOCH: u32 = 65_535;

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

/// Whether the monotone precondition of the transition *into* `epoch` holds on the counts:
/// crystallizing (odd) needs `crystallize_min_outcomes` uses and `crystallize_min_agents` agents
/// with successes; melting (even) needs a failure. Counts only grow as replicas merge, so once
/// this holds it holds for good.
pub fn precondition_holds(
    epoch: u32,
    counts: &Counts,
    success_agents: usize,
    settings: &SpaceSettings,
) -> bool {
    if is_crystallized(epoch) {
        counts.uses() >= settings.crystallize_min_outcomes
            && success_agents >= settings.crystallize_min_agents as usize
    } else {
        counts.failures > 0
    }
}

/// The latch's epoch derived from the proposals: the longest chain `1..=e` of proposed epochs
/// whose every step's [`precondition_holds`] (0 when there is none).
pub fn effective_epoch(
    proposals: &BTreeSet<u32>,
    counts: &Counts,
    success_agents: usize,
    settings: &SpaceSettings,
) -> u32 {
    let mut epoch = 0;
    for &proposed in proposals {
        if proposed != epoch + 1 || !precondition_holds(proposed, counts, success_agents, settings)
        {
            break;
        }
        epoch = proposed;
    }
    epoch
}

/// The epoch to propose, if any: the one [`transition`] calls for (on the rule's inputs,
/// weighted when the space weights evidence) from the latch's current `epoch` (see
/// [`effective_epoch`], on the raw counts), unless it is proposed already (its precondition
/// then waits for counts this replica lacks).
pub fn proposal(
    proposals: &BTreeSet<u32>,
    epoch: u32,
    counts: &WeightedCounts,
    success_agents: usize,
    settings: &SpaceSettings,
) -> Option<u32> {
    transition(epoch, counts, success_agents, settings)
        .filter(|next| *next <= MAX_CRYSTAL_EPOCH && !proposals.contains(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(successes: u64, failures: u64) -> Counts {
        Counts {
            successes,
            failures,
            total_duration_ms: 0,
        }
    }

    #[test]
    fn a_proposal_that_skips_epochs_takes_no_effect() {
        let settings = SpaceSettings::default();
        let proven = counts(40, 0);
        let skip: BTreeSet<u32> = [3].into();
        assert_eq!(effective_epoch(&skip, &proven, 3, &settings), 0);
        let chain: BTreeSet<u32> = [1, 3].into();
        assert_eq!(effective_epoch(&chain, &proven, 3, &settings), 1);
    }

    #[test]
    fn a_crystallization_without_enough_uses_or_agents_waits_for_them() {
        let settings = SpaceSettings::default();
        let proposals: BTreeSet<u32> = [1].into();
        assert_eq!(effective_epoch(&proposals, &counts(5, 0), 3, &settings), 0);
        assert_eq!(effective_epoch(&proposals, &counts(40, 0), 1, &settings), 0);
        assert_eq!(effective_epoch(&proposals, &counts(40, 0), 2, &settings), 1);
    }

    #[test]
    fn a_melt_needs_a_failure() {
        let settings = SpaceSettings::default();
        let proposals: BTreeSet<u32> = [1, 2].into();
        assert_eq!(effective_epoch(&proposals, &counts(40, 0), 2, &settings), 1);
        assert_eq!(
            effective_epoch(&proposals, &counts(40, 30), 2, &settings),
            2
        );
    }

    #[test]
    fn nothing_is_proposed_twice() {
        let settings = SpaceSettings::default();
        let propose = |proposals: &BTreeSet<u32>, c: Counts, agents: usize, s: &SpaceSettings| {
            let epoch = effective_epoch(proposals, &c, agents, s);
            proposal(proposals, epoch, &WeightedCounts::unweighted(&c), agents, s)
        };
        let none = BTreeSet::new();
        assert_eq!(propose(&none, counts(100, 0), 2, &settings), Some(1));
        let proposed: BTreeSet<u32> = [1].into();
        // Proposed, and its precondition holds: the latch is at 1 and nothing more is called for.
        assert_eq!(propose(&proposed, counts(100, 0), 2, &settings), None);
        // A melt proposed elsewhere, on a failure this replica has not seen yet: the latch
        // stays at 1 here, and the melt is not proposed again.
        let melted: BTreeSet<u32> = [1, 2].into();
        let no_failure_yet = SpaceSettings {
            melt_confidence: settings.crystallize_confidence,
            crystallize_min_outcomes: 1,
            ..settings.clone()
        };
        assert_eq!(
            effective_epoch(&melted, &counts(3, 0), 2, &no_failure_yet),
            1
        );
        assert_eq!(propose(&melted, counts(3, 0), 2, &no_failure_yet), None);
    }
}
