//! The vector index: its scan of quantized vectors agrees with an exact `f32` scan; upserts and
//! removals keep every index consistent with a naive model.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::collections::BTreeMap;
use std::sync::Arc;

use knack_search::vector::quantize::cosine_error_bound;
use knack_search::{
    DocumentText, HashingEmbedder, HybridWeights, Query, SearchIndex, VectorConfig, VectorIndex,
    dot,
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

/// The keys of the `k` vectors of `model` nearest to `q` by `f32` dot product.
fn exact_f32(model: &BTreeMap<u32, Vec<f32>>, q: &[f32], k: usize) -> Vec<u32> {
    let mut all: Vec<(u32, f32)> = model.iter().map(|(key, v)| (*key, dot(q, v))).collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.into_iter().take(k).map(|(key, _)| key).collect()
}

fn recall_at_10(
    index: &VectorIndex<u32>,
    model: &BTreeMap<u32, Vec<f32>>,
    queries: &[Vec<f32>],
) -> f64 {
    let mut found = 0;
    for q in queries {
        let exact = exact_f32(model, q, 10);
        let got = index.nearest(q, 10).expect("nearest");
        found += exact
            .iter()
            .filter(|k| got.iter().any(|(a, _)| a == *k))
            .count();
    }
    found as f64 / (10 * queries.len()) as f64
}

#[test]
fn quantized_scan_agrees_with_f32_on_random_vectors() {
    let dim = 64;
    let mut rng = StdRng::seed_from_u64(7);
    let mut index = VectorIndex::new(VectorConfig::new(dim)).unwrap();
    let mut model = BTreeMap::new();
    for k in 0..3_000u32 {
        let v = random_unit(&mut rng, dim);
        index.upsert(k, &v).unwrap();
        model.insert(k, v);
    }
    let queries: Vec<Vec<f32>> = (0..100).map(|_| random_unit(&mut rng, dim)).collect();
    let recall = recall_at_10(&index, &model, &queries);
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Replace a third of the vectors and remove a tenth: the old ones are forgotten at once.
    for k in 0..1_000u32 {
        let v = random_unit(&mut rng, dim);
        index.upsert(k, &v).unwrap();
        model.insert(k, v);
    }
    for k in 2_700..3_000u32 {
        assert!(index.remove(&k));
        model.remove(&k);
    }
    assert_eq!(index.len(), 2_700);
    let recall = recall_at_10(&index, &model, &queries);
    assert!(recall >= 0.95, "recall@10 after churn {recall}");
    for q in &queries[..10] {
        for (k, cos) in index.nearest(q, 10).unwrap() {
            assert!(k < 2_700, "removed key {k} returned");
            let v = &model[&k];
            assert!((cos - dot(q, v)).abs() <= cosine_error_bound(q, v));
        }
    }
    // A replaced vector is the one its key is found by, and it is not its own neighbour.
    let near = index.nearest(&model[&5], 1).unwrap();
    assert_eq!(near[0].0, 5);
    assert!(index.nearest_to_key(&5, 10).iter().all(|(k, _)| *k != 5));
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

    /// Against a BTreeMap: membership, length, stored vectors, and answers: only live keys,
    /// with cosines within the quantization bound of the true ones, as good as the true top 5
    /// up to twice that bound.
    #[test]
    fn vector_index_matches_a_naive_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut index = VectorIndex::new(VectorConfig::new(8)).unwrap();
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
        let got = index.nearest(&q, 5).unwrap();
        prop_assert_eq!(got.len(), want.len().min(5));
        let worst_bound = model
            .values()
            .map(|v| cosine_error_bound(&qn, v))
            .fold(0.0f32, f32::max);
        for (i, (k, c)) in got.iter().enumerate() {
            let v = model.get(k);
            prop_assert!(v.is_some(), "dead key {} returned", k);
            let v = v.unwrap();
            let truth = dot(&qn, v);
            let bound = cosine_error_bound(&qn, v);
            prop_assert!((c - truth).abs() <= bound, "{} {} vs {}", k, c, truth);
            let best = want[i].1;
            prop_assert!(truth >= best - 2.0 * worst_bound, "rank {}: {} vs {}", i, truth, best);
        }
        for (k, v) in &model {
            let stored = index.vector(k).unwrap();
            let step = v.iter().fold(0.0f32, |m, x| m.max(x.abs())) / 127.0;
            // Rounding moves a component by half a step; normalising back to unit length
            // moves the whole vector by at most as much again.
            let dist = stored.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
            prop_assert!(dist <= (v.len() as f32).sqrt() * step + 1e-5, "{} {}", k, dist);
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
        let mut index = SearchIndex::new(Arc::new(HashingEmbedder::default())).unwrap();
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
