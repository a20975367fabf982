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

use std::alloc::System;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap::Cap;
use knack_search::{
    DocumentText, Embedder, Evidence, HashingEmbedder, HybridWeights, LexicalIndex, Query,
    SearchConfig, SearchIndex, VectorConfig, VectorIndex, dot,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Counts every allocation of this process.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const QUERIES: usize = 300;

/// The environment variable that makes this binary a memory-measuring child.
const MEMORY_CHILD: &str = "KNACK_BENCH_MEMORY";

/// The structures whose memory is measured, one child process each.
const MEMORY_PHASES: [&str; 3] = ["vector", "lexical", "search"];

const VERBS: &[&str] = &[
    "restart",
    "deploy",
    "roll back",
    "scale",
    "debug",
    "monitor",
    "back up",
    "restore",
    "migrate",
    "upgrade",
    "configure",
    "rotate",
    "clean up",
    "profile",
    "benchmark",
    "secure",
    "audit",
    "provision",
    "tear down",
    "cache",
    "index",
    "vacuum",
    "compress",
    "encrypt",
    "replicate",
    "shard",
    "load test",
    "trace",
    "lint",
    "format",
    "package",
    "publish",
    "bisect",
    "rebase",
    "squash",
    "tag",
    "release",
    "patch",
    "retry",
    "throttle",
];
const OBJECTS: &[&str] = &[
    "deployment",
    "pod",
    "service",
    "ingress",
    "database",
    "table",
    "index",
    "replica",
    "cluster",
    "node pool",
    "container image",
    "volume",
    "bucket",
    "queue",
    "topic",
    "cache",
    "certificate",
    "secret",
    "API key",
    "DNS record",
    "load balancer",
    "firewall rule",
    "cron job",
    "systemd unit",
    "virtual environment",
    "lock file",
    "branch",
    "commit",
    "pull request",
    "release notes",
    "prompt",
    "embedding index",
    "vector store",
    "model",
    "fine-tune job",
    "log stream",
    "dashboard",
    "alert",
    "SLO",
    "feature flag",
    "migration",
    "schema",
    "webhook",
    "worker",
    "scheduler",
    "build cache",
    "artifact",
    "CI pipeline",
];
const TOOLS: &[&str] = &[
    "kubectl",
    "helm",
    "terraform",
    "ansible",
    "docker",
    "podman",
    "git",
    "cargo",
    "npm",
    "pip",
    "poetry",
    "psql",
    "pg_dump",
    "redis-cli",
    "mysqldump",
    "aws cli",
    "gcloud",
    "az",
    "systemctl",
    "journalctl",
    "curl",
    "jq",
    "ssh",
    "rsync",
    "certbot",
    "nginx",
    "prometheus",
    "grafana",
    "sentry",
    "openai api",
    "ollama",
    "llama.cpp",
    "kafka",
    "rabbitmq",
    "celery",
    "airflow",
    "dbt",
    "spark",
    "make",
    "bazel",
];
const SYMPTOMS: &[&str] = &[
    "it times out",
    "memory keeps growing",
    "the disk is full (ENOSPC)",
    "latency spikes",
    "requests fail with 502",
    "the build is slow",
    "tests are flaky",
    "the pod is OOMKilled",
    "it returns 429 rate limits",
    "the certificate expired",
    "connections are refused",
    "the lock is stuck",
    "the queue backs up",
    "the output is not valid JSON",
    "the model hallucinates",
    "permissions are denied",
    "the checksum does not match",
    "DNS does not resolve",
    "replication lags",
    "the cache is stale",
];
const CONTEXTS: &[&str] = &[
    "prod", "staging", "ci", "laptop", "k8s", "aws", "gcp", "on-prem",
];
const TAGS: &[&str] = &[
    "k8s",
    "git",
    "python",
    "rust",
    "database",
    "networking",
    "security",
    "llm",
    "ci",
    "observability",
    "storage",
    "performance",
    "release",
    "linux",
    "cloud",
];

struct Doc {
    name: String,
    description: String,
    tags: Vec<&'static str>,
    body: String,
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or("x")
}

/// A deterministic, varied procedure.
fn procedure(rng: &mut StdRng, i: usize) -> Doc {
    let (verb, object, tool) = (pick(rng, VERBS), pick(rng, OBJECTS), pick(rng, TOOLS));
    let (symptom, context) = (pick(rng, SYMPTOMS), pick(rng, CONTEXTS));
    let service = format!("svc-{}", rng.gen_range(0..5_000));
    let name = match rng.gen_range(0..4) {
        0 => format!("{verb} a {object} with {tool}"),
        1 => format!("{verb} the {object} in {context}"),
        2 => format!("How to {verb} {object} when {symptom}"),
        _ => format!("{tool}: {verb} {object}"),
    };
    let description = format!(
        "Use {tool} to {verb} the {object} of {service} in {context} when {symptom}; \
         checked by run {i}."
    );
    let mut tags: Vec<&str> = (0..rng.gen_range(1..4)).map(|_| pick(rng, TAGS)).collect();
    tags.dedup();
    let body = format!(
        "1. {tool} status {service}\n2. {verb} {object} --env {context}\n3. verify that {symptom} is gone"
    );
    Doc {
        name,
        description,
        tags,
        body,
    }
}

/// A query in other words than the procedures'.
fn query(rng: &mut StdRng) -> String {
    let (verb, object, symptom) = (pick(rng, VERBS), pick(rng, OBJECTS), pick(rng, SYMPTOMS));
    match rng.gen_range(0..3) {
        0 => format!("need to {verb} my {object}, {symptom}"),
        1 => format!("{object} problem: {symptom}"),
        _ => format!("{verb} {object} using {}", pick(rng, TOOLS)),
    }
}

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

struct Row {
    what: String,
    value: String,
}

fn row(rows: &mut Vec<Row>, what: impl Into<String>, value: impl Into<String>) {
    let (what, value) = (what.into(), value.into());
    eprintln!("  {what}: {value}");
    rows.push(Row { what, value });
}

/// The `n` benchmark procedures (the same at every call).
fn procedures(n: usize) -> Vec<Doc> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..n).map(|i| procedure(&mut rng, i)).collect()
}

/// The documents' texts by field.
fn texts_of(docs: &[Doc]) -> Vec<DocumentText<'_>> {
    docs.iter()
        .map(|d| DocumentText {
            name: &d.name,
            description: &d.description,
            tags: &d.tags,
            body: Some(&d.body),
        })
        .collect()
}

/// A 32-byte key (like the node's procedure id) for document `i`.
fn wide_key(i: usize) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&(i as u64).to_le_bytes());
    key[8..16].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    key
}

/// Bytes allocated now, and the allocator's high-water mark.
fn allocated() -> (usize, usize) {
    (ALLOCATOR.allocated(), ALLOCATOR.max_allocated())
}

/// In a child process: builds one structure (`phase`) over `n` documents and prints the bytes
/// it holds once built and the most held at once while building, above the start.
fn memory_child(spec: &str) {
    let (phase, n) = spec.split_once(':').expect("KNACK_BENCH_MEMORY=phase:size");
    let n: usize = n.parse().expect("size");
    let docs = procedures(n);
    let texts = texts_of(&docs);
    let embedder = Arc::new(HashingEmbedder::default());
    let probe = SearchIndex::<u64>::new(embedder.clone()).expect("index");
    let embed_texts: Vec<String> = texts.iter().map(|t| probe.embedding_text(t)).collect();
    let refs: Vec<&str> = embed_texts.iter().map(String::as_str).collect();
    let vectors = if phase == "vector" {
        embedder.embed(&refs).expect("embed")
    } else {
        Vec::new()
    };
    let keys: Vec<[u8; 32]> = (0..n).map(wide_key).collect();
    let c = SearchConfig::default();
    let (start, high_before) = allocated();
    let (live, high_after) = match phase {
        "vector" => {
            let mut index = VectorIndex::new(VectorConfig::new(embedder.dim())).expect("index");
            let items: Vec<([u8; 32], &[f32])> = keys
                .iter()
                .zip(&vectors)
                .map(|(k, v)| (*k, v.as_slice()))
                .collect();
            index.upsert_many(&items).expect("build");
            drop(items);
            let held = allocated();
            drop(index);
            held
        }
        "lexical" => {
            // As `SearchIndex::upsert_batch` loads it.
            let mut index = LexicalIndex::new(c.lexical.clone()).expect("index");
            index.reserve(n);
            for (k, t) in keys.iter().zip(&texts) {
                index.upsert(*k, t);
            }
            index.shrink_to_fit();
            let held = allocated();
            drop(index);
            held
        }
        "search" => {
            let mut index = SearchIndex::with_config(embedder.clone(), c).expect("index");
            let batch: Vec<([u8; 32], DocumentText<'_>)> =
                keys.iter().zip(&texts).map(|(k, t)| (*k, *t)).collect();
            index.upsert_batch(&batch).expect("build");
            drop(batch);
            let held = allocated();
            drop(index);
            held
        }
        other => panic!("unknown memory phase {other}"),
    };
    // The high-water mark before the start bounds what can be told of the build's peak.
    let peak = high_after.saturating_sub(start);
    let exact = high_after > high_before;
    println!(
        "memory {} {} {}",
        live.saturating_sub(start),
        peak,
        if exact { "exact" } else { "at-most" }
    );
}

/// Runs the memory children for size `n` and adds their rows.
fn bench_memory(n: usize, rows: &mut Vec<Row>) {
    let exe = std::env::current_exe().expect("own path");
    for phase in MEMORY_PHASES {
        let out = Command::new(&exe)
            .args(std::env::args().skip(1))
            .env(MEMORY_CHILD, format!("{phase}:{n}"))
            .output()
            .expect("memory child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("memory ")) else {
            panic!(
                "memory child {phase}:{n} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let f: Vec<&str> = line.split(' ').collect();
        let live: f64 = f[0].parse().expect("live");
        let peak: f64 = f[1].parse().expect("peak");
        let peak_note = if f[2] == "exact" { "" } else { " (at most)" };
        row(
            rows,
            format!("{n}: {phase} bytes/doc live / build peak"),
            format!(
                "{:.0} / {:.0}{peak_note} B ({:.1} / {:.1} MB)",
                live / n as f64,
                peak / n as f64,
                live / 1e6,
                peak / 1e6
            ),
        );
    }
}

fn bench_size(n: usize, rows: &mut Vec<Row>) {
    let docs = procedures(n);
    let texts = texts_of(&docs);
    let embedder = Arc::new(HashingEmbedder::default());

    // Embedding throughput, one thread.
    let probe = SearchIndex::<u64>::new(embedder.clone()).expect("index");
    let embed_texts: Vec<String> = texts.iter().map(|t| probe.embedding_text(t)).collect();
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
            let d = procedure(&mut rng, i);
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
