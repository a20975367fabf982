//! A 100 MiB file is added and fetched back without being held in memory: the process's peak
//! resident size grows by far less than the file. Alone in its test binary, so no other test
//! moves the peak.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::{Duration, Instant};

use knack_ipfs::IpfsApi;

const SIZE: u64 = 100 << 20;
/// Allowed growth of the peak resident size during a transfer.
const MAX_GROWTH_KIB: u64 = 32 << 10;

/// Peak resident set size of this process, in KiB (`VmHWM` in /proc/self/status).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mebibytes_stream_through() {
    let d = common::start();
    // A sparse file: reads return zeros, nothing is written to disk (the daemon dedupes the
    // identical blocks too, so this is quick); the client streams it like any other file.
    let src = d.dir.path().join("big.bin");
    std::fs::File::create(&src).unwrap().set_len(SIZE).unwrap();
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(&src).unwrap())
        .unwrap();
    let hash = *hasher.finalize().as_bytes();

    let before = peak_rss_kib();
    let t0 = Instant::now();
    let cid = d.ipfs.add_file(&src).await.unwrap();
    let add_took = t0.elapsed();
    let after_add = peak_rss_kib();
    assert!(d.ipfs.is_pinned(&cid).await.unwrap());

    let dest = d.dir.path().join("fetched.bin");
    let t0 = Instant::now();
    d.ipfs
        .fetch_verified(&cid, hash, SIZE, &dest, Duration::from_secs(300))
        .await
        .unwrap();
    let fetch_took = t0.elapsed();
    let after_fetch = peak_rss_kib();
    eprintln!(
        "100 MiB: add {add_took:?}, fetch_verified {fetch_took:?}; peak RSS {before} KiB -> \
         {after_add} KiB after add -> {after_fetch} KiB after fetch"
    );
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), SIZE);
    assert!(
        after_add - before < MAX_GROWTH_KIB,
        "add grew the peak by {} KiB",
        after_add - before
    );
    assert!(
        after_fetch - before < MAX_GROWTH_KIB,
        "fetch grew the peak by {} KiB",
        after_fetch - before
    );
}
