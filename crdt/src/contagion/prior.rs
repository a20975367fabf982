//! The bounded form of contagion: neighbours' evidence as a prior that own evidence outweighs.

use serde::{Deserialize, Serialize};

use crate::outcome::Counts;
use crate::settings::SpaceSettings;
use crate::stats;
use crate::weights::WeightedCounts;

/// The neighbours' evidence a procedure's ranking starts from: pseudo-successes and
/// pseudo-failures of a Beta prior, added to its own counts.
///
/// `successes = factor · Σ_P w(P) · s_P · d`, `failures = factor · Σ_P w(P) · f_P · d`, over
/// every procedure P within the space's hop limit over `similar` and `context` relations, `w`
/// the strongest path weight (product of strengths), `d = 2^(-age / half_life)` with `age` the
/// time since the neighbourhood's latest use; then scaled down together, keeping their ratio,
/// so that `successes + failures <= contagion_prior_max`. However many successes the
/// neighbours collect, the prior is worth at most that many uses of the procedure itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// Pseudo-successes.
    pub successes: f64,
    /// Pseudo-failures.
    pub failures: f64,
}

impl Prior {
    /// The prior of weighted sums `(successes, failures)` in millionths, for a neighbourhood
    /// last used at `last_used_ms`, at `now_ms`.
    pub(crate) fn of(
        sums: (u128, u128),
        last_used_ms: u64,
        now_ms: u64,
        settings: &SpaceSettings,
    ) -> Prior {
        if sums == (0, 0) {
            return Prior::default();
        }
        let scale = settings.contagion_factor.as_f64()
            * decay(
                now_ms.saturating_sub(last_used_ms),
                settings.contagion_half_life_ms,
            )
            / 1e6;
        let mut prior = Prior {
            successes: sums.0 as f64 * scale,
            failures: sums.1 as f64 * scale,
        };
        let cap = f64::from(settings.contagion_prior_max);
        let mass = prior.uses();
        if mass > cap {
            prior.successes *= cap / mass;
            prior.failures *= cap / mass;
        }
        prior
    }

    /// Pseudo-uses: `successes + failures`.
    pub fn uses(&self) -> f64 {
        self.successes + self.failures
    }
}

/// The ranking score of own `counts` with a contagion `prior`: the Wilson lower bound
/// (z = 1.96) of the success proportion of the counts plus the prior. With failure contagion
/// off (`negative` false), contagion only lifts: the score is never below the Wilson bound of
/// the own counts alone.
pub fn score(counts: &Counts, prior: &Prior, negative: bool) -> f64 {
    score_weighted(&WeightedCounts::unweighted(counts), prior, negative)
}

/// [`score`] of weighted counts (see [`crate::weights`]).
pub fn score_weighted(counts: &WeightedCounts, prior: &Prior, negative: bool) -> f64 {
    let own = counts.confidence();
    if prior.uses() <= 0.0 {
        return own;
    }
    let with = stats::confidence_of(
        counts.successes_f64() + prior.successes,
        counts.failures_f64() + prior.failures,
    );
    if negative { with } else { own.max(with) }
}

/// `2^(-elapsed / half_life)`; a zero half-life means no decay.
fn decay(elapsed_ms: u64, half_life_ms: u64) -> f64 {
    if half_life_ms == 0 || elapsed_ms == 0 {
        return 1.0;
    }
    (-(elapsed_ms as f64) / half_life_ms as f64).exp2()
}
