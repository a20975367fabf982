//! An emulation of the seed's additive success contagion, for comparison only.
//!
//! knack-crdt no longer has it: the seed added `factor * rate(P) * w` to every procedure within
//! `hops` of P on each success of P, without bound, and ranked by
//! `clamp(confidence + boost, 0, 1)`. Here the boost is recomputed at each choice from the
//! current counts, `factor * sum_P w(P) * s_P * rate_P` (the seed used the rate at the time of
//! each success and decayed boosts over a seven-day half-life, which a run of minutes never
//! sees), over the strongest paths of `Space::contagion_graph()`. It is labelled
//! `seed_additive` everywhere and lives in the simulator only.

use knack_crdt::{Filter, ProcedureId, Space, stats};

use super::config::LearningConfig;

/// The procedure the seed's additive rule ranks first among those `filter` admits (ties in the
/// order of knack's own ranking).
pub(crate) fn pick(
    space: &Space,
    filter: &Filter,
    now_ms: u64,
    cfg: &LearningConfig,
) -> Option<ProcedureId> {
    let rows = space.top(usize::MAX, filter, now_ms);
    let graph = space.contagion_graph();
    let mut best: Option<(f64, ProcedureId)> = None;
    for row in rows {
        let mut boost = 0.0;
        if cfg.contagion_hops > 0 {
            for (other, w) in graph.strongest_paths(row.id, cfg.contagion_hops) {
                if let Some(p) = space.procedure(&other) {
                    let counts = p.counts();
                    boost +=
                        cfg.contagion_factor * w * counts.successes as f64 * stats::rate(&counts);
                }
            }
        }
        let score = (row.confidence + boost).clamp(0.0, 1.0);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, row.id));
        }
    }
    best.map(|(_, id)| id)
}
