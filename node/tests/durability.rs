//! Restarts: a node stopped while others write catches up by anti-entropy alone, and a node
//! killed with SIGKILL during a stream of acknowledged writes keeps every one of them.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{TestNode, wait_converged, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

#[test]
fn a_restarted_node_catches_up_by_anti_entropy() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let mut c = TestNode::start("c", &[a.multiaddr()]);
    let p = a.add("warm the cache", &[]);
    wait_converged(&[&a, &b, &c], 1, CONVERGE);

    c.stop();
    for i in 0..10 {
        let writer = if i % 2 == 0 { &a } else { &b };
        writer.outcome(&p, i % 3 != 0);
    }
    wait_converged(&[&a, &b], 11, CONVERGE);
    // Let the ops age out of gossipsub's message cache (5 heartbeats of 500 ms), so that
    // IHAVE/IWANT cannot hand them to c either.
    std::thread::sleep(Duration::from_secs(4));

    c.launch();
    // Nothing is written after the restart: gossipsub does not replay what c missed, so the
    // ops can only come by anti-entropy.
    let digest = wait_converged(&[&a, &b, &c], 11, CONVERGE);
    assert_eq!(c.digest(), digest);
    let metrics = c.metrics();
    assert!(
        c.metric("knack_sync_envelopes_in_total") >= 1.0,
        "{metrics}"
    );
    assert_eq!(
        c.metric("knack_gossip_messages_total{direction=\"in\"}"),
        0.0,
        "{metrics}"
    );
    assert_eq!(
        c.show(&p)["successes"].as_u64().unwrap() + c.show(&p)["failures"].as_u64().unwrap(),
        10
    );
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let mut a = TestNode::start("a", &[]);
    let p = a.add("flaky job", &[]);
    let acked = Arc::new(AtomicU64::new(0));
    let attempted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let api = a.api.clone();
    let token = a.token.clone();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (acked, attempted, stop) = (acked.clone(), attempted.clone(), stop.clone());
            let (api, token, p) = (api.clone(), token.clone(), p.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                while !stop.load(Ordering::SeqCst) {
                    attempted.fetch_add(1, Ordering::SeqCst);
                    let response = agent
                        .post(format!("{api}/v1/spaces/default/procedures/{p}/outcomes"))
                        .header("Authorization", format!("Bearer {token}"))
                        .send_json(serde_json::json!({ "success": true }));
                    match response {
                        Ok(r) if r.status() == 200 => {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => break, // the node is gone
                    }
                }
            })
        })
        .collect();
    wait_for(Duration::from_secs(30), || {
        (acked.load(Ordering::SeqCst) >= 300).then_some(())
    })
    .expect("writes did not get acknowledged");
    a.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.load(Ordering::SeqCst);
    let attempted = attempted.load(Ordering::SeqCst);

    a.launch();
    let successes = a.show(&p)["successes"].as_u64().unwrap();
    eprintln!(
        "kill -9: {acked} acknowledged, {attempted} attempted, {successes} present after restart"
    );
    assert!(
        successes >= acked,
        "lost acknowledged writes: {successes} < {acked}"
    );
    assert!(
        successes <= attempted,
        "{successes} > {attempted} attempted"
    );
    assert_eq!(a.ops(), 1 + successes, "every op in the log is applied");
}

#[test]
fn periodic_snapshots_bound_replay_and_survive_kill_9() {
    let mut a = TestNode::init("a", &[]);
    let mut config = knack_node::Config::load(&a.dir).unwrap();
    config.snapshot_every_ops = 10;
    config.save(&a.dir).unwrap();
    a.launch();
    let p = a.add("snapshotted", &[]);
    for _ in 0..25 {
        a.outcome(&p, true);
    }
    let before = a.digest();
    // A tick (200 ms) after the 10th and 20th op writes a snapshot.
    std::thread::sleep(Duration::from_secs(1));
    a.kill9();
    let space = knack_crdt::SpaceName::new("default").unwrap();
    let store = knack_node::store::FjallStore::open(&a.dir.join(knack_node::dirs::DB_DIR)).unwrap();
    let snapshot = knack_node::store::Store::snapshot(&store, &space).unwrap();
    drop(store);
    assert!(snapshot.is_some(), "no periodic snapshot before the kill");
    a.launch();
    assert_eq!(a.digest(), before);
    assert_eq!(a.ops(), 26);
    a.outcome(&p, false);
    assert_eq!(a.show(&p)["failures"], 1);
}

#[test]
fn a_restarted_node_paces_snapshots_by_the_size_of_the_one_it_restored() {
    // A snapshot is rewritten at most once per `SNAPSHOT_BYTES_PER_OP` bytes of it per applied
    // op. A restarted node knows the size of the snapshot it restored: it used to count from
    // zero and rewrite a 200 MB snapshot (100k procedures) 5,000 ops after every start.
    let mut a = TestNode::init("paced", &[]);
    let mut config = knack_node::Config::load(&a.dir).unwrap();
    config.snapshot_every_ops = 10;
    config.save(&a.dir).unwrap();
    a.launch();
    let body = "x".repeat(60 * 1024);
    for i in 0..4 {
        let (code, answer) = a.call(
            "POST",
            "/v1/spaces/default/procedures",
            Some(serde_json::json!({ "name": format!("large {i}"), "body": body })),
        );
        assert_eq!(code, 201, "{answer}");
    }
    a.stop(); // a clean stop writes the snapshot: ~240 KB, so one per ~235 ops from here on
    a.launch();
    assert_eq!(a.metric("knack_snapshots_written_total"), 0.0);
    let p = a.add("used", &[]);
    for _ in 0..60 {
        a.outcome(&p, true);
    }
    // Ticks (200 ms) pass: past 10 ops a snapshot is due unless paced by its size.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        a.metric("knack_snapshots_written_total"),
        0.0,
        "61 ops after a restart rewrote a 240 KB snapshot"
    );
    for _ in 0..240 {
        a.outcome(&p, true);
    }
    let written = wait_for(Duration::from_secs(10), || {
        (a.metric("knack_snapshots_written_total") >= 1.0).then_some(())
    });
    assert!(
        written.is_some(),
        "no snapshot after 300 ops, past its pace"
    );
}
