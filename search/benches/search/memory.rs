//! Memory figures: a counting global allocator, and one child process per figure (the
//! allocator's high-water mark cannot be reset).

use std::alloc::System;
use std::process::Command;
use std::sync::Arc;

use cap::Cap;
use knack_search::{
    DocumentText, Embedder, HashingEmbedder, LexicalIndex, SearchConfig, SearchIndex, VectorConfig,
    VectorIndex,
};

use crate::corpus::{embedding_texts, procedures, texts_of};
use crate::{Row, row};

/// Counts every allocation of this process.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The environment variable that makes this binary a memory-measuring child.
pub(crate) const MEMORY_CHILD: &str = "KNACK_BENCH_MEMORY";

/// The structures whose memory is measured, one child process each.
const MEMORY_PHASES: [&str; 3] = ["vector", "lexical", "search"];

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

/// The process's resident set size (Linux: `VmRSS` of `/proc/self/status`), if known.
fn rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// In a child process: builds one structure (`phase`) over `n` documents and prints the bytes
/// it holds once built and the most held at once while building, above the start, and how
/// much the process's resident set grew (what the allocator kept from the OS, fragmentation
/// included).
pub(crate) fn memory_child(spec: &str) {
    let (phase, n) = spec.split_once(':').expect("KNACK_BENCH_MEMORY=phase:size");
    let n: usize = n.parse().expect("size");
    let docs = procedures(n);
    let texts = texts_of(&docs);
    let embedder = Arc::new(HashingEmbedder::default());
    let embed_texts = embedding_texts(&(embedder.clone() as Arc<dyn Embedder>), &texts);
    let refs: Vec<&str> = embed_texts.iter().map(String::as_str).collect();
    let vectors = if phase == "vector" {
        embedder.embed(&refs).expect("embed")
    } else {
        Vec::new()
    };
    let keys: Vec<[u8; 32]> = (0..n).map(wide_key).collect();
    let c = SearchConfig::default();
    let rss_start = rss();
    let (start, high_before) = allocated();
    let ((live, high_after), rss_built) = match phase {
        "vector" => {
            let mut index = VectorIndex::new(VectorConfig::new(embedder.dim())).expect("index");
            let items: Vec<([u8; 32], &[f32])> = keys
                .iter()
                .zip(&vectors)
                .map(|(k, v)| (*k, v.as_slice()))
                .collect();
            index.upsert_many(&items).expect("build");
            drop(items);
            let held = (allocated(), rss());
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
            let held = (allocated(), rss());
            drop(index);
            held
        }
        "search" => {
            let mut index = SearchIndex::with_config(embedder.clone(), c).expect("index");
            let batch: Vec<([u8; 32], DocumentText<'_>)> =
                keys.iter().zip(&texts).map(|(k, t)| (*k, *t)).collect();
            index.upsert_batch(&batch).expect("build");
            drop(batch);
            let held = (allocated(), rss());
            drop(index);
            held
        }
        other => panic!("unknown memory phase {other}"),
    };
    // The high-water mark before the start bounds what can be told of the build's peak.
    let peak = high_after.saturating_sub(start);
    let exact = high_after > high_before;
    let rss_growth = match (rss_start, rss_built) {
        (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
        _ => "-".into(),
    };
    println!(
        "memory {} {} {} {rss_growth}",
        live.saturating_sub(start),
        peak,
        if exact { "exact" } else { "at-most" }
    );
}

/// Runs the memory children for size `n` and adds their rows.
pub(crate) fn bench_memory(n: usize, rows: &mut Vec<Row>) {
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
        let rss = f[3]
            .parse::<f64>()
            .map_or_else(|_| "unknown".into(), |b| format!("{:.1} MB", b / 1e6));
        row(
            rows,
            format!("{n}: {phase} bytes/doc live / build peak"),
            format!(
                "{:.0} / {:.0}{peak_note} B ({:.1} / {:.1} MB; RSS +{rss})",
                live / n as f64,
                peak / n as f64,
                live / 1e6,
                peak / 1e6
            ),
        );
    }
}
