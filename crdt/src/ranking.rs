//! Rankings: the best procedures of a space at a given time.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::clock::Hlc;
use crate::contagion::Prior;
use crate::ids::ProcedureId;
use crate::kind::ProcedureKind;
use crate::outcome::Counts;
use crate::procedure::Procedure;
use crate::space::Space;
use crate::weights::WeightedCounts;

/// Which procedures a ranking considers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only procedures carrying this tag.
    pub tag: Option<String>,
    /// Only procedures of this kind.
    pub kind: Option<ProcedureKind>,
    /// Rank by the evidence recorded for this context tag instead of all evidence.
    pub context: Option<String>,
    /// Only crystallized procedures.
    pub crystallized_only: bool,
}

/// One row of a ranking, with the numbers it was ranked by.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranked {
    /// The procedure.
    pub id: ProcedureId,
    /// Wilson lower bound of the weighted counts used plus the contagion prior (see
    /// [`crate::contagion::score_weighted`]); in `0..=1`.
    pub score: f64,
    /// Wilson lower bound of the weighted counts used alone.
    pub confidence: f64,
    /// What contagion adds: `score - confidence`.
    pub boost: f64,
    /// The contagion prior the score used (neighbours' evidence as pseudo-counts).
    pub prior: Prior,
    /// The Thompson draw the row was ranked by, for an exploring ranking
    /// ([`crate::Policy::Thompson`]); `None` in a greedy one.
    pub draw: Option<f64>,
    /// `(s + 1) / (s + f + 2)` of the weighted counts used.
    pub rate: f64,
    /// The raw counts (all evidence, or the filter's context): every report with weight one.
    pub counts: Counts,
    /// The counts the score used: each agent's counts weighted by its evidence weight when
    /// the space weights evidence (see [`crate::weights`]), else `counts` with weight one.
    pub weighted: WeightedCounts,
    /// Whether crystallized.
    pub crystallized: bool,
    /// Last use.
    pub last_used: Option<Hlc>,
}

impl Filter {
    fn admits(&self, p: &Procedure<'_>) -> bool {
        self.tag.as_deref().is_none_or(|tag| p.has_tag(tag))
            && self.kind.as_ref().is_none_or(|kind| p.kind() == kind)
            && (!self.crystallized_only || p.crystallized())
    }
}

impl Ranked {
    /// The ranking row of `p` at `now_ms`, by all evidence or by one context's.
    pub fn of(p: &Procedure<'_>, context: Option<&str>, now_ms: u64) -> Ranked {
        let counts = context.map_or_else(|| p.counts(), |c| p.context_counts(c));
        let weighted = p.weighted_counts(context);
        let confidence = weighted.confidence();
        let prior = p.prior(context, now_ms);
        let score = crate::contagion::score_weighted(&weighted, &prior, p.negative_contagion());
        Ranked {
            id: p.id(),
            score,
            confidence,
            boost: score - confidence,
            prior,
            draw: None,
            rate: weighted.rate(),
            counts,
            weighted,
            crystallized: p.crystallized(),
            last_used: p.last_used(),
        }
    }

    /// Best first: higher score, then more recent use, then id (so the order is total and the
    /// same on every replica).
    fn rank_order(a: &Ranked, b: &Ranked) -> Ordering {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.last_used.cmp(&a.last_used))
            .then_with(|| a.id.cmp(&b.id))
    }
}

impl Space {
    /// The `n` best procedures admitted by `filter` at `now_ms`, best first.
    pub fn top(&self, n: usize, filter: &Filter, now_ms: u64) -> Vec<Ranked> {
        top_of(self.procedures(), n, filter, now_ms)
    }
}

/// The `n` best of `procedures` admitted by `filter` at `now_ms`, best first: the ranking of a
/// live space ([`Space::top`]) and of a frozen one ([`crate::FrozenSpace::top`]).
pub(crate) fn top_of<'a>(
    procedures: impl Iterator<Item = Procedure<'a>>,
    n: usize,
    filter: &Filter,
    now_ms: u64,
) -> Vec<Ranked> {
    if n == 0 {
        return Vec::new();
    }
    let context = filter.context.as_deref();
    // Only the score and its tie-breakers for every procedure, the n best kept in a heap whose
    // top is the worst of them; the whole row only for those n. At 100k procedures a row for
    // each was a 20 MB vector per query, filled with values nobody read.
    let mut best: BinaryHeap<RankKey<'a>> = BinaryHeap::with_capacity(n.min(1024));
    for p in procedures.filter(|p| filter.admits(p)) {
        let key = RankKey::of(p, context, now_ms);
        if best.len() < n {
            best.push(key);
        } else if best.peek().is_some_and(|worst| key < *worst) {
            best.pop();
            best.push(key);
        }
    }
    let mut rows: Vec<Ranked> = best
        .into_iter()
        .map(|key| Ranked::of(&key.procedure, context, now_ms))
        .collect();
    rows.sort_by(Ranked::rank_order);
    rows
}

/// What [`top_of`] orders by, in [`Ranked::rank_order`]'s order: `Less` ranks higher; with the
/// procedure, whose whole row is made only if it stays among the best.
#[derive(Debug)]
struct RankKey<'a> {
    score: f64,
    last_used: Option<Hlc>,
    id: ProcedureId,
    procedure: Procedure<'a>,
}

impl<'a> RankKey<'a> {
    fn of(p: Procedure<'a>, context: Option<&str>, now_ms: u64) -> RankKey<'a> {
        let weighted = p.weighted_counts(context);
        let prior = p.prior(context, now_ms);
        RankKey {
            score: crate::contagion::score_weighted(&weighted, &prior, p.negative_contagion()),
            last_used: p.last_used(),
            id: p.id(),
            procedure: p,
        }
    }
}

impl Ord for RankKey<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| other.last_used.cmp(&self.last_used))
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for RankKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RankKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RankKey<'_> {}
