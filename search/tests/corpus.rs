//! Every natural-language query of the corpus finds its answer in the top 3.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::sync::Arc;

use common::{CORPUS, QUERIES, corpus_index, index_of};
use knack_search::{Embedder, HashingEmbedder, HybridWeights, Query};

/// Runs every query; returns the misses (query, expected, top 3 names) and prints each rank.
pub fn misses(embedder: Arc<dyn Embedder>) -> Vec<String> {
    let name = embedder.name().to_string();
    let index = corpus_index(embedder);
    let mut misses = Vec::new();
    for (text, expected) in QUERIES {
        let want = index_of(expected) as u32;
        let hits = index
            .search(
                &Query::new(*text, 10),
                |_, _| None,
                &HybridWeights::default(),
            )
            .unwrap();
        let rank = hits.iter().position(|h| h.key == want).map(|r| r + 1);
        println!("{name}: {rank:?}\t{text:?}");
        if !matches!(rank, Some(1..=3)) {
            let top: Vec<&str> = hits
                .iter()
                .take(3)
                .map(|h| CORPUS[h.key as usize].name)
                .collect();
            misses.push(format!(
                "{text:?}: want {expected:?} (rank {rank:?}), got {top:?}"
            ));
        }
    }
    misses
}

#[test]
fn hashing_embedder_finds_every_answer_in_the_top_3() {
    let misses = misses(Arc::new(HashingEmbedder::default()));
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

/// Needs the model files: run `tools/fetch-minilm.sh DIR` and set `KNACK_MINILM_DIR=DIR`.
/// With the feature on and the variable unset, this test fails and says so: a CI that asks for
/// the feature must provide the files rather than pass without checking.
#[cfg(feature = "minilm")]
#[test]
fn minilm_finds_every_answer_in_the_top_3() {
    let dir = std::env::var("KNACK_MINILM_DIR").unwrap_or_else(|_| {
        panic!(
            "KNACK_MINILM_DIR is not set: run `tools/fetch-minilm.sh DIR` then \
             `KNACK_MINILM_DIR=DIR cargo test -p knack-search --features minilm`"
        )
    });
    let embedder = knack_search::MiniLmEmbedder::load(&dir).unwrap();
    let misses = misses(Arc::new(embedder));
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
