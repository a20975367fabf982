//! Evidence, context, crystallization and relevance gating in hybrid ranking.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::sync::Arc;

use common::{CORPUS, QUERIES, corpus_index, index_of};
use knack_search::{DocumentText, Evidence, HashingEmbedder, HybridWeights, Query, SearchIndex};

/// Two procedures with the same text (so equally relevant) and a third, unrelated one.
fn twins() -> SearchIndex<u32> {
    let mut index = SearchIndex::new(Arc::new(HashingEmbedder::default())).unwrap();
    let doc = DocumentText {
        name: "Restart the web deployment",
        description: "kubectl rollout restart for the web tier",
        tags: &["k8s"],
        body: None,
    };
    index.upsert(1, &doc).unwrap();
    index.upsert(2, &doc).unwrap();
    let other = DocumentText {
        name: "Vacuum a postgres table",
        ..DocumentText::default()
    };
    index.upsert(3, &other).unwrap();
    index
}

fn evidence(successes: u64, failures: u64) -> Evidence {
    let n = successes + failures;
    Evidence {
        score: 0.5,
        success_rate: (successes as f64 + 1.0) / (n as f64 + 2.0),
        context_rate: None,
        outcomes: n,
        crystallized: false,
        boost: 0.0,
    }
}

fn keys(hits: &[knack_search::Hit<u32>]) -> Vec<u32> {
    hits.iter().map(|h| h.key).collect()
}

#[test]
fn more_successes_win_between_equally_relevant() {
    let index = twins();
    let q = Query::new("restart my web pods", 3);
    let w = HybridWeights::default();
    for (strong, weak) in [(1, 2), (2, 1)] {
        let hits = index
            .search(
                &q,
                |k, _| {
                    Some(if k == strong {
                        evidence(20, 1)
                    } else {
                        evidence(2, 1)
                    })
                },
                &w,
            )
            .unwrap();
        assert_eq!(hits[0].key, strong, "{hits:#?}");
        assert_eq!(hits[1].key, weak);
        assert_eq!(hits[0].explanation.relevance, hits[1].explanation.relevance);
        assert!(hits[0].explanation.evidence_term > hits[1].explanation.evidence_term);
    }
}

#[test]
fn a_context_changes_the_winner_when_context_rates_differ() {
    let index = twins();
    let w = HybridWeights::default();
    // 1 is better overall, 2 is better in the `deploy` context.
    let ev = |k: u32, context: Option<&str>| {
        let (overall, in_deploy) = if k == 1 { (0.8, 0.2) } else { (0.6, 0.9) };
        Some(Evidence {
            success_rate: overall,
            context_rate: (context == Some("deploy")).then_some(in_deploy),
            outcomes: 30,
            ..Evidence::default()
        })
    };
    let plain = index
        .search(&Query::new("restart web pods", 2), ev, &w)
        .unwrap();
    assert_eq!(keys(&plain), vec![1, 2]);
    assert_eq!(plain[0].explanation.context_rate, None);
    let q = Query::new("restart web pods", 2).in_context("deploy");
    let deploy = index.search(&q, ev, &w).unwrap();
    assert_eq!(keys(&deploy), vec![2, 1]);
    assert_eq!(deploy[0].explanation.context_rate, Some(0.9));
    // A context the procedures have no rate for falls back to the overall rate.
    let q = Query::new("restart web pods", 2).in_context("ci");
    assert_eq!(keys(&index.search(&q, ev, &w).unwrap()), vec![1, 2]);
}

#[test]
fn crystallized_wins_a_near_tie_but_not_a_clear_gap() {
    let index = twins();
    let w = HybridWeights::default();
    let q = Query::new("restart web pods", 3);
    // 1 has slightly better evidence, 2 is crystallized: a near-tie (within 5%).
    let near = |k: u32, _: Option<&str>| {
        Some(Evidence {
            crystallized: k == 2,
            ..evidence(if k == 1 { 30 } else { 25 }, 2)
        })
    };
    let hits = index.search(&q, near, &w).unwrap();
    assert!(hits[1].score > hits[0].score * 0.95 && hits[1].score > hits[0].score);
    assert_eq!(keys(&hits)[..2], [2, 1]);
    assert!(hits[0].explanation.promoted && hits[0].explanation.crystallized);
    // A clear gap (1 works, 2 mostly fails): the crystallized flag does not jump it.
    let gap = |k: u32, _: Option<&str>| {
        Some(Evidence {
            crystallized: k == 2,
            ..if k == 1 {
                evidence(40, 0)
            } else {
                evidence(3, 30)
            }
        })
    };
    let hits = index.search(&q, gap, &w).unwrap();
    assert_eq!(keys(&hits)[..2], [1, 2]);
    assert!(!hits[1].explanation.promoted);
}

#[test]
fn an_irrelevant_procedure_with_great_evidence_does_not_win() {
    irrelevant_star_never_wins(Arc::new(HashingEmbedder::default()));
}

/// The same with MiniLM (needs `KNACK_MINILM_DIR`, see `tests/corpus.rs`).
#[cfg(feature = "minilm")]
#[test]
fn an_irrelevant_procedure_with_great_evidence_does_not_win_with_minilm() {
    let dir = std::env::var("KNACK_MINILM_DIR").unwrap_or_else(|_| {
        panic!("KNACK_MINILM_DIR is not set: run `tools/fetch-minilm.sh DIR` and set it to DIR")
    });
    irrelevant_star_never_wins(Arc::new(knack_search::MiniLmEmbedder::load(dir).unwrap()));
}

/// Gives "Flush a Redis cache" perfect evidence and every other procedure a poor record: the
/// right answer of every corpus query still comes first.
fn irrelevant_star_never_wins(embedder: Arc<dyn knack_search::Embedder>) {
    let index = corpus_index(embedder);
    let star = index_of("Flush a Redis cache") as u32;
    let w = HybridWeights::default();
    let ev = |k: u32, _: Option<&str>| {
        Some(if k == star {
            Evidence {
                score: 1.0,
                success_rate: 1.0,
                context_rate: None,
                outcomes: 10_000,
                crystallized: true,
                boost: 1.0,
            }
        } else {
            Evidence {
                score: 0.0,
                ..evidence(10, 40)
            }
        })
    };
    for (text, expected) in QUERIES {
        let hits = index.search(&Query::new(*text, 5), ev, &w).unwrap();
        let want = index_of(expected) as u32;
        let pos = |k| hits.iter().position(|h| h.key == k);
        assert_eq!(pos(want), Some(0), "{text:?}: {:?}", keys(&hits));
        if let Some(p) = pos(star) {
            assert!(p >= 1, "{text:?}");
        }
    }
}

#[test]
fn every_hit_explains_itself() {
    let index = corpus_index(Arc::new(HashingEmbedder::default()));
    let hits = index
        .search(
            &Query::new("pg_restore a dump", 3).in_context("db"),
            |_, _| {
                Some(Evidence {
                    context_rate: Some(0.7),
                    ..evidence(5, 1)
                })
            },
            &HybridWeights::default(),
        )
        .unwrap();
    let top = &hits[0];
    assert_eq!(CORPUS[top.key as usize].name, "Restore a PostgreSQL backup");
    let e = &top.explanation;
    assert_eq!(e.vector_rank, Some(1));
    assert_eq!(e.lexical_rank, Some(1));
    assert!(e.bm25 > 0.0 && e.cosine > 0.0 && e.fused > 0.0);
    assert_eq!(e.relevance, 1.0);
    assert!((e.final_score - e.relevance * (1.0 + e.evidence_term)).abs() < 1e-12);
    assert_eq!(top.score, e.final_score);
    let json = serde_json::to_value(top).unwrap();
    for field in [
        "cosine",
        "vector_rank",
        "lexical_rank",
        "bm25",
        "fused",
        "relevance",
        "evidence_term",
        "success_rate",
        "context_rate",
        "crystallized",
        "boost",
        "final_score",
    ] {
        assert!(
            json["explanation"].get(field).is_some(),
            "{field} missing: {json}"
        );
    }
    // Sorted by score (no crystallized hits here, so no promotion).
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn similar_to_uses_the_stored_vector_and_excludes_the_key() {
    let index = corpus_index(Arc::new(HashingEmbedder::default()));
    let restart = index_of("Restart a Kubernetes deployment") as u32;
    let similar = index.similar_to(&restart, 3, 0.0);
    assert_eq!(similar.len(), 3);
    assert!(similar.iter().all(|(k, _)| *k != restart));
    assert_eq!(
        CORPUS[similar[0].0 as usize].name,
        "Roll back a Kubernetes deployment"
    );
    assert!(similar.windows(2).all(|w| w[0].1 >= w[1].1));
    let strict = index.similar_to(&restart, 10, 0.99);
    assert!(strict.is_empty(), "{strict:?}");
    assert!(index.similar_to(&9_999, 3, 0.0).is_empty());
}
