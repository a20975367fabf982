//! Every body read is checked against its blake3 before it leaves the node, the local blob
//! store included: a blob corrupted on disk is never served; it is quarantined, counted, and
//! fetched again from a peer that holds it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, body_of, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn isolated(name: &str, bootstrap: &[String]) -> TestNode {
    let mut node = TestNode::init(name, bootstrap);
    node.set_config("kademlia", "false");
    node.launch();
    node
}

/// Flips one byte in the middle of the blob file of `hash` in `node`'s store.
fn corrupt_blob(node: &TestNode, hash: &str) {
    let path = node.dir.join("blobs").join(&hash[..2]).join(hash);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_corrupt_local_blob_is_never_served_and_is_fetched_again_from_a_peer() {
    let a = isolated("a", &[]);
    let b = isolated("b", &[a.multiaddr()]);
    let body = body_of(300 * 1024, 5);
    let id = a.add_file("a large recipe", &body);
    let hash = a.show(&id)["body"]["blake3"].as_str().unwrap().to_owned();
    wait_for(WAIT, || (b.ops() == 1).then_some(())).expect("b never saw the procedure");
    // B holds a copy (fetched from A, verified).
    let out = b.dir.join("body.bin");
    let (ok, _, err) = b.cli(&["show", &id, "--body-out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(std::fs::read(&out).unwrap() == body);

    // A's copy rots on disk: the next read never returns the wrong bytes; it gets B's copy.
    corrupt_blob(&a, &hash);
    let out = a.dir.join("read-back.bin");
    let (ok, _, err) = a.cli(&["show", &id, "--body-out", out.to_str().unwrap()]);
    assert!(ok, "{err}\n{}", a.log());
    assert!(
        std::fs::read(&out).unwrap() == body,
        "the right bytes, from b"
    );
    assert_eq!(
        a.metric("knack_integrity_faults_total{reason=\"blob_corrupt\"}"),
        1.0,
        "{}",
        a.metrics()
    );
    let quarantined = a.dir.join("blobs/quarantine").join(&hash);
    assert!(quarantined.exists(), "the corrupt copy is kept aside");
    let stored = std::fs::read(a.dir.join("blobs").join(&hash[..2]).join(&hash)).unwrap();
    assert!(stored == body, "the store holds the good copy again");

    // With no peer holding it, a corrupt copy is refused, never served.
    drop(b);
    corrupt_blob(&a, &hash);
    let (code, answer) = a.call(
        "GET",
        &format!("/v1/spaces/default/procedures/{id}/body"),
        None,
    );
    assert_eq!(code, 404, "{answer}");
    assert_eq!(answer["kind"], "body_unavailable", "{answer}");
    assert_eq!(
        a.metric("knack_integrity_faults_total{reason=\"blob_corrupt\"}"),
        2.0
    );
    assert_eq!(a.ops(), 1, "the node keeps serving");
}
