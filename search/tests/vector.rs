//! The vector index: HNSW agrees with the exact scan; upserts and removals keep every index
//! consistent with a naive model.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::collections::BTreeMap;
use std::sync::Arc;

use knack_search::{
    DocumentText, HashingEmbedder, HnswParams, HybridWeights, Query, SearchConfig, SearchIndex,
    VectorConfig, VectorIndex, VectorMode, dot,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    // Sum of uniforms: close enough to Gaussian for direction sampling.
    let mut v: Vec<f32> = (0..dim)
        .map(|_| (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum())
        .collect();
    knack_search::l2_normalize(&mut v);
    v
}

fn recall_at_10(index: &VectorIndex<u32>, queries: &[Vec<f32>]) -> f64 {
    let mut found = 0;
    for q in queries {
        let exact = index.nearest_exact(q, 10).expect("exact");
        let approx = index.nearest(q, 10).expect("nearest");
        found += exact
            .iter()
            .filter(|(k, _)| approx.iter().any(|(a, _)| a == k))
            .count();
    }
    found as f64 / (10 * queries.len()) as f64
}

#[test]
fn hnsw_agrees_with_exact_on_random_vectors() {
    let dim = 64;
    let mut rng = StdRng::seed_from_u64(7);
    let mut config = VectorConfig::new(dim);
    config.exact_threshold = 1_000;
    let mut index = VectorIndex::new(config).unwrap();
    for k in 0..3_000u32 {
        index.upsert(k, &random_unit(&mut rng, dim)).unwrap();
    }
    assert_eq!(index.mode(), VectorMode::Hnsw);
    let queries: Vec<Vec<f32>> = (0..100).map(|_| random_unit(&mut rng, dim)).collect();
    let recall = recall_at_10(&index, &queries);
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Replace a third of the vectors and remove a tenth: tombstones, then a rebuild.
    let builds = index.graph_builds();
    for k in 0..1_000u32 {
        index.upsert(k, &random_unit(&mut rng, dim)).unwrap();
    }
    for k in 2_700..3_000u32 {
        assert!(index.remove(&k));
    }
    assert!(
        index.graph_builds() > builds,
        "no rebuild after heavy churn"
    );
    assert_eq!(index.len(), 2_700);
    let recall = recall_at_10(&index, &queries);
    assert!(recall >= 0.95, "recall@10 after churn {recall}");
    for q in &queries[..10] {
        for (k, cos) in index.nearest(q, 10).unwrap() {
            assert!(k < 2_700, "removed key {k} returned");
            assert!((cos - dot(q, index.vector(&k).unwrap())).abs() < 1e-4);
        }
    }
    // Shrinking below half the threshold drops the graph.
    for k in 0..2_300u32 {
        index.remove(&k);
    }
    assert_eq!(index.mode(), VectorMode::Exact);
    assert_eq!(index.tombstones(), 0);
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(u32, Vec<f32>),
    Remove(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..40, prop::collection::vec(-1.0f32..1.0, 8)).prop_map(|(k, v)| Op::Upsert(k, v)),
        1 => (0u32..40).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a BTreeMap: membership, length, stored vectors, and exact answers; the graph
    /// (threshold 12) only ever returns live keys with their true cosines.
    #[test]
    fn vector_index_matches_a_naive_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut config = VectorConfig::new(8);
        config.exact_threshold = 12;
        config.hnsw = HnswParams { max_connections: 8, ef_construction: 32, ..HnswParams::default() };
        let mut index = VectorIndex::new(config).unwrap();
        let mut model: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Upsert(k, mut v) => {
                    if knack_search::l2_normalize(&mut v) {
                        index.upsert(k, &v).unwrap();
                        model.insert(k, v);
                    } else {
                        prop_assert!(index.upsert(k, &v).is_err());
                    }
                }
                Op::Remove(k) => {
                    prop_assert_eq!(index.remove(&k), model.remove(&k).is_some());
                }
            }
            prop_assert_eq!(index.len(), model.len());
        }
        let q = [1.0f32, 0.5, 0.0, -0.5, 0.25, 0.0, 0.1, -1.0];
        let mut qn = q.to_vec();
        knack_search::l2_normalize(&mut qn);
        let mut want: Vec<(u32, f32)> = model.iter().map(|(k, v)| (*k, dot(&qn, v))).collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let exact = index.nearest_exact(&q, 5).unwrap();
        prop_assert_eq!(exact.len(), want.len().min(5));
        for ((k, c), (wk, wc)) in exact.iter().zip(&want) {
            prop_assert!((c - wc).abs() < 1e-5, "{} {} vs {} {}", k, c, wk, wc);
        }
        for (k, c) in index.nearest(&q, 5).unwrap() {
            let v = model.get(&k);
            prop_assert!(v.is_some(), "dead key {} returned", k);
            prop_assert!((c - dot(&qn, v.unwrap())).abs() < 1e-4);
        }
        for (k, v) in &model {
            let stored = index.vector(k).unwrap();
            prop_assert!(stored.iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-5));
        }
    }
}

const WORDS: &[&str] = &[
    "restart",
    "deploy",
    "postgres",
    "backup",
    "kubectl",
    "cargo-build",
    "enospc",
    "cache",
    "redis",
    "git",
    "rebase",
    "python",
    "venv",
    "dns",
    "tls",
];

fn doc_strategy() -> impl Strategy<Value = (u32, Option<Vec<usize>>)> {
    (
        0u32..30,
        prop::option::weighted(0.75, prop::collection::vec(0..WORDS.len(), 1..5)),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Against a BTreeMap of documents: both indexes hold exactly the live keys, a search
    /// returns only live keys, and a word's lexical matches are exactly the documents with it.
    #[test]
    fn search_index_stays_consistent(ops in prop::collection::vec(doc_strategy(), 1..80)) {
        let config = SearchConfig { exact_threshold: 10, ..SearchConfig::default() };
        let mut index =
            SearchIndex::with_config(Arc::new(HashingEmbedder::default()), config).unwrap();
        let mut model: BTreeMap<u32, String> = BTreeMap::new();
        for (key, words) in ops {
            match words {
                Some(words) => {
                    let name: Vec<&str> = words.iter().map(|&w| WORDS[w]).collect();
                    let name = name.join(" ");
                    let doc = DocumentText { name: &name, ..DocumentText::default() };
                    index.upsert(key, &doc).unwrap();
                    model.insert(key, name);
                }
                None => {
                    prop_assert_eq!(index.remove(&key), model.remove(&key).is_some());
                }
            }
        }
        prop_assert_eq!(index.len(), model.len());
        prop_assert_eq!(index.lexical().len(), model.len());
        for key in 0..30u32 {
            prop_assert_eq!(index.contains(&key), model.contains_key(&key));
            prop_assert_eq!(index.lexical().contains(&key), model.contains_key(&key));
        }
        for word in WORDS {
            let mut got: Vec<u32> = index.lexical().scores(word).into_iter().map(|(k, _)| k).collect();
            got.sort_unstable();
            let want: Vec<u32> = model
                .iter()
                .filter(|(_, name)| name.split(' ').any(|w| w == *word))
                .map(|(k, _)| *k)
                .collect();
            prop_assert_eq!(got, want, "word {}", word);
            let hits = index
                .search(&Query::new(*word, 10), |_, _| None, &HybridWeights::default())
                .unwrap();
            prop_assert!(hits.iter().all(|h| model.contains_key(&h.key)));
        }
    }
}
