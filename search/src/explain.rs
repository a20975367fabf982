//! Why a hit is where it is: every number that went into its score.

use serde::Serialize;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit<K> {
    /// The document.
    pub key: K,
    /// Its final score (higher is better; the list is sorted by it, except that crystallized
    /// procedures move up within a near-tie).
    pub score: f64,
    /// How the score was made.
    pub explanation: Explanation,
}

/// The parts of a hit's score. See [`crate::hybrid`] for the formulas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Cosine between the query's and the document's vectors.
    pub cosine: f32,
    /// 1-based rank in the vector candidate list, if the document is in it.
    pub vector_rank: Option<usize>,
    /// 1-based rank in the lexical candidate list, if the document is in it.
    pub lexical_rank: Option<usize>,
    /// BM25F score (0 when no query term is in the document).
    pub bm25: f64,
    /// Reciprocal-rank fusion: `semantic / (rrf_k + vector_rank) + lexical / (rrf_k + lexical_rank)`.
    pub fused: f64,
    /// `fused` relative to the best candidate's, times the match strength: in `0..=1`.
    pub relevance: f64,
    /// `evidence weight * evidence value`: the final score is `relevance * (1 + evidence_term)`.
    pub evidence_term: f64,
    /// The procedure's overall success rate, if evidence was given.
    pub success_rate: Option<f64>,
    /// Its success rate in the query's context, if the query named one and it has one.
    pub context_rate: Option<f64>,
    /// Whether it is crystallized.
    pub crystallized: bool,
    /// Its contagion boost.
    pub boost: f64,
    /// `relevance * (1 + evidence_term)`.
    pub final_score: f64,
    /// Whether it was moved up within a near-tie for being crystallized.
    pub promoted: bool,
}
