//! Op-log compaction through author checkpoints, on real nodes: a fresh node syncs from a
//! compacted peer to the same digest (applying the checkpoint run, not every op ever written),
//! a node killed after compaction comes back with every acknowledged write, own writes made
//! while a run is sealed follow it and none is lost, even when the node is killed mid-run.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::process::Command;

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

/// Records successful outcomes of `ids`, round robin, through the HTTP API until `stop` is set
/// or the node stops answering: per id, the writes acknowledged and the writes sent
/// (acknowledged or not).
fn write_until(node: &TestNode, ids: &[String], stop: &AtomicBool) -> (Vec<u64>, Vec<u64>) {
    let (mut acked, mut sent) = (vec![0u64; ids.len()], vec![0u64; ids.len()]);
    for k in (0..ids.len()).cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        sent[k] += 1;
        let path = format!("/v1/spaces/default/procedures/{}/outcomes", ids[k]);
        match node.try_call(
            "POST",
            &path,
            Some(json!({ "success": true, "duration_ms": 5 })),
        ) {
            Ok((200, _)) => acked[k] += 1,
            Ok((code, body)) => panic!("an outcome was refused: {code} {body}"),
            Err(_) => break, // the node is gone
        }
    }
    (acked, sent)
}

/// The successes `node` shows for each of `ids`.
fn successes(node: &TestNode, ids: &[String]) -> Vec<u64> {
    ids.iter()
        .map(|id| node.show(id)["successes"].as_u64().unwrap())
        .collect()
}

#[test]
fn own_writes_made_while_runs_are_sealed_follow_them_and_none_is_lost() {
    let mut a = TestNode::start("a", &[]);
    let ids = write_history(&a, 200, 1_000);
    let written = &ids[..20];
    let before = successes(&a, written);
    let stop = AtomicBool::new(false);
    let ((acked, _), runs) = std::thread::scope(|s| {
        let writer = s.spawn(|| write_until(&a, written, &stop));
        let runs: Vec<Value> = (0..4).map(|_| checkpoint(&a)).collect();
        stop.store(true, Ordering::Relaxed);
        (writer.join().unwrap(), runs)
    });
    assert!(acked.iter().sum::<u64>() > 0, "no write went through");
    // Each run covers its sequence numbers whole, after the last: own writes made meanwhile
    // were numbered around the runs, never inside one.
    let mut last = 0;
    for run in &runs {
        let (first, end) = (
            run["first_seq"].as_u64().unwrap(),
            run["last_seq"].as_u64().unwrap(),
        );
        assert!(first > last, "{runs:?}");
        assert_eq!(end - first + 1, run["envelopes"].as_u64().unwrap(), "{run}");
        last = end;
    }
    // Every acknowledged write is there, once; the log has no hole (one author: the op count
    // is its last sequence number).
    let expected: Vec<u64> = before.iter().zip(&acked).map(|(b, n)| b + n).collect();
    assert_eq!(successes(&a, written), expected);
    let ops = a.ops();
    assert_eq!(own_seq(&a), ops);
    assert!(
        ops > last,
        "writes after the last run: {ops} ops, run ends at {last}"
    );
    wait_compacted(&a);
    let digest = a.digest();

    // A fresh node reaches the same state from the compacted log, and so does a restart.
    let b = TestNode::start("b", &[a.multiaddr()]);
    assert_eq!(wait_converged(&[&a, &b], ops, CONVERGE), digest);
    assert_eq!(successes(&b, written), expected);
    a.stop();
    a.launch();
    assert_eq!((a.digest(), a.ops()), (digest, ops));
}

/// Whether `node` is sealing and storing a checkpoint run now.
fn sealing(node: &TestNode) -> bool {
    node.metric("knack_checkpoint_runs_sealing") >= 1.0
}

#[test]
fn a_node_killed_while_a_run_is_stored_keeps_every_acknowledged_write() {
    let mut a = TestNode::start("a", &[]);
    let ids = write_history(&a, 300, 3_000);
    let written = &ids[..20];
    let before = successes(&a, written);
    let pid = a.pid().unwrap().to_string();
    let stop = AtomicBool::new(false);
    let (acked, sent, attempts) = std::thread::scope(|s| {
        let writer = s.spawn(|| write_until(&a, written, &stop));
        // Checkpoints one after another, polling until one is caught being stored.
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts <= 20, "no run was ever seen being stored");
            let run = s.spawn(|| a.try_call("POST", "/v1/spaces/default/checkpoint", None));
            let started = Instant::now();
            let mut caught = false;
            while !run.is_finished() && started.elapsed() < CONVERGE {
                if sealing(&a) {
                    caught = true;
                    break;
                }
            }
            if caught {
                Command::new("kill").args(["-KILL", &pid]).status().unwrap();
                let _ = run.join();
                break;
            }
            let (code, body) = run.join().unwrap().unwrap();
            assert_eq!(code, 200, "{body}");
        }
        stop.store(true, Ordering::Relaxed);
        let (acked, sent) = writer.join().unwrap();
        (acked, sent, attempts)
    });
    eprintln!("killed while storing the run of checkpoint {attempts}; acked {acked:?}");
    a.kill9();
    a.launch();
    // Every acknowledged write is back; a write sent but not acknowledged may be or not.
    for ((after, before), (acked, sent)) in successes(&a, written)
        .iter()
        .zip(&before)
        .zip(acked.iter().zip(&sent))
    {
        assert!(
            (before + acked..=before + sent).contains(after),
            "{after} successes: {before} before, {acked} acknowledged, {sent} sent"
        );
    }
    // The log has no hole, the node writes on, and a fresh node reaches the same state.
    let ops = a.ops();
    assert_eq!(own_seq(&a), ops);
    a.outcome(&ids[0], true);
    let digest = a.digest();
    let c = TestNode::start("c", &[a.multiaddr()]);
    assert_eq!(wait_converged(&[&a, &c], ops + 1, CONVERGE), digest);
    assert_eq!(successes(&c, written), successes(&a, written));
}
