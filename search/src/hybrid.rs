//! Hybrid ranking: reciprocal-rank fusion of the vector and lexical lists, gated by match
//! strength, then blended with the evidence of past outcomes.
//!
//! For a query, each list proposes its best `max(4 * limit, 20)` documents
//! ([`candidates_for`]). For every candidate `d`:
//!
//! 1. **Fusion** (Cormack et al., "Reciprocal Rank Fusion outperforms Condorcet and individual
//!    Rank Learning Methods", SIGIR 2009): `fused = semantic / (rrf_k + rank_v) +
//!    lexical / (rrf_k + rank_l)`, a missing rank adding nothing. Equal scores share a rank.
//! 2. **Relevance**: ranks alone cannot tell "second best" from "barely related" (with
//!    `rrf_k = 60`, rank 1 and rank 5 differ by 6%), so fusion is gated by how strong the
//!    match is: `strength = (semantic * max(cos, 0) / best_cos + lexical * bm25 / best_bm25) /
//!    (semantic + lexical)` (the lexical part left out of both sums when no document matches
//!    a query word), and `relevance = fused / best_fused * strength`, in `0..=1`. Candidates
//!    with no relevance are dropped.
//! 3. **Evidence** ([`evidence_value`]) is a number in `-1..=1` from the success rate (the
//!    context's rate when the query names a context and the procedure has one), how many
//!    outcomes back it, the ranking score and the contagion boost. The final score is
//!    `relevance * (1 + evidence * value)`: evidence re-orders documents of similar relevance
//!    and is scaled by relevance, so with the default weight 0.25 it can make up at most a
//!    factor `1.25 / 0.75` of relevance, never lift an unrelated document (relevance near 0)
//!    over a related one.
//! 4. **Near-ties**: the hits are sorted by final score (then relevance, then key), then cut
//!    into runs: a run starts at the first hit not yet in one, its *leader*, and takes every
//!    following hit whose final score is at least `(1 - near_tie)` times the leader's. Within
//!    a run the crystallized hits come first, each part keeping its order.

use serde::Serialize;

use crate::error::SearchError;

/// How many candidates each list proposes for a query of `limit` results.
pub fn candidates_for(limit: usize) -> usize {
    (4 * limit).max(20)
}

/// The weights of hybrid ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HybridWeights {
    /// Weight of the vector list in fusion and strength. Default 1.0.
    pub semantic: f64,
    /// Weight of the lexical list. Default 1.0.
    pub lexical: f64,
    /// Weight of evidence, in `0..1`. Default 0.25.
    pub evidence: f64,
    /// The `k` of reciprocal-rank fusion. Default 60.
    pub rrf_k: f64,
    /// Relative width of a near-tie, in `0..=0.5`. Default 0.05 (5%).
    pub near_tie: f64,
}

impl Default for HybridWeights {
    fn default() -> Self {
        HybridWeights {
            semantic: 1.0,
            lexical: 1.0,
            evidence: 0.25,
            rrf_k: 60.0,
            near_tie: 0.05,
        }
    }
}

impl HybridWeights {
    /// Checks the weights: all finite; `semantic, lexical >= 0` and not both 0;
    /// `0 <= evidence < 1` (so a final score never turns negative); `rrf_k > 0`;
    /// `0 <= near_tie <= 0.5`.
    pub fn validate(&self) -> Result<(), SearchError> {
        let checks = [
            ("semantic", self.semantic, self.semantic >= 0.0),
            ("lexical", self.lexical, self.lexical >= 0.0),
            (
                "semantic + lexical",
                self.semantic + self.lexical,
                self.semantic + self.lexical > 0.0,
            ),
            (
                "evidence",
                self.evidence,
                (0.0..1.0).contains(&self.evidence),
            ),
            ("rrf_k", self.rrf_k, self.rrf_k > 0.0),
            (
                "near_tie",
                self.near_tie,
                (0.0..=0.5).contains(&self.near_tie),
            ),
        ];
        for (field, value, ok) in checks {
            if !value.is_finite() || !ok {
                return Err(SearchError::InvalidParameter {
                    field,
                    value: value.to_string(),
                    reason: "see HybridWeights::validate for the accepted ranges",
                });
            }
        }
        Ok(())
    }
}

/// What the memory knows about a procedure's use, given by the caller for each candidate.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Evidence {
    /// The procedure's ranking score (knack-crdt's `score`, usually `0..=1`; may be negative).
    pub score: f64,
    /// Overall success rate, `0..=1` (e.g. the Laplace rate `(s+1)/(s+f+2)`).
    pub success_rate: f64,
    /// Success rate in the query's context, if the procedure has outcomes there.
    pub context_rate: Option<f64>,
    /// Outcomes recorded (successes and failures).
    pub outcomes: u64,
    /// Whether the procedure is crystallized.
    pub crystallized: bool,
    /// Its contagion boost.
    pub boost: f64,
}

/// Outcomes at which a success rate counts half: `support = outcomes / (outcomes + 5)`.
const SUPPORT_HALF: f64 = 5.0;
/// Share of the evidence value from the success rate.
const RATE_SHARE: f64 = 0.5;
/// Share from the ranking score.
const SCORE_SHARE: f64 = 0.3;
/// Share from the contagion boost.
const BOOST_SHARE: f64 = 0.2;

/// The evidence value in `-1..=1`:
/// `0.5 * (2 * rate - 1) * support + 0.3 * clamp(score, -1, 1) + 0.2 * clamp(boost, -1, 1)`,
/// where `rate` is the context rate if `use_context` and there is one, else the success rate,
/// and `support = outcomes / (outcomes + 5)`. Non-finite inputs count as 0.
pub fn evidence_value(e: &Evidence, use_context: bool) -> f64 {
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    let rate = match (use_context, e.context_rate) {
        (true, Some(r)) => r,
        _ => e.success_rate,
    };
    let rate = finite(rate).clamp(0.0, 1.0);
    let n = e.outcomes as f64;
    let support = n / (n + SUPPORT_HALF);
    let v = RATE_SHARE * (2.0 * rate - 1.0) * support
        + SCORE_SHARE * finite(e.score).clamp(-1.0, 1.0)
        + BOOST_SHARE * finite(e.boost).clamp(-1.0, 1.0);
    v.clamp(-1.0, 1.0)
}

/// 1-based competition ranks ("1224") of a list sorted best first by `score`.
pub(crate) fn ranks<T>(list: &[T], score: impl Fn(&T) -> f64) -> Vec<usize> {
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let rank = if i > 0 && score(item) == score(&list[i - 1]) {
            out[i - 1]
        } else {
            i + 1
        };
        out.push(rank);
    }
    out
}

/// Orders hits by `(final, relevance, key)` and moves crystallized hits up within near-ties;
/// `items` are `(final, relevance, crystallized, key)`. Returns the new order as indices into
/// `items` and whether each was promoted.
pub(crate) fn order<K: Ord>(items: &[(f64, f64, bool, K)], near_tie: f64) -> Vec<(usize, bool)> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by(|&a, &b| {
        let (fa, ra, _, ka) = &items[a];
        let (fb, rb, _, kb) = &items[b];
        fb.total_cmp(fa)
            .then_with(|| rb.total_cmp(ra))
            .then_with(|| ka.cmp(kb))
    });
    let mut out = Vec::with_capacity(idx.len());
    let mut start = 0;
    while start < idx.len() {
        let leader = items[idx[start]].0;
        let mut end = start + 1;
        while end < idx.len() && items[idx[end]].0 >= (1.0 - near_tie) * leader {
            end += 1;
        }
        let run = &idx[start..end];
        let first_plain = run.iter().position(|&i| !items[i].2);
        for &i in run.iter().filter(|&&i| items[i].2) {
            let pos = run.iter().position(|&j| j == i).unwrap_or(0);
            let promoted = first_plain.is_some_and(|p| p < pos);
            out.push((i, promoted));
        }
        out.extend(run.iter().filter(|&&i| !items[i].2).map(|&i| (i, false)));
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[3.0, 2.0, 2.0, 1.0], |x| *x), vec![1, 2, 2, 4]);
    }

    #[test]
    fn crystallized_moves_up_only_within_a_run() {
        // 1.0 and 0.96 tie (5%); 0.90 is out of the first run.
        let items = [
            (1.0, 1.0, false, 'a'),
            (0.96, 1.0, true, 'b'),
            (0.90, 1.0, true, 'c'),
        ];
        let o = order(&items, 0.05);
        assert_eq!(o, vec![(1, true), (0, false), (2, false)]);
    }

    #[test]
    fn evidence_value_uses_the_context_rate() {
        let e = Evidence {
            success_rate: 0.9,
            context_rate: Some(0.1),
            outcomes: 20,
            ..Evidence::default()
        };
        assert!(evidence_value(&e, false) > 0.3);
        assert!(evidence_value(&e, true) < -0.3);
        let nan = Evidence {
            score: f64::NAN,
            ..e
        };
        assert!(evidence_value(&nan, true).is_finite());
    }

    #[test]
    fn weights_are_validated() {
        assert!(HybridWeights::default().validate().is_ok());
        for w in [
            HybridWeights {
                evidence: 1.0,
                ..HybridWeights::default()
            },
            HybridWeights {
                semantic: 0.0,
                lexical: 0.0,
                ..HybridWeights::default()
            },
            HybridWeights {
                rrf_k: 0.0,
                ..HybridWeights::default()
            },
            HybridWeights {
                near_tie: f64::NAN,
                ..HybridWeights::default()
            },
        ] {
            assert!(w.validate().is_err(), "{w:?}");
        }
    }
}
