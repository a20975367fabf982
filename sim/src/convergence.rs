//! Convergence, measured by the real state digests of the agents' spaces.
//!
//! A cheap test runs at every sample: has every online honest agent applied every update that
//! matters (all updates authored before a heal; all updates, once the workload is done)? When
//! it passes, the digests of those agents' spaces are compared with the digest of a reference
//! replica that applied every update as it was authored. Convergence is declared only when the
//! digests agree.

use serde::Serialize;

use crate::network::US_PER_MS;
use crate::world::World;

/// Convergence after one partition heals.
#[derive(Clone, Debug, Serialize)]
pub struct Heal {
    /// When the partition healed (ms).
    pub heal_ms: u64,
    /// Updates authored before the heal.
    pub updates_before: u32,
    /// When every online honest agent had applied all of them (ms).
    pub converged_ms: Option<f64>,
    /// Time from the heal to convergence (ms).
    pub convergence_ms: Option<f64>,
    /// Whether the digests were compared then (only possible if no update came after the
    /// heal) and agreed.
    pub digests_agree: Option<bool>,
}

/// Final convergence of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Final {
    /// When every online honest agent first held the reference state, by digest (ms).
    pub converged_ms: Option<f64>,
    /// At the end: online honest agents holding a replica (relay-only agents are checked by
    /// their version vectors: they count as converged once they hold every op).
    pub agents: u32,
    /// At the end: of those, how many have the reference digest.
    pub agents_at_reference: u32,
    /// At the end: distinct digests among them.
    pub distinct_digests: u32,
    /// The reference digest (hex).
    pub reference_digest: String,
    /// Times the cheap test passed but the digests disagreed (a CRDT bug if ever above 0).
    pub digest_mismatches: u32,
}

/// The convergence tracker.
#[derive(Debug, Default)]
pub(crate) struct Convergence {
    pub(crate) heals: Vec<Heal>,
    pub(crate) final_: Final,
}

impl Convergence {
    /// Records a heal at `now`.
    pub(crate) fn healed(&mut self, w: &World) {
        self.heals.push(Heal {
            heal_ms: w.now() / US_PER_MS,
            updates_before: w.updates.list.len() as u32,
            converged_ms: None,
            convergence_ms: None,
            digests_agree: None,
        });
    }

    /// The check at each sample; `done` says the workload has authored everything.
    pub(crate) fn sample(&mut self, w: &World, done: bool) {
        let now_ms = w.now() as f64 / US_PER_MS as f64;
        let total = w.updates.list.len() as u32;
        for h in self.heals.iter_mut().filter(|h| h.converged_ms.is_none()) {
            let all = (0..w.n())
                .filter(|&i| w.counts_for_convergence(i))
                .all(|i| w.agents[i as usize].prefix >= h.updates_before);
            if all {
                h.converged_ms = Some(now_ms);
                h.convergence_ms = Some(now_ms - h.heal_ms as f64);
                if total == h.updates_before {
                    h.digests_agree = Some(digests_agree(w));
                }
            }
        }
        if done && self.final_.converged_ms.is_none() {
            let all = (0..w.n())
                .filter(|&i| w.counts_for_convergence(i))
                .all(|i| w.agents[i as usize].applied == total);
            if all {
                if digests_agree(w) {
                    self.final_.converged_ms = Some(now_ms);
                } else {
                    self.final_.digest_mismatches += 1;
                }
            }
        }
    }

    /// The end-of-run digest census.
    pub(crate) fn finish(&mut self, w: &World) {
        let reference = w.reference.digest();
        let mut digests = std::collections::BTreeSet::new();
        let mut agents = 0;
        let mut at_reference = 0;
        for i in (0..w.n()).filter(|&i| w.counts_for_convergence(i)) {
            let Some(space) = w.replicas.get(i) else {
                continue;
            };
            let d = space.digest();
            agents += 1;
            if d == reference {
                at_reference += 1;
            }
            digests.insert(d);
        }
        self.final_.agents = agents;
        self.final_.agents_at_reference = at_reference;
        self.final_.distinct_digests = digests.len() as u32;
        self.final_.reference_digest = reference.to_string();
    }
}

/// Whether every online honest agent's space digest equals the reference digest.
fn digests_agree(w: &World) -> bool {
    let reference = w.reference.digest();
    (0..w.n())
        .filter(|&i| w.counts_for_convergence(i))
        .all(|i| w.replicas.get(i).is_none_or(|s| s.digest() == reference))
}
