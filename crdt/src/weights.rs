//! Weighted evidence: how much each agent's reports count, derived from how they agree with
//! other agents' reports on the same procedures.
//!
//! Without weights every outcome slot counts fully, so one identity reporting a thousand
//! successes, or a thousand fresh identities reporting one each, move the ranking of an open
//! space and can crystallize a procedure. With `evidence_weighting` on (a space setting), an
//! agent's reports count with a weight `w ∈ [0, 1]`, a pure function of the replicated outcome
//! slots, computed in exact integer arithmetic (millionths), so every replica holding the same
//! slots derives the same weights, whatever order they arrived in:
//!
//! - **History** `E`: for every procedure P the agent reported on, `e = min(n, N', 2)` where
//!   `n` is its uses of P and `N'` the other agents' uses of P; `E = Σ e`. Only evidence on
//!   both sides counts, and at most [`HISTORY_PER_PROCEDURE`] per procedure, so history means
//!   *breadth* of co-reported evidence: repeating one procedure does not build it.
//! - **Agreement** on P: the others' weighted success rate `r` (Laplace, leave-one-out) says
//!   the agent should have `n·r` successes; `excess = max(0, |s − n·r| − sd − ½)` with
//!   `sd = √(n·r·(1−r))` is the part of its deviation that sampling noise does not explain;
//!   agreement `= 1 − excess / n`. Honest agents agree at ~0.95-1 (a single failure of a
//!   procedure that succeeds 90 % of the time agrees at 0.92); an agent that reports five successes of a procedure the others
//!   see succeed 30 % of the time agrees at ~0.6, five failures of a 90 % one at ~0.3.
//! - **Weight** `= ramp(E) · ā⁴`: `ā = (1 + Σ e·agreement) / (1 + E)` is the posterior mean
//!   of agreement (a Beta prior worth one agreeing report); the fourth power separates agents
//!   that contradict what the others see (ā ≈ 0.75 with 3 reports per procedure, weight
//!   ≈ 0.33) from honest agents (ā ≈ 0.97, weight ≈ 0.9) far more than the mean alone
//!   (0.75 against 0.97) does; `ramp(E) = E⁴ / (E⁴ + 5⁴)` is the prior on identities: a
//!   fresh identity weighs nothing, one with 1 co-reported use 0.0016, 5 half, 10 0.94,
//!   15 0.99. The ramp is steep (quartic) so that splitting reports over many identities
//!   *loses* influence: a thousand identities with one report each weigh 1.6 reports in all,
//!   while an honest agent that used three procedures others use, twice each, already
//!   counts two thirds. (A Beta posterior mean with a prior strong enough to make a thousand
//!   one-report identities weigh little, `A / (E + 300)`, would keep honest agents with 60
//!   uses at 0.16: the ramp is what lets both hold.)
//! - **Others weighted**: agreement is measured against the other agents' *weighted* rate,
//!   iterated [`ITERATIONS`] times from `w = ramp(E)`, so a crowd of low-weight identities
//!   does not vouch for itself.
//! - **Influence caps**: an agent's reports on one procedure count at most
//!   `min(64, max(1, E))` uses (scaled, keeping its success ratio): no identity's word on one
//!   procedure outweighs its track record elsewhere, and none counts more than 64 uses.
//!
//! Weighted counts `Σ_a w_a · counted(a)` feed the score, the ranking and crystallization
//! (weighted uses and their confidence; `success_agents` counts agents of weight ≥ ½ only).
//!
//! A space keeps what the derivation reads between reads (`index.rs`): an outcome that changes
//! a slot queues its procedure, and the next read recomputes only what that can have changed,
//! with the same result, bit for bit, as [`EvidenceWeights::derive`] from scratch.
//!
//! **What it does not stop** (see ARCHITECTURE.md, "Weighted evidence"): a patient liar that
//! agrees on most procedures and lies on a few (its agreement stays high; the caps bound each
//! lie to `min(64, E)` uses); colluding majorities (weights follow the weighted majority, so a
//! group with more weight than the honest agents defines the truth), including Sybils that
//! build history by co-reporting on many procedures; honest newcomers (they start at weight 0
//! and need 5 co-reported uses to count half, so two agents who share a single procedure
//! never crystallize it); procedures only one agent reports on (no
//! evidence on the other side: the agent gains no history there, but its reports still count
//! with its weight).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::ids::{AgentId, ProcedureId};
use crate::outcome::{Counts, SlotCounts};

mod index;

/// The denominator of weights and weighted counts: one million.
pub const SCALE: u64 = 1_000_000;
/// Most history one procedure gives an agent (uses).
pub const HISTORY_PER_PROCEDURE: u64 = 2;
/// History (co-reported uses) at which an identity weighs half.
pub const HISTORY_HALF: u64 = 5;
/// Most uses one agent's reports on one procedure count for.
pub const MAX_COUNTED_USES: u64 = 64;
/// Rounds of "agreement with the weighted others".
pub const ITERATIONS: usize = 3;
/// Weight (millionths) from which an agent counts among `success_agents` for crystallization.
pub const TRUSTED_WEIGHT: u64 = SCALE / 2;

/// Every agent's weight in a space, derived from its outcome slots (see the module docs).
/// Agents absent from it weigh 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvidenceWeights {
    /// `(agent, weight in millionths, history, cap on counted uses)`, sorted by agent.
    agents: Vec<AgentWeight>,
}

/// One agent's weight and what it was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentWeight {
    /// The agent.
    pub agent: AgentId,
    /// Its weight in millionths (`0..=1_000_000`).
    pub weight: u32,
    /// Its history `E`: co-reported uses, at most [`HISTORY_PER_PROCEDURE`] per procedure.
    pub history: u64,
    /// Its agreement posterior mean `ā` in millionths.
    pub agreement: u32,
}

/// Counts weighted by their agents' weights, in millionths of a use: exact integers, so equal
/// on every replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeightedCounts {
    /// Weighted successes, millionths.
    pub successes: u128,
    /// Weighted failures, millionths.
    pub failures: u128,
}

impl WeightedCounts {
    /// Raw counts with weight one (what an unweighted space uses).
    pub fn unweighted(counts: &Counts) -> Self {
        WeightedCounts {
            successes: u128::from(counts.successes) * u128::from(SCALE),
            failures: u128::from(counts.failures) * u128::from(SCALE),
        }
    }

    /// Weighted successes as a float.
    pub fn successes_f64(&self) -> f64 {
        self.successes as f64 / SCALE as f64
    }

    /// Weighted failures as a float.
    pub fn failures_f64(&self) -> f64 {
        self.failures as f64 / SCALE as f64
    }

    /// Weighted uses as a float.
    pub fn uses_f64(&self) -> f64 {
        self.successes_f64() + self.failures_f64()
    }

    /// Whether the weighted uses reach `uses` (exact).
    pub fn uses_at_least(&self, uses: u64) -> bool {
        self.successes.saturating_add(self.failures) >= u128::from(uses) * u128::from(SCALE)
    }

    /// Laplace-smoothed success rate `(s + 1) / (s + f + 2)`.
    pub fn rate(&self) -> f64 {
        (self.successes_f64() + 1.0) / (self.uses_f64() + 2.0)
    }

    /// Wilson lower bound (z = 1.96) of the weighted success proportion; equal to
    /// [`crate::stats::confidence`] of raw counts for [`WeightedCounts::unweighted`] counts.
    pub fn confidence(&self) -> f64 {
        crate::stats::confidence_of(self.successes_f64(), self.failures_f64())
    }
}

impl EvidenceWeights {
    /// The weight of `agent` (0 if it has none).
    pub fn weight(&self, agent: &AgentId) -> u32 {
        self.get(agent).map_or(0, |a| a.weight)
    }

    /// The weight of `agent` and what it was derived from.
    pub fn get(&self, agent: &AgentId) -> Option<&AgentWeight> {
        self.agents
            .binary_search_by(|a| a.agent.cmp(agent))
            .ok()
            .map(|at| &self.agents[at])
    }

    /// Every agent with outcome slots, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &AgentWeight> {
        self.agents.iter()
    }

    /// Number of agents.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent has a slot.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// Whether `agent` weighs enough to count among the agents whose successes crystallize.
    pub fn trusted(&self, agent: &AgentId) -> bool {
        u64::from(self.weight(agent)) >= TRUSTED_WEIGHT
    }

    /// The weighted totals (`context` `None`) or one context's weighted counts of `slots`.
    pub fn weigh<'a, C: SlotCounts + 'a>(
        &self,
        slots: impl IntoIterator<Item = (&'a AgentId, &'a C)>,
        context: Option<&str>,
    ) -> WeightedCounts {
        // Sums of weight × counted uses in millionths of millionths, divided once at the end.
        let (mut s, mut f) = (0u128, 0u128);
        for (agent, slot) in slots {
            let counts = match context {
                None => slot.total_counts(),
                Some(tag) => match slot.context_counts(tag) {
                    Some(c) => c,
                    None => continue,
                },
            };
            let Some(a) = self.get(agent).filter(|a| a.weight > 0) else {
                continue;
            };
            let (cs, cf) = counted(counts, a.history.clamp(1, MAX_COUNTED_USES));
            s += u128::from(a.weight) * cs;
            f += u128::from(a.weight) * cf;
        }
        WeightedCounts {
            successes: s / u128::from(SCALE),
            failures: f / u128::from(SCALE),
        }
    }

    /// Derives every agent's weight from the outcome slots of every procedure (each item:
    /// one procedure's slots, by agent). A pure function: the same slots give the same weights
    /// in any order of procedures.
    pub fn derive<'a, P, S, C>(procedures: P) -> EvidenceWeights
    where
        P: IntoIterator<Item = S>,
        S: IntoIterator<Item = (&'a AgentId, &'a C)>,
        C: SlotCounts + 'a,
    {
        Derivation::new(procedures).run()
    }
}

/// `(successes, failures)` of `counts` in millionths, scaled down together to at most `cap`
/// uses.
fn counted(counts: &Counts, cap: u64) -> (u128, u128) {
    let n = counts.uses();
    let scale = u128::from(SCALE);
    let (s, f) = (u128::from(counts.successes), u128::from(counts.failures));
    if n <= cap || n == 0 {
        (s * scale, f * scale)
    } else {
        let (n, cap) = (u128::from(n), u128::from(cap));
        (s * scale * cap / n, f * scale * cap / n)
    }
}

/// One slot of the derivation: an agent's totals on one procedure.
#[derive(Clone, Copy, Debug)]
struct Slot {
    agent: u32,
    successes: u64,
    failures: u64,
}

/// The working state of [`EvidenceWeights::derive`].
struct Derivation {
    agents: Vec<AgentId>,
    /// Every slot with uses, procedure after procedure.
    slots: Vec<Slot>,
    /// `slots[bounds[i]..bounds[i + 1]]` are procedure i's.
    bounds: Vec<usize>,
}

impl Derivation {
    fn new<'a, P, S, C>(procedures: P) -> Self
    where
        P: IntoIterator<Item = S>,
        S: IntoIterator<Item = (&'a AgentId, &'a C)>,
        C: SlotCounts + 'a,
    {
        let mut raw: Vec<(AgentId, u64, u64)> = Vec::new();
        let mut bounds = vec![0];
        for slots in procedures {
            for (agent, slot) in slots {
                let c = slot.total_counts();
                if c.uses() > 0 {
                    raw.push((*agent, c.successes, c.failures));
                }
            }
            if raw.len() != *bounds.last().unwrap_or(&0) {
                bounds.push(raw.len());
            }
        }
        let mut agents: Vec<AgentId> = raw.iter().map(|r| r.0).collect();
        agents.sort_unstable();
        agents.dedup();
        let slots = raw
            .into_iter()
            .map(|(agent, successes, failures)| Slot {
                // Present by construction.
                agent: agents.binary_search(&agent).unwrap_or(0) as u32,
                successes,
                failures,
            })
            .collect();
        Derivation {
            agents,
            slots,
            bounds,
        }
    }

    fn procedures(&self) -> impl Iterator<Item = &[Slot]> {
        self.bounds.windows(2).map(|b| &self.slots[b[0]..b[1]])
    }

    fn run(self) -> EvidenceWeights {
        let n_agents = self.agents.len();
        // History: co-reported uses, at most HISTORY_PER_PROCEDURE per procedure.
        let mut history = vec![0u64; n_agents];
        for slots in self.procedures() {
            let all = total_uses(slots);
            for s in slots {
                let n = s.successes.saturating_add(s.failures);
                let e = n.min(all - n).min(HISTORY_PER_PROCEDURE);
                history[s.agent as usize] = history[s.agent as usize].saturating_add(e);
            }
        }
        let ramp: Vec<u64> = history.iter().map(|&e| ramp(e)).collect();
        let scale = u128::from(SCALE);
        // Per slot, fixed across iterations: its history share and its counted uses
        // (millionths, capped by the agent's history).
        let fixed: Vec<(u64, u128, u128)> = self
            .procedures()
            .flat_map(|slots| {
                let all = total_uses(slots);
                slots.iter().map(move |s| {
                    let n = s.successes.saturating_add(s.failures);
                    let e = n.min(all - n).min(HISTORY_PER_PROCEDURE);
                    (e, s)
                })
            })
            .map(|(e, s)| {
                let cap = history[s.agent as usize].clamp(1, MAX_COUNTED_USES);
                let c = Counts {
                    successes: s.successes,
                    failures: s.failures,
                    total_duration_ms: 0,
                };
                let (cs, cf) = counted(&c, cap);
                (e, cs, cf)
            })
            .collect();
        let mut weights = ramp.clone();
        let mut agreement = vec![SCALE as u32; n_agents];
        let mut products: Vec<(u128, u128)> = Vec::new();
        for _ in 0..ITERATIONS {
            // Σ e · agreement (millionths) per agent.
            let mut agreeing = vec![0u128; n_agents];
            for (b, slots) in self.bounds.windows(2).zip(self.procedures()) {
                let fixed = &fixed[b[0]..b[1]];
                // Weighted counted uses in millionths of millionths (no rounding).
                products.clear();
                products.extend(slots.iter().zip(fixed).map(|(s, &(_, cs, cf))| {
                    let w = u128::from(weights[s.agent as usize]);
                    (w * cs, w * cf)
                }));
                let all_s: u128 = products.iter().map(|c| c.0).sum();
                let all_f: u128 = products.iter().map(|c| c.1).sum();
                for ((s, &(e, _, _)), c) in slots.iter().zip(fixed).zip(&products) {
                    if e == 0 {
                        continue;
                    }
                    let n = s.successes.saturating_add(s.failures);
                    let a = agreement_of(s.successes, n, all_s - c.0, all_f - c.1, scale * scale);
                    agreeing[s.agent as usize] += u128::from(e) * u128::from(a);
                }
            }
            for i in 0..n_agents {
                let mean = ((agreeing[i] + scale) / (u128::from(history[i]) + 1)).min(scale);
                agreement[i] = mean as u32;
                let square = mean * mean / scale;
                weights[i] = (u128::from(ramp[i]) * square / scale * square / scale) as u64;
            }
        }
        let agents = self
            .agents
            .into_iter()
            .enumerate()
            .map(|(i, agent)| AgentWeight {
                agent,
                weight: weights[i] as u32,
                history: history[i],
                agreement: agreement[i],
            })
            .collect();
        EvidenceWeights { agents }
    }
}

/// The uses of every slot of one procedure.
fn total_uses(slots: &[Slot]) -> u64 {
    slots
        .iter()
        .map(|s| s.successes.saturating_add(s.failures))
        .fold(0, u64::saturating_add)
}

/// `E⁴ / (E⁴ + HISTORY_HALF⁴)` in millionths: the weight an identity's history allows.
fn ramp(history: u64) -> u64 {
    // Past 100 × HISTORY_HALF the ramp is within a millionth of one.
    let e = u128::from(history.min(100 * HISTORY_HALF)).pow(4);
    let h = u128::from(HISTORY_HALF).pow(4);
    (e * u128::from(SCALE) / (e + h)) as u64
}

/// How well `successes` of `uses` agree with the others' weighted counts `others_s`,
/// `others_f` (in units of `1 / unit` uses), in millionths: `1 − max(0, |s − n·r| − sd − ½) / n`
/// with `r` the others' Laplace rate and `sd = √(n·r·(1−r))`.
fn agreement_of(successes: u64, uses: u64, others_s: u128, others_f: u128, unit: u128) -> u32 {
    agreement_at(successes, uses, rate_of(others_s, others_f, unit))
}

/// The Laplace rate of `others_s` successes and `others_f` failures (in units of `1 / unit`
/// uses), in millionths, in (0, 1).
fn rate_of(others_s: u128, others_f: u128, unit: u128) -> u128 {
    (others_s + unit) * u128::from(SCALE) / (others_s + others_f + 2 * unit)
}

/// [`agreement_of`] given the others' rate `r` in millionths.
fn agreement_at(successes: u64, uses: u64, r: u128) -> u32 {
    let scale = u128::from(SCALE);
    let n = u128::from(uses);
    let expected = n * r;
    let observed = u128::from(successes) * scale;
    let deviation = expected.abs_diff(observed);
    let sd = isqrt(n * r * (scale - r));
    let excess = deviation.saturating_sub(sd + scale / 2);
    (scale - (excess / n).min(scale)) as u32
}

/// `⌊√v⌋`, exact: a float estimate corrected with integer arithmetic (so the result does not
/// depend on the platform's float rounding), several times faster than `u128::isqrt`.
fn isqrt(v: u128) -> u128 {
    // Through u64 when it fits: u128 <-> f64 conversions are software routines.
    let mut r = match u64::try_from(v) {
        Ok(small) => u128::from((small as f64).sqrt() as u64),
        Err(_) => (v as f64).sqrt() as u128,
    };
    while r.checked_mul(r).is_none_or(|sq| sq > v) {
        r -= 1;
    }
    while (r + 1).checked_mul(r + 1).is_some_and(|sq| sq <= v) {
        r += 1;
    }
    r
}

/// A space's weights, cached, and the derivation's state kept between reads
/// ([`index::WeightIndex`]): an outcome that changes a slot queues its procedure, and the
/// next read (see [`crate::Space::settle`]) brings the weights up to date by recomputing only
/// what that can have changed. The last derived weights are kept for crystallization proposals
/// made between two reads.
#[derive(Debug, Default)]
pub(crate) struct WeightCache {
    current: std::sync::OnceLock<Arc<EvidenceWeights>>,
    last: Arc<EvidenceWeights>,
    /// Behind a lock because reads (`&Space`) bring it up to date.
    maintained: Mutex<Maintained>,
}

/// The derivation's state and what changed since it was last brought up to date.
#[derive(Clone, Debug)]
struct Maintained {
    /// Shared by clones of a space until one of them reads again.
    index: Arc<index::WeightIndex>,
    /// Procedures whose outcome slots changed since (at most
    /// [`index::WeightIndex::worth_rebuilding`] of them: past that, `rebuild`, so that a space
    /// whose weights are never read does not collect every procedure it changes).
    pending: BTreeSet<ProcedureId>,
    /// Derive everything again (the state was replaced, or a read failed).
    rebuild: bool,
}

impl Default for Maintained {
    fn default() -> Self {
        Maintained {
            index: Arc::default(),
            pending: BTreeSet::new(),
            rebuild: true,
        }
    }
}

impl Clone for WeightCache {
    fn clone(&self) -> Self {
        WeightCache {
            current: self.current.clone(),
            last: self.last.clone(),
            maintained: Mutex::new(lock(&self.maintained).clone()),
        }
    }
}

/// The maintained state; a read that panicked left it half updated, so derive it again.
fn lock(maintained: &Mutex<Maintained>) -> std::sync::MutexGuard<'_, Maintained> {
    maintained.lock().unwrap_or_else(|poisoned| {
        let mut guard = poisoned.into_inner();
        guard.rebuild = true;
        guard
    })
}

impl WeightCache {
    /// The outcome slots of procedure `id` changed: the weights must be brought up to date.
    pub(crate) fn touch(&mut self, id: ProcedureId) {
        self.invalidate();
        let maintained = self
            .maintained
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !maintained.rebuild {
            maintained.pending.insert(id);
            if maintained.index.worth_rebuilding(maintained.pending.len()) {
                maintained.pending.clear();
                maintained.rebuild = true;
            }
        }
    }

    /// The whole state changed (restored from a snapshot): derive everything again.
    pub(crate) fn reset(&mut self) {
        self.invalidate();
        let maintained = self
            .maintained
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        maintained.pending.clear();
        maintained.rebuild = true;
    }

    fn invalidate(&mut self) {
        if let Some(w) = self.current.take() {
            self.last = w;
        }
    }

    /// Whether the weights wait for a derivation.
    pub(crate) fn is_stale(&self) -> bool {
        self.current.get().is_none()
    }

    /// The current weights, brought up to date with the outcome slots of `procedures` if
    /// stale.
    pub(crate) fn get(&self, procedures: &crate::procedure::ProcedureMap) -> &EvidenceWeights {
        self.shared(procedures)
    }

    /// [`WeightCache::get`], shared: what a frozen space keeps.
    pub(crate) fn shared(
        &self,
        procedures: &crate::procedure::ProcedureMap,
    ) -> &Arc<EvidenceWeights> {
        self.current.get_or_init(|| {
            let mut maintained = lock(&self.maintained);
            let Maintained {
                index,
                pending,
                rebuild,
            } = &mut *maintained;
            // A panic below leaves the lock poisoned, and `lock` then asks for a rebuild.
            let weights = Arc::make_mut(index).refresh(procedures, pending.iter(), *rebuild);
            pending.clear();
            *rebuild = false;
            Arc::new(weights)
        })
    }

    /// The current weights if derived, else the last derived ones (for proposals between
    /// derivations, which must not pay a derivation per write).
    pub(crate) fn latest(&self) -> &EvidenceWeights {
        self.current.get().unwrap_or(&self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_is_zero_fresh_half_at_five_near_one_at_fifteen() {
        assert_eq!(ramp(0), 0);
        assert_eq!(ramp(1), 1_597);
        assert_eq!(ramp(5), 500_000);
        assert!(ramp(15) > 987_000);
    }

    #[test]
    fn isqrt_is_exact() {
        for v in [
            0u128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            (1 << 52) + 1,
            u128::from(u64::MAX),
        ] {
            assert_eq!(isqrt(v), v.isqrt());
        }
        for k in [3u128, 1_000_003, 4_294_967_311, 1 << 60] {
            assert_eq!(isqrt(k * k), k);
            assert_eq!(isqrt(k * k - 1), k - 1);
        }
    }

    #[test]
    fn agreement_tolerates_noise_and_not_lies() {
        let m = SCALE as u128;
        // One report agrees within noise: a failure of a procedure that succeeds 90 %.
        assert!(agreement_of(0, 1, 90 * m, 10 * m, m) > 900_000);
        assert_eq!(agreement_of(1, 1, 90 * m, 10 * m, m), SCALE as u32);
        // 9 of 10 against others' 90 %: agrees.
        assert_eq!(agreement_of(9, 10, 90 * m, 10 * m, m), SCALE as u32);
        // 10 failures of a procedure others see succeed 90 %: strong disagreement.
        assert!(agreement_of(0, 10, 90 * m, 10 * m, m) < 300_000);
    }
}
