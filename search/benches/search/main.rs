//! knack-search benchmark: prints a table.
//!
//! `cargo bench -p knack-search` runs 10k and 100k synthetic procedures;
//! `KNACK_BENCH_SIZES=10000,50000` picks other sizes. With `--features minilm` and
//! `KNACK_MINILM_DIR` set, MiniLM's embedding throughput is measured too.
//!
//! For each size: embedding throughput of the hashing embedder (one thread), index build time
//! (`SearchIndex::upsert_batch` of every document: embedding, BM25F, quantized vectors), the
//! latency of `nearest(q, 10)` (the index's scan of quantized vectors) and of an exact scan of
//! the `f32` vectors done here as the reference, recall@10 of the index against that reference,
//! the latency of `similar_to(key, 5, 0.5)` (what the node runs per added procedure) and of a
//! full hybrid `search` (limit 10) with evidence.
//!
//! Memory: a counting global allocator (`cap`) reports the bytes held per document by the
//! vector index, the lexical index and the whole `SearchIndex` once built (live), and the most
//! held at once while building (peak), both above what was allocated before the build. Each
//! figure comes from a child process of this binary (`KNACK_BENCH_MEMORY=phase:size`) that
//! builds only that structure, because the allocator's high-water mark cannot be reset. Keys
//! are 32 bytes there, like the node's procedure ids.

mod corpus;
mod memory;

use std::sync::Arc;
use std::time::{Duration, Instant};

use knack_search::{
    DocumentText, Embedder, Evidence, HashingEmbedder, HybridWeights, Query, SearchIndex, dot,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::corpus::{embedding_texts, procedures, query, texts_of};
use crate::memory::{MEMORY_CHILD, bench_memory, memory_child};

const QUERIES: usize = 300;

/// A comma-separated list of numbers from the environment.
fn env_list(name: &str) -> Option<Vec<usize>> {
    let s = std::env::var(name).ok()?;
    Some(s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
}

/// The `k` vectors of `docs` nearest to `q` by `f32` dot product, best first, ties by index.
fn exact_f32(docs: &[Vec<f32>], q: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = docs.iter().map(|v| dot(q, v)).zip(0..).collect();
    let by = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if k < scored.len() {
        scored.select_nth_unstable_by(k, by);
        scored.truncate(k);
    }
    scored.sort_by(by);
    scored.into_iter().map(|(_, i)| i).collect()
}

/// The `p`-th percentile (nearest rank) of `samples`, zero if there are none.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    knack_percentile::percentile(samples, p).unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// One line of the table.
pub(crate) struct Row {
    what: String,
    value: String,
}

/// Adds a line to the table and prints it.
pub(crate) fn row(rows: &mut Vec<Row>, what: impl Into<String>, value: impl Into<String>) {
    let (what, value) = (what.into(), value.into());
    eprintln!("  {what}: {value}");
    rows.push(Row { what, value });
}

fn bench_size(n: usize, rows: &mut Vec<Row>) {
    let docs = procedures(n);
    let texts = texts_of(&docs);
    let embedder = Arc::new(HashingEmbedder::default());

    // Embedding throughput, one thread.
    let embed_texts = embedding_texts(&(embedder.clone() as Arc<dyn Embedder>), &texts);
    let refs: Vec<&str> = embed_texts.iter().map(String::as_str).collect();
    let t = Instant::now();
    let vectors = embedder.embed(&refs).expect("embed");
    let secs = t.elapsed().as_secs_f64();
    row(
        rows,
        format!("{n}: hashing embed (1 thread)"),
        format!("{:.0} texts/s", n as f64 / secs),
    );

    // Build.
    let t = Instant::now();
    let mut index = SearchIndex::<u64>::new(embedder.clone()).expect("index");
    let batch: Vec<(u64, DocumentText<'_>)> = texts
        .iter()
        .enumerate()
        .map(|(i, d)| (i as u64, *d))
        .collect();
    index.upsert_batch(&batch).expect("build");
    row(
        rows,
        format!("{n}: index build"),
        format!("{:.2} s", t.elapsed().as_secs_f64()),
    );

    let mut qrng = StdRng::seed_from_u64(7);
    let queries: Vec<String> = (0..QUERIES).map(|_| query(&mut qrng)).collect();
    let qrefs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let qvecs = embedder.embed(&qrefs).expect("embed");

    let mut exact_t = Vec::new();
    let mut exact_lists = Vec::new();
    for q in &qvecs {
        let t = Instant::now();
        exact_lists.push(exact_f32(&vectors, q, 10));
        exact_t.push(t.elapsed());
    }
    row(
        rows,
        format!("{n}: f32 exact scan k=10 (reference) p50 / p99"),
        format!(
            "{} / {} ms",
            ms(percentile(&exact_t, 50.0)),
            ms(percentile(&exact_t, 99.0))
        ),
    );
    let mut near_t = Vec::new();
    let mut found = 0usize;
    let mut total = 0usize;
    for (q, exact) in qvecs.iter().zip(&exact_lists) {
        let t = Instant::now();
        let near = index.vectors().nearest(q, 10).expect("nearest");
        near_t.push(t.elapsed());
        total += exact.len();
        found += exact
            .iter()
            .filter(|i| near.iter().any(|(k, _)| *k == **i as u64))
            .count();
    }
    row(
        rows,
        format!("{n}: index nearest k=10 p50 / p99"),
        format!(
            "{} / {} ms",
            ms(percentile(&near_t, 50.0)),
            ms(percentile(&near_t, 99.0))
        ),
    );
    row(
        rows,
        format!("{n}: recall@10 vs f32 exact"),
        format!("{:.4}", found as f64 / total.max(1) as f64),
    );
    let mut similar_t = Vec::new();
    for i in 0..QUERIES {
        let key = (i * n / QUERIES) as u64;
        let t = Instant::now();
        let similar = index.similar_to(&key, 5, 0.5);
        similar_t.push(t.elapsed());
        assert!(similar.iter().all(|(k, _)| *k != key));
    }
    row(
        rows,
        format!("{n}: similar_to k=5 p50 / p99"),
        format!(
            "{} / {} ms",
            ms(percentile(&similar_t, 50.0)),
            ms(percentile(&similar_t, 99.0))
        ),
    );
    drop(vectors);

    let weights = HybridWeights::default();
    let evidence = |k: u64, _: Option<&str>| {
        Some(Evidence {
            score: (k % 100) as f64 / 100.0,
            success_rate: (k % 7) as f64 / 7.0,
            context_rate: None,
            outcomes: k % 50,
            crystallized: k.is_multiple_of(97),
            boost: 0.0,
        })
    };
    let mut hybrid_t = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let hits = index
            .search(&Query::new(q.as_str(), 10), evidence, &weights)
            .expect("search");
        hybrid_t.push(t.elapsed());
        assert!(!hits.is_empty());
    }
    row(
        rows,
        format!("{n}: hybrid search limit 10 p50 / p99"),
        format!(
            "{} / {} ms",
            ms(percentile(&hybrid_t, 50.0)),
            ms(percentile(&hybrid_t, 99.0))
        ),
    );
}

#[cfg(feature = "minilm")]
fn bench_minilm(rows: &mut Vec<Row>) {
    let Ok(dir) = std::env::var("KNACK_MINILM_DIR") else {
        eprintln!("KNACK_MINILM_DIR unset: MiniLM skipped (run tools/fetch-minilm.sh DIR)");
        return;
    };
    let t = Instant::now();
    let model = knack_search::MiniLmEmbedder::load(&dir).expect("load MiniLM");
    row(
        rows,
        "MiniLM load (hash check included)",
        format!("{} ms", ms(t.elapsed())),
    );
    let mut rng = StdRng::seed_from_u64(3);
    let docs: Vec<String> = (0..512)
        .map(|i| {
            let d = corpus::procedure(&mut rng, i);
            format!("{}. {}", d.name, d.description)
        })
        .collect();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let t = Instant::now();
    model.embed(&refs).expect("embed");
    row(
        rows,
        "MiniLM embed (batches of 32)",
        format!(
            "{:.0} texts/s",
            refs.len() as f64 / t.elapsed().as_secs_f64()
        ),
    );
    let mut single = Vec::new();
    for q in refs.iter().take(50) {
        let t = Instant::now();
        model.embed(&[q]).expect("embed");
        single.push(t.elapsed());
    }
    row(
        rows,
        "MiniLM embed one query p50 / p99",
        format!(
            "{} / {} ms",
            ms(percentile(&single, 50.0)),
            ms(percentile(&single, 99.0))
        ),
    );
}

#[cfg(not(feature = "minilm"))]
fn bench_minilm(_rows: &mut Vec<Row>) {
    eprintln!("MiniLM skipped: build with --features minilm and set KNACK_MINILM_DIR");
}

fn main() {
    if let Ok(spec) = std::env::var(MEMORY_CHILD) {
        memory_child(&spec);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that quick.
    let testing = !std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match env_list("KNACK_BENCH_SIZES") {
        Some(sizes) => sizes,
        None if testing => vec![2_000],
        None => vec![10_000, 100_000],
    };
    let mut rows = Vec::new();
    let start = Instant::now();
    for n in sizes {
        eprintln!("{n} procedures");
        bench_size(n, &mut rows);
        bench_memory(n, &mut rows);
    }
    if !testing {
        bench_minilm(&mut rows);
    }
    let width = rows.iter().map(|r| r.what.len()).max().unwrap_or(10);
    println!("\n| {:width$} | value |", "measure");
    println!("|{}|-------|", "-".repeat(width + 2));
    for r in &rows {
        println!("| {:width$} | {} |", r.what, r.value);
    }
    println!("\ntotal {:.1} s", start.elapsed().as_secs_f64());
}
