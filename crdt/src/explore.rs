//! Exploration: rankings that sample instead of sorting by a lower bound.
//!
//! Agents *choose* from rankings, so a ranking is a bandit policy. Always taking the top of a
//! lower-bound ranking (greedy) locks every agent onto whichever procedure happened to succeed
//! first: the others are never tried again, and sharing outcomes teaches nobody anything.
//! Thompson sampling (Thompson 1933; Chapelle & Li, "An Empirical Evaluation of Thompson
//! Sampling", 2011) draws each procedure's success rate from its Beta posterior and ranks by
//! the draws: a procedure is chosen with the probability that it is the best, so the unproven
//! are tried in proportion to how plausibly they are better, and a proven one is almost always
//! chosen. The posterior here is `Beta(1 + s + a, 1 + f + b)`: the own counts `s, f` plus the
//! contagion prior's pseudo-counts `a, b`, so contagion steers exploration too.
//! Randomness is the caller's generator: seeded in the simulator, the OS's in the node.

use rand::Rng;
use rand_distr::{Beta, Distribution};

use crate::ranking::{Filter, Ranked};
use crate::space::Space;

/// How a ranking orders procedures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// By score (Wilson lower bound of own counts plus the contagion prior): deterministic,
    /// the same on every converged replica.
    #[default]
    Greedy,
    /// By a draw from each procedure's Beta posterior (Thompson sampling).
    Thompson,
}

impl Policy {
    /// The policy's name (`greedy`, `thompson`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Policy::Greedy => "greedy",
            Policy::Thompson => "thompson",
        }
    }

    /// The policy named `name`.
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "greedy" => Some(Policy::Greedy),
            "thompson" => Some(Policy::Thompson),
            _ => None,
        }
    }
}

/// A draw of the success rate from `Beta(1 + successes, 1 + failures)` (fractional counts
/// allowed).
pub fn thompson_draw<R: Rng + ?Sized>(successes: f64, failures: f64, rng: &mut R) -> f64 {
    let alpha = 1.0 + successes.max(0.0);
    let beta = 1.0 + failures.max(0.0);
    match Beta::new(alpha, beta) {
        Ok(dist) => dist.sample(rng),
        // Only for non-finite counts; the posterior mean is then the honest answer.
        Err(_) => alpha / (alpha + beta),
    }
}

impl Space {
    /// The `n` procedures admitted by `filter`, ordered by `policy` at `now_ms`. For
    /// [`Policy::Thompson`] each row's [`Ranked::draw`] holds the draw it was ranked by (ties
    /// broken by score, then id); `rng` is not used by [`Policy::Greedy`].
    pub fn rank<R: Rng + ?Sized>(
        &self,
        n: usize,
        filter: &Filter,
        now_ms: u64,
        policy: Policy,
        rng: &mut R,
    ) -> Vec<Ranked> {
        rank_of(|n| self.top(n, filter, now_ms), n, policy, rng)
    }
}

/// The `n` best by `policy` of the rows `top(k)` ranks greedily (the `k` best by score): the
/// ranking of a live space ([`Space::rank`]) and of a frozen one ([`crate::FrozenSpace::rank`]).
pub(crate) fn rank_of<R: Rng + ?Sized>(
    top: impl FnOnce(usize) -> Vec<Ranked>,
    n: usize,
    policy: Policy,
    rng: &mut R,
) -> Vec<Ranked> {
    match policy {
        Policy::Greedy => top(n),
        Policy::Thompson => {
            let mut rows = top(usize::MAX);
            for row in &mut rows {
                row.draw = Some(thompson_draw(
                    row.weighted.successes_f64() + row.prior.successes,
                    row.weighted.failures_f64() + row.prior.failures,
                    rng,
                ));
            }
            rows.sort_by(|a, b| {
                b.draw
                    .unwrap_or(0.0)
                    .total_cmp(&a.draw.unwrap_or(0.0))
                    .then_with(|| b.score.total_cmp(&a.score))
                    .then_with(|| a.id.cmp(&b.id))
            });
            rows.truncate(n);
            rows
        }
    }
}
