//! The store engines side by side: fjall (the product's) against sled (before 0.5), through the
//! node's `Store` trait, on the same disk in the same run.
//!
//! For group-commit sizes of 1, 16 and 256 envelopes of 250 bytes (an outcome op's size), it
//! appends and flushes (durable) and prints envelopes/s and flushes/s; then it reads every
//! author's log back (`envelopes_after`), and replaces a 20 MiB snapshot five times and prints
//! what each engine then takes on disk. `cargo bench -p knack-node --bench store`
//! (`KNACK_STORE_BENCH_ENVELOPES`, default 20000, sets how many envelopes per row).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench: a panic is the failure report.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Instant;

use knack_crdt::{AgentId, SpaceName};
use knack_node::store::{EnvelopeKey, FjallStore, SledStore, Store};

const ENVELOPE_BYTES: usize = 250;
const AUTHORS: u8 = 50;

fn envelopes() -> u64 {
    std::env::var("KNACK_STORE_BENCH_ENVELOPES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Appends `count` envelopes round-robin over the authors, flushing every `group`.
fn write(store: &dyn Store, count: u64, group: u64) -> f64 {
    let space = SpaceName::new("bench").unwrap();
    let body = common::body_of(ENVELOPE_BYTES * 64, 7);
    let started = Instant::now();
    for i in 0..count {
        let author = (i % u64::from(AUTHORS)) as u8;
        let seq = i / u64::from(AUTHORS) + 1;
        let key = EnvelopeKey {
            space: space.clone(),
            author: AgentId([author; 32]),
            first_seq: seq,
            last_seq: seq,
        };
        let at = (i % 63) as usize * ENVELOPE_BYTES;
        store
            .append_envelope(&key, &body[at..at + ENVELOPE_BYTES])
            .unwrap();
        if (i + 1) % group == 0 {
            store.flush().unwrap();
        }
    }
    store.flush().unwrap();
    started.elapsed().as_secs_f64()
}

/// Reads every author's log back from the start.
fn read(store: &dyn Store) -> (u64, f64) {
    let space = SpaceName::new("bench").unwrap();
    let started = Instant::now();
    let mut read = 0;
    for author in 0..AUTHORS {
        let mut after = 0;
        loop {
            let got = store
                .envelopes_after(&space, &AgentId([author; 32]), after, 1 << 20)
                .unwrap();
            let Some((last, _)) = got.last() else { break };
            after = last.last_seq;
            read += got.len() as u64;
        }
    }
    (read, started.elapsed().as_secs_f64())
}

/// Bytes the files under `dir` take on disk (allocated blocks).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(dir)
            .map(|e| {
                e.filter_map(Result::ok)
                    .map(|e| disk_bytes(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        meta.blocks() * 512
    }
}

fn row(engine: &str, open: &dyn Fn(&Path) -> Box<dyn Store>) {
    let count = envelopes();
    for group in [1, 16, 256] {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let store = open(dir.path());
        let secs = write(store.as_ref(), count, group);
        let flushes = count.div_ceil(group);
        println!(
            "{engine:<6} group of {group:>3}: {:>9.0} envelopes/s, {:>7.0} flushes/s",
            count as f64 / secs,
            flushes as f64 / secs
        );
        if group == 256 {
            let (n, secs) = read(store.as_ref());
            println!(
                "{engine:<6} read back {n} envelopes: {:>9.0} envelopes/s",
                n as f64 / secs
            );
            let space = SpaceName::new("bench").unwrap();
            let snapshot = common::body_of(20 << 20, 3);
            let started = Instant::now();
            for i in 0..5u8 {
                let mut bytes = snapshot.clone();
                bytes[0] = i;
                store.put_snapshot(&space, &bytes).unwrap();
                store.flush().unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            drop(store);
            println!(
                "{engine:<6} 5 snapshots of 20 MiB replaced in {secs:.2} s; then {:.1} MiB on disk \
                 for {:.1} MiB of envelopes and one snapshot",
                disk_bytes(dir.path()) as f64 / f64::from(1 << 20),
                (count as usize * (ENVELOPE_BYTES + 48)) as f64 / f64::from(1 << 20) + 20.0
            );
        }
    }
}

fn main() {
    println!(
        "store bench: {} envelopes of {ENVELOPE_BYTES} B per row, {AUTHORS} authors, in {}",
        envelopes(),
        std::env::temp_dir().display()
    );
    row("fjall", &|dir| Box::new(FjallStore::open(dir).unwrap()));
    row("sled", &|dir| Box::new(SledStore::open(dir).unwrap()));
}
