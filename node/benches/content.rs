//! Content-tier benchmark: a 100 MiB body fetched peer to peer over `/knack/blob/1` between two
//! real `knack` processes on 127.0.0.1 (every chunk verified), beside a plain `cat` of the same
//! bytes through an IPFS daemon's HTTP API in the same run, and the fetching node's memory.
//!
//! Run: `bash tools/bench.sh content` (a loopback-only network namespace, so the IPFS dev
//! daemon can start; without it the IPFS row is skipped and says why). `KNACK_BENCH_MIB` sets
//! the size (default 100).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{TestNode, body_of, wait_for};

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reads a whole HTTP response body, returning its length.
fn drain(request: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> u64 {
    let mut response = request.call().unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(None)
        .build()
        .into()
}

fn main() {
    let mib: usize = std::env::var("KNACK_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let size = mib << 20;
    let tmp = tempfile::tempdir().unwrap();
    let ipfs = knack_ipfs::DevDaemon::start(tmp.path().join("ipfs"));
    if let Err(e) = &ipfs {
        println!("IPFS reference skipped: {e}");
    }

    let mut a = TestNode::init("a", &[]);
    if let Ok(d) = &ipfs {
        a.run_args(&["--ipfs-api", &d.api_url()]);
    }
    a.launch();
    let b = TestNode::start("b", &[a.multiaddr()]);
    let file = tmp.path().join("body.bin");
    std::fs::write(&file, body_of(size, 0x9e37_79b9_7f4a_7c15)).unwrap();

    let t = Instant::now();
    let (ok, out, err) = a.cli(&[
        "add",
        "--name",
        "big",
        "--body-file",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let upload = t.elapsed();
    let id = String::from_utf8(out).unwrap().trim().to_owned();
    wait_for(Duration::from_secs(60), || (b.ops() >= 1).then_some(())).unwrap();

    let pid = b.pid().unwrap();
    let (rss_before, _) = memory_mib(pid);
    let url = format!("{}/v1/spaces/default/procedures/{id}/body", b.api);
    let auth = format!("Bearer {}", b.token);
    let t = Instant::now();
    let got = drain(agent().get(&url).header("Authorization", &auth));
    let p2p = t.elapsed();
    assert_eq!(got as usize, size);
    let (rss_after, peak) = memory_mib(pid);
    let t = Instant::now();
    drain(agent().get(&url).header("Authorization", &auth));
    let local = t.elapsed();

    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("\ncontent tier, {mib} MiB body, two knack processes on 127.0.0.1");
    println!("{:<58} {:>9} {:>10}", "", "seconds", "MiB/s");
    let row = |label: &str, d: Duration| {
        println!("{label:<58} {:>9.2} {:>10.1}", d.as_secs_f64(), rate(d));
    };
    row(
        "upload + hash + outboard on A (knack add --body-file)",
        upload,
    );
    row(
        "B: fetch from A over /knack/blob/1, verify, serve (API)",
        p2p,
    );
    row("B: read again from its blob store (API)", local);

    if let Ok(daemon) = &ipfs {
        let cid = wait_for(Duration::from_secs(120), || {
            a.show(&id)["body"]["cid"].as_str().map(str::to_owned)
        })
        .expect("A never pinned the body");
        let cat = format!("{}/api/v0/cat?arg={cid}", daemon.api_url());
        let t = Instant::now();
        let got = {
            let mut response = agent().post(&cat).send_empty().unwrap();
            let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
            std::io::copy(&mut reader, &mut std::io::sink()).unwrap()
        };
        let cat_time = t.elapsed();
        assert_eq!(got as usize, size);
        row(
            "reference: IPFS daemon `cat` over its HTTP API (js-ipfs)",
            cat_time,
        );
    }
    println!(
        "\nB's memory: {rss_before:.1} MiB resident before the fetch, {rss_after:.1} MiB after, \
         {peak:.1} MiB peak (VmHWM) for a {mib} MiB body"
    );
}
