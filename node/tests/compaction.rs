//! Op-log compaction through author checkpoints, on real nodes: a fresh node syncs from a
//! compacted peer to the same digest (applying the checkpoint run, not every op ever written),
//! and a node killed after compaction comes back with every acknowledged write.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_converged, wait_for};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(90);

/// Writes `procedures` procedures and `outcomes` outcomes (some with contexts, some links)
/// through the HTTP API; returns the procedure ids.
fn write_history(node: &TestNode, procedures: usize, outcomes: usize) -> Vec<String> {
    let ids: Vec<String> = (0..procedures)
        .map(|i| {
            node.add(
                &format!("restart service {i}"),
                &["ops", ["k8s", "vm"][i % 2]],
            )
        })
        .collect();
    for i in 1..ids.len().min(20) {
        node.link(&ids[0], &ids[i], "context", 0.5);
    }
    for i in 0..outcomes {
        let id = &ids[(i * 7) % ids.len()];
        let contexts: Vec<&str> = match i % 3 {
            0 => vec![],
            1 => vec!["prod"],
            _ => vec!["prod", "eu"],
        };
        let (code, body) = node.call(
            "POST",
            &format!("/v1/spaces/default/procedures/{id}/outcomes"),
            Some(json!({ "success": i % 4 != 0, "duration_ms": 10, "contexts": contexts })),
        );
        assert_eq!(code, 200, "{body}");
    }
    ids
}

/// This node's own sequence number in the default space.
fn own_seq(node: &TestNode) -> u64 {
    let status = node.status();
    let me = status["agent_id"].as_str().unwrap();
    status["spaces"][0]["version_vector"][me]
        .as_u64()
        .unwrap_or(0)
}

/// `knack checkpoint --json`.
fn checkpoint(node: &TestNode) -> Value {
    let (ok, out, err) = node.cli(&["checkpoint", "--json"]);
    assert!(ok, "knack checkpoint failed: {err}");
    serde_json::from_slice(&out).unwrap()
}

/// Waits until the node has deleted at least one restated envelope.
fn wait_compacted(node: &TestNode) -> f64 {
    wait_for(CONVERGE, || {
        let n = node.metric("knack_envelopes_compacted_total");
        (n > 0.0).then_some(n)
    })
    .expect("the op log was never compacted")
}

#[test]
fn a_fresh_node_syncs_from_a_compacted_peer_to_the_same_digest() {
    let a = TestNode::start("a", &[]);
    let ids = write_history(&a, 300, 3_000);
    let digest = a.digest();
    let written = own_seq(&a);

    let run = checkpoint(&a);
    let envelopes = run["envelopes"].as_u64().unwrap();
    assert_eq!(run["first_seq"].as_u64().unwrap(), written + 1, "{run}");
    assert_eq!(
        run["last_seq"].as_u64().unwrap(),
        written + envelopes,
        "{run}"
    );
    assert!(run["changes"].as_u64().unwrap() >= 300, "{run}");
    // The run restates: the state is the same.
    assert_eq!(a.digest(), digest);
    let removed = wait_compacted(&a);
    assert!(removed >= 1.0);

    let b = TestNode::start("b", &[a.multiaddr()]);
    let ops = a.ops();
    assert_eq!(ops, written + envelopes);
    assert_eq!(wait_converged(&[&a, &b], ops, CONVERGE), digest);
    // b applied the run's ops only, not the 3,300 and more ops a wrote before it.
    assert_eq!(b.metric("knack_ops_applied_total"), envelopes as f64);
    for id in [&ids[0], &ids[7], &ids[299]] {
        assert_eq!(a.show(id)["successes"], b.show(id)["successes"]);
        assert_eq!(a.show(id)["contexts"], b.show(id)["contexts"]);
    }
    // Writes after the checkpoint follow it, on both sides.
    a.outcome(&ids[1], true);
    b.outcome(&ids[2], false);
    wait_converged(&[&a, &b], ops + 2, CONVERGE);
}

#[test]
fn a_node_killed_after_compaction_keeps_every_acknowledged_write() {
    let mut a = TestNode::init("a", &[]);
    // Automatic checkpoints after ~40 KB of own envelopes.
    a.set_config("checkpoint_after_bytes", "40000");
    a.launch();
    let ids = write_history(&a, 100, 1_500);
    wait_for(CONVERGE, || {
        (a.metric("knack_checkpoints_total") >= 1.0).then_some(())
    })
    .expect("no automatic checkpoint");
    wait_compacted(&a);
    // Acknowledged writes after the checkpoint, then a crash.
    for id in &ids[..10] {
        a.outcome(id, true);
    }
    // Another automatic checkpoint may be under way (it restates: the digest stays, the op
    // count grows by its envelopes); wait until the count holds still for a second.
    let mut ops = a.ops();
    wait_for(CONVERGE, || {
        std::thread::sleep(Duration::from_secs(1));
        let now = a.ops();
        let still = now == ops;
        ops = now;
        still.then_some(())
    })
    .expect("the op count never settled");
    let digest = a.digest();
    let shown: Vec<Value> = ids.iter().take(20).map(|id| a.show(id)).collect();
    a.kill9();
    a.launch();
    assert_eq!(a.digest(), digest, "state after the restart");
    // Every op acknowledged or sealed before the kill is back (a run sealed between the last
    // count and the kill may add envelopes that restate, never remove any).
    let after = a.ops();
    assert!(after >= ops, "{after} ops after the restart, {ops} before");
    let ops = after;
    for (id, before) in ids.iter().zip(&shown) {
        let after = a.show(id);
        assert_eq!(after["successes"], before["successes"], "{id}");
        assert_eq!(after["failures"], before["failures"], "{id}");
        assert_eq!(after["contexts"], before["contexts"], "{id}");
    }
    // It writes on with fresh sequence numbers: a new node sees one history.
    a.outcome(&ids[3], false);
    let c = TestNode::start("c", &[a.multiaddr()]);
    wait_converged(&[&a, &c], ops + 1, CONVERGE);
}

#[test]
fn a_checkpoint_of_a_bad_or_unknown_space_is_refused_and_changes_nothing() {
    let a = TestNode::start("a", &[]);
    let ids = write_history(&a, 5, 10);
    let (digest, ops) = (a.digest(), a.ops());
    let (code, body) = a.call("POST", "/v1/spaces/nowhere/checkpoint", None);
    assert_eq!(
        (code, body["kind"].as_str()),
        (404, Some("unknown_space")),
        "{body}"
    );
    let (code, body) = a.call("POST", "/v1/spaces/Bad%20Name!/checkpoint", None);
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let (ok, _, err) = a.cli(&["checkpoint", "--space", "nowhere"]);
    assert!(!ok);
    assert!(err.contains("nowhere"), "{err}");
    // Nothing was written, and the node goes on serving and writing.
    assert_eq!((a.digest(), a.ops()), (digest, ops));
    a.outcome(&ids[0], true);
    assert_eq!(a.ops(), ops + 1);
}
