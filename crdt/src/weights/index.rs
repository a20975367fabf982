//! The derivation of [`EvidenceWeights`] kept up to date as outcome slots change, with the
//! same result, bit for bit, as [`EvidenceWeights::derive`] from scratch.
//!
//! What the derivation reads is kept between derivations: per procedure, its slots with their
//! history shares `e` and, for each round, the `e · agreement` each slot added to its agent's
//! agreeing sum; per agent, its history `E`, its agreeing sum per round and its weight before
//! and after each round. An outcome that changes a slot only queues its procedure; the next
//! read brings the derivation up to date by recomputing only what can have changed:
//!
//! - **History** is a sum over procedures: the queued procedures' shares are taken out of
//!   their agents' `E` and their new shares put in (`O(slots of the procedure)`).
//! - **Agreement** is not a sum of fixed per-procedure or per-pair terms: a slot's agreement
//!   is a non-linear function (`|·|`, an integer square root, clamps) of the *weighted* rate of
//!   the other agents on its procedure, and those weights are the previous round's, which
//!   depend on every procedure their agents report on. So a round recomputes every slot of the
//!   procedures whose inputs changed in that round: the queued procedures, the procedures of
//!   agents whose counting cap `min(64, max(1, E))` changed, and the procedures of every agent
//!   whose weight *going into that round* changed. Weights are integers (millionths) derived
//!   from a mean over all of an agent's procedures, so a small change on one procedure mostly
//!   leaves them equal, and what a write touches dies out within a round or two instead of
//!   spreading to the whole space. In the worst case (every weight moves) a read costs what a
//!   derivation from scratch costs.
//!
//! When more than a quarter of the procedures (and more than 256) changed between two reads
//! (a merge of a large replica, a replay, a space whose weights are not read), or the state
//! was replaced (a restored snapshot), the next read derives everything again through the
//! same code.

use std::collections::BTreeMap;

use super::{
    AgentWeight, EvidenceWeights, HISTORY_PER_PROCEDURE, ITERATIONS, MAX_COUNTED_USES, SCALE,
    agreement_at, counted, ramp, rate_of,
};
use crate::ids::{AgentId, ProcedureId};
use crate::outcome::Counts;

/// Changed procedures past which everything is derived again (when they are also more than a
/// quarter of the procedures).
const REBUILD_MIN_PENDING: usize = 256;

/// One agent's slot on one procedure, as the derivation reads it (48 bytes: a read after a
/// write walks the slots of thousands of procedures, and is bound by memory).
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The agent's dense index.
    agent: u32,
    /// Its history share `e = min(n, N', 2)`.
    history: u32,
    successes: u64,
    failures: u64,
    /// `e · agreement` (millionths) it added to its agent's agreeing sum in each round.
    agreeing: [u32; ITERATIONS],
    /// The others' rate (millionths) that agreement was measured against in each round
    /// ([`UNKNOWN_RATE`] before the first): an equal rate gives an equal agreement, so the
    /// agreement is recomputed only when the rate moved.
    rate: [u32; ITERATIONS],
}

// `e · agreement` fits an entry's `u32`.
const _: () = assert!(HISTORY_PER_PROCEDURE * SCALE <= u32::MAX as u64);

impl Entry {
    fn uses(&self) -> u64 {
        self.successes.saturating_add(self.failures)
    }
}

/// A rate no agreement was measured against (rates are below one million).
const UNKNOWN_RATE: u32 = u32::MAX;

/// One agent's derivation state.
#[derive(Clone, Debug)]
struct AgentState {
    /// The procedures (dense indices) where it has a slot with uses, in no order.
    procedures: Vec<u32>,
    /// `E`.
    history: u64,
    /// `Σ e · agreement` per round (millionths).
    agreeing: [u128; ITERATIONS],
    /// `weights[0] = ramp(E)`; `weights[k + 1]` after round `k` (the last is the weight).
    weights: [u64; ITERATIONS + 1],
    /// The last round's agreement mean (millionths).
    agreement: u32,
}

impl AgentState {
    fn cap(&self) -> u64 {
        self.history.clamp(1, MAX_COUNTED_USES)
    }
}

/// The derivation's state between reads (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct WeightIndex {
    agents: Vec<AgentState>,
    agent_index: BTreeMap<AgentId, u32>,
    procedure_index: BTreeMap<ProcedureId, u32>,
    /// Per procedure (dense index): its slots with uses, by agent index.
    procedures: Vec<Vec<Entry>>,
    /// Scratch marks (`mark[i] == generation`: in the current set), kept to avoid allocating.
    procedure_marks: Vec<u32>,
    agent_marks: Vec<u32>,
    generation: u32,
}

/// Whether [`rate_of`]`(others_s, others_f, unit)` is `rate`, without its division:
/// `⌊x / d⌋ = r ⇔ r·d ≤ x < (r + 1)·d`.
fn rate_is(rate: u32, others_s: u128, others_f: u128, unit: u128) -> bool {
    if rate == UNKNOWN_RATE {
        return false;
    }
    let x = (others_s + unit) * u128::from(SCALE);
    let d = others_s + others_f + 2 * unit;
    let r = u128::from(rate);
    r * d <= x && x < (r + 1) * d
}

/// Marks `i` in `marks` for `generation` and pushes it onto `set` if it was not marked.
fn mark(marks: &mut [u32], generation: u32, set: &mut Vec<u32>, i: u32) {
    let m = &mut marks[i as usize];
    if *m != generation {
        *m = generation;
        set.push(i);
    }
}

impl WeightIndex {
    /// Brings the derivation up to date with `pending` (procedures whose slots may have
    /// changed) and returns the weights; with `rebuild`, derives everything again.
    pub(crate) fn refresh<'a>(
        &mut self,
        procedures: &crate::procedure::ProcedureMap,
        pending: impl IntoIterator<Item = &'a ProcedureId>,
        rebuild: bool,
    ) -> EvidenceWeights {
        if rebuild {
            *self = WeightIndex::default();
            self.update(procedures, procedures.keys());
        } else {
            self.update(procedures, pending);
        }
        self.weights()
    }

    /// Whether, with `pending` procedures changed, deriving everything again costs about as
    /// much as bringing the derivation up to date (more than a quarter of the procedures, and
    /// more than [`REBUILD_MIN_PENDING`]).
    pub(crate) fn worth_rebuilding(&self, pending: usize) -> bool {
        pending > REBUILD_MIN_PENDING && pending > self.procedures.len() / 4
    }

    /// The weights as derived (agents with at least one slot with uses, by id).
    fn weights(&self) -> EvidenceWeights {
        let agents = self
            .agent_index
            .iter()
            .map(|(id, &i)| (id, &self.agents[i as usize]))
            .filter(|(_, a)| !a.procedures.is_empty())
            .map(|(id, a)| AgentWeight {
                agent: *id,
                weight: a.weights[ITERATIONS] as u32,
                history: a.history,
                agreement: a.agreement,
            })
            .collect();
        EvidenceWeights { agents }
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.procedure_marks.fill(0);
            self.agent_marks.fill(0);
            self.generation = 1;
        }
        self.generation
    }

    fn agent(&mut self, id: &AgentId) -> u32 {
        if let Some(&i) = self.agent_index.get(id) {
            return i;
        }
        let i = self.agents.len() as u32;
        self.agents.push(AgentState {
            procedures: Vec::new(),
            history: 0,
            agreeing: [0; ITERATIONS],
            weights: [0; ITERATIONS + 1],
            agreement: SCALE as u32,
        });
        self.agent_marks.push(0);
        self.agent_index.insert(*id, i);
        i
    }

    fn procedure(&mut self, id: &ProcedureId) -> u32 {
        if let Some(&i) = self.procedure_index.get(id) {
            return i;
        }
        let i = self.procedures.len() as u32;
        self.procedures.push(Vec::new());
        self.procedure_marks.push(0);
        self.procedure_index.insert(*id, i);
        i
    }

    fn update<'a>(
        &mut self,
        states: &crate::procedure::ProcedureMap,
        pending: impl IntoIterator<Item = &'a ProcedureId>,
    ) {
        // 1. The pending procedures' slots and history shares. Their old contributions leave
        //    their agents' sums here; the rounds below put the new ones in.
        let generation = self.next_generation();
        let mut touched: Vec<u32> = Vec::new(); // procedures
        let mut agents: Vec<u32> = Vec::new(); // agents on them, before or after
        let mut history_before: Vec<(u32, u64)> = Vec::new();
        for id in pending {
            let Some(state) = states.get(id) else {
                continue;
            };
            let p = self.procedure(id);
            if self.procedure_marks[p as usize] == generation {
                continue;
            }
            let mut fresh: Vec<Entry> = Vec::with_capacity(state.outcomes.len());
            for (agent, slot) in state.outcomes.iter() {
                let c = &slot.totals.value;
                if c.uses() > 0 {
                    let a = self.agent(agent);
                    fresh.push(Entry {
                        agent: a,
                        successes: c.successes,
                        failures: c.failures,
                        history: 0,
                        agreeing: [0; ITERATIONS],
                        rate: [UNKNOWN_RATE; ITERATIONS],
                    });
                }
            }
            fresh.sort_unstable_by_key(|e| e.agent);
            let all = fresh.iter().map(Entry::uses).fold(0, u64::saturating_add);
            for e in &mut fresh {
                let n = e.uses();
                // At most HISTORY_PER_PROCEDURE.
                e.history = n.min(all - n).min(HISTORY_PER_PROCEDURE) as u32;
            }
            mark(&mut self.procedure_marks, generation, &mut touched, p);
            let old = std::mem::take(&mut self.procedures[p as usize]);
            for e in &old {
                let a = &mut self.agents[e.agent as usize];
                if self.agent_marks[e.agent as usize] != generation {
                    history_before.push((e.agent, a.history));
                }
                a.history -= u64::from(e.history);
                for (sum, added) in a.agreeing.iter_mut().zip(&e.agreeing) {
                    *sum -= u128::from(*added);
                }
                if fresh.binary_search_by_key(&e.agent, |f| f.agent).is_err() {
                    a.procedures.retain(|&q| q != p);
                }
                mark(&mut self.agent_marks, generation, &mut agents, e.agent);
            }
            for e in &fresh {
                let a = &mut self.agents[e.agent as usize];
                if self.agent_marks[e.agent as usize] != generation {
                    history_before.push((e.agent, a.history));
                }
                a.history += u64::from(e.history);
                if old.binary_search_by_key(&e.agent, |o| o.agent).is_err() {
                    a.procedures.push(p);
                }
                mark(&mut self.agent_marks, generation, &mut agents, e.agent);
            }
            self.procedures[p as usize] = fresh;
        }
        // 2. Agents whose history changed: their ramp (the first round's weight) and their
        //    cap (what their slots count for, everywhere) may have changed.
        let mut changed: Vec<u32> = Vec::new(); // agents whose weight into the round changed
        for &(i, before) in &history_before {
            let a = &mut self.agents[i as usize];
            if a.history == before {
                continue;
            }
            let r = ramp(a.history);
            if r != a.weights[0] {
                a.weights[0] = r;
                changed.push(i);
            }
            if before.clamp(1, MAX_COUNTED_USES) != a.cap() {
                for &p in &a.procedures {
                    mark(&mut self.procedure_marks, generation, &mut touched, p);
                }
            }
        }
        // 3. The rounds. Every round recomputes the mean of the agents whose history or slots
        //    changed (`agents`) and of those whose agreeing sum moved in it.
        let scale = u128::from(SCALE);
        let mut products: Vec<(u128, u128)> = Vec::new();
        for round in 0..ITERATIONS {
            let g = self.next_generation();
            let mut dirty: Vec<u32> = Vec::new();
            for &p in &touched {
                mark(&mut self.procedure_marks, g, &mut dirty, p);
            }
            for &i in &changed {
                for &p in &self.agents[i as usize].procedures {
                    mark(&mut self.procedure_marks, g, &mut dirty, p);
                }
            }
            let mut affected: Vec<u32> = Vec::new();
            for &i in &agents {
                mark(&mut self.agent_marks, g, &mut affected, i);
            }
            for &p in &dirty {
                let entries = &mut self.procedures[p as usize];
                products.clear();
                products.extend(entries.iter().map(|e| {
                    let a = &self.agents[e.agent as usize];
                    let (cs, cf) = counted(
                        &Counts {
                            successes: e.successes,
                            failures: e.failures,
                            total_duration_ms: 0,
                        },
                        a.cap(),
                    );
                    let w = u128::from(a.weights[round]);
                    (w * cs, w * cf)
                }));
                let all_s: u128 = products.iter().map(|c| c.0).sum();
                let all_f: u128 = products.iter().map(|c| c.1).sum();
                for (e, c) in entries.iter_mut().zip(&products) {
                    if e.history == 0 {
                        continue;
                    }
                    let (others_s, others_f) = (all_s - c.0, all_f - c.1);
                    if rate_is(e.rate[round], others_s, others_f, scale * scale) {
                        continue;
                    }
                    let r = rate_of(others_s, others_f, scale * scale);
                    e.rate[round] = r as u32;
                    // At most HISTORY_PER_PROCEDURE · SCALE (checked above to fit).
                    let new = e.history * agreement_at(e.successes, e.uses(), r);
                    let old = std::mem::replace(&mut e.agreeing[round], new);
                    if new != old {
                        let sum = &mut self.agents[e.agent as usize].agreeing[round];
                        *sum = *sum + u128::from(new) - u128::from(old);
                        mark(&mut self.agent_marks, g, &mut affected, e.agent);
                    }
                }
            }
            changed.clear();
            for &i in &affected {
                let a = &mut self.agents[i as usize];
                let mean = ((a.agreeing[round] + scale) / (u128::from(a.history) + 1)).min(scale);
                if round + 1 == ITERATIONS {
                    a.agreement = mean as u32;
                }
                let square = mean * mean / scale;
                let w = (u128::from(a.weights[0]) * square / scale * square / scale) as u64;
                if w != a.weights[round + 1] {
                    a.weights[round + 1] = w;
                    changed.push(i);
                }
            }
        }
    }
}
