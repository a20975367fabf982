//! Sequence numbers are never signed twice: a node that lost its op log does not author again
//! until it has its own ops back from a peer (so it rejoins without forking), and a forked
//! author (two different envelopes for one `(author, seq)`) is detected, counted, reported in
//! `status` and never merged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_converged, wait_for};
use knack_crdt::{Body, Hlc, NewProcedure, ProcedureKind, Space, SpaceName};
use knack_protocol::Envelope;
use libp2p::Multiaddr;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn isolated(name: &str, bootstrap: &[String]) -> TestNode {
    let mut node = TestNode::init(name, bootstrap);
    node.set_config("kademlia", "false");
    node.launch();
    node
}

#[test]
fn a_node_that_lost_its_log_recovers_its_own_ops_before_writing_and_does_not_fork() {
    let mut a = isolated("a", &[]);
    let b = isolated("b", &[a.multiaddr()]);
    for i in 0..3 {
        let id = a.add(&format!("procedure {i}"), &[]);
        a.outcome(&id, true);
    }
    let written = a.ops();
    let agent = a.status()["agent_id"].as_str().unwrap().to_owned();
    wait_converged(&[&a, &b], written, WAIT);

    // The op log is lost (the identity and the high-water mark survive).
    a.stop();
    std::fs::remove_dir_all(a.dir.join("db")).unwrap();

    // It refuses to start on a store that lost what it acknowledged; `knack repair` moves
    // the store aside.
    let refused = common::run_refused(&a.dir);
    assert!(
        refused.contains("damaged") && refused.contains("knack repair"),
        "{refused}"
    );
    let (ok, _, err) = a.cli(&["repair"]);
    assert!(ok, "{err}");

    // Alone, it refuses to author: any new op would reuse a sequence number b holds.
    a.launch();
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": "too early" })),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (503, Some("recovering_own_ops")),
        "{body}"
    );
    let missing = &a.status()["spaces"][0]["own_ops_missing"];
    assert_eq!(missing["held"], 0, "{missing}");
    assert_eq!(missing["written"].as_u64(), Some(written), "{missing}");
    a.stop();

    // With b reachable, it gets its own ops back, then writes after them.
    a.bootstrap_to(b.multiaddr());
    a.launch();
    wait_for(WAIT, || {
        a.status()["spaces"][0]["own_ops_missing"]
            .is_null()
            .then_some(())
    })
    .expect("own ops never recovered");
    assert_eq!(a.status()["spaces"][0]["version_vector"][&agent], written);
    let id = a.add("after recovery", &[]);
    a.outcome(&id, true);
    let total = a.ops();
    assert!(total > written);
    wait_converged(&[&a, &b], total, WAIT);
    for node in [&a, &b] {
        assert_eq!(node.status()["spaces"][0]["forked_authors"], json!([]));
        assert_eq!(
            node.metric("knack_integrity_faults_total{reason=\"forked_author\"}"),
            0.0
        );
    }
}

/// A valid envelope of `key` adding a procedure named `name` at `seq`.
fn add_envelope(key: &libp2p::identity::Keypair, seq: u64, name: &str, at: u64) -> Envelope {
    let space = SpaceName::new("default").unwrap();
    let me = knack_protocol::agent_id(key).unwrap();
    let (_, delta) = Space::new(space.clone())
        .add_procedure(
            me,
            Hlc::at(at),
            NewProcedure {
                nonce: seq,
                name: name.into(),
                description: String::new(),
                kind: ProcedureKind::Steps,
                tags: vec![],
                body: Body::Inline(b"steps".to_vec()),
            },
        )
        .unwrap();
    Envelope::seal(key, space, seq, vec![(Hlc::at(at), delta)]).unwrap()
}

#[test]
fn a_forked_author_is_detected_reported_and_never_merged() {
    let mut a = TestNode::init("a", &[]);
    a.set_config("kademlia", "false");
    a.launch();
    let target: Multiaddr = a.multiaddr().parse().unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let author = knack_protocol::agent_id(&key).unwrap().to_hex();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let first = add_envelope(&key, 1, "the original", now);
    let twin = add_envelope(&key, 1, "a different op under the same number", now + 1);
    let next = add_envelope(&key, 2, "after the fork", now + 2);

    common::push_envelopes(target, &key, &[first, twin, next]);

    let status = a.status();
    let space = &status["spaces"][0];
    assert_eq!(space["version_vector"][&author], 1, "{space}");
    assert_eq!(
        space["forked_authors"],
        json!([{ "author": author, "seq": 1 }]),
        "{space}"
    );
    assert_eq!(
        a.metric("knack_integrity_faults_total{reason=\"forked_author\"}"),
        1.0
    );
    assert!(a.metric("knack_envelopes_rejected_total{reason=\"forked\"}") >= 2.0);
    let (code, top) = a.call("GET", "/v1/spaces/default/top?n=10", None);
    assert_eq!(code, 200);
    let names: Vec<&str> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["the original"], "nothing of the fork merged");

    // Kept across a restart.
    a.stop();
    a.launch();
    assert_eq!(
        a.status()["spaces"][0]["forked_authors"],
        json!([{ "author": author, "seq": 1 }])
    );
}
