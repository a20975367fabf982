//! The content tier between real nodes: large bodies stored once, fetched on demand over
//! `/knack/blob/1` with every chunk verified, relayed hop by hop, corrupt peers dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestNode, body_of, wait_for};
use futures::StreamExt;
use knack_crdt::ContentHash;
use knack_node::BLOB_PROTOCOL;
use knack_protocol::{BlobRequest, BlobResponse};
use libp2p::Multiaddr;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;

const WAIT: Duration = Duration::from_secs(60);

/// A node with Kademlia off, so it only ever connects to the peers it is told about.
fn start_isolated(name: &str, bootstrap: &[String]) -> TestNode {
    let mut node = TestNode::init(name, bootstrap);
    node.set_config("kademlia", "false");
    node.launch();
    node
}

#[test]
fn a_ten_mib_body_reaches_a_node_that_never_talked_to_its_author() {
    let a = start_isolated("a", &[]);
    let b = start_isolated("b", &[a.multiaddr()]);
    let c = start_isolated("c", &[b.multiaddr()]);
    let body = body_of(10 << 20, 7);
    let id = a.add_file("replay the trajectory", &body);

    // The op is small (hash and size only); the body stays with A.
    let view = a.show(&id);
    assert_eq!(view["body"]["size"], 10 << 20);
    assert_eq!(view["body"]["blake3"], ContentHash::of(&body).to_hex());
    assert!(view["body"]["text"].is_null());
    wait_for(WAIT, || (c.ops() == 1).then_some(())).expect("c never saw the procedure");

    let out = c.dir.join("fetched.bin");
    let (ok, stdout, err) = c.cli(&["show", &id, "--body-out", out.to_str().unwrap()]);
    assert!(ok, "knack show --body-out failed: {err}\n{}", c.log());
    assert!(String::from_utf8_lossy(&stdout).contains("10485760 bytes"));
    assert!(std::fs::read(&out).unwrap() == body, "fetched body differs");

    // C got it through B (which fetched it from A and kept it), never from A directly.
    let a_peer = a.peer_id().to_string();
    assert!(!c.peers().contains(&a_peer), "c connected to a");
    assert!(c.metric("knack_blob_bytes_total{direction=\"in\"}") >= (10 << 20) as f64);
    assert!(b.metric("knack_blob_bytes_total{direction=\"in\"}") >= (10 << 20) as f64);
    assert!(b.metric("knack_blob_bytes_total{direction=\"out\"}") >= (10 << 20) as f64);
    assert_eq!(c.metric("knack_blob_peers_penalised_total"), 0.0);

    // Read back through the API too, with the hash in a header.
    let (ok, printed, err) = c.cli(&["show", &id, "--body"]);
    assert!(ok, "{err}");
    assert!(printed == body);
}

/// A libp2p peer in this process that answers `/knack/blob/1` with chunks of `body` whose
/// last byte is flipped. Returns how many requests it served.
fn corrupt_peer(target: Multiaddr, body: Vec<u8>) -> (Arc<AtomicUsize>, libp2p::PeerId) {
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let peer_id = key.public().to_peer_id();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let mut outboard = Cursor::new(Vec::new());
            let hash = knack_protocol::blob::write_outboard(&body[..], &mut outboard).unwrap();
            let outboard = outboard.into_inner();
            let mut swarm = common::raw_peer(key, BLOB_PROTOCOL);
            swarm.dial(target).unwrap();
            loop {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                }) = swarm.select_next_some().await
                {
                    let request = BlobRequest::decode(&request).unwrap();
                    assert_eq!(request.hash, hash);
                    let mut response = knack_protocol::blob::extract_chunk(
                        Cursor::new(&body),
                        Cursor::new(&outboard),
                        body.len() as u64,
                        &request,
                    )
                    .unwrap();
                    if let BlobResponse::Chunk { slice, .. } = &mut response {
                        let last = slice.len() - 1;
                        slice[last] ^= 0x01;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = swarm
                        .behaviour_mut()
                        .send_response(channel, response.encode());
                }
            }
        });
    });
    (served, peer_id)
}

#[test]
fn a_peer_serving_corrupt_chunks_is_dropped_and_another_serves() {
    let a = start_isolated("a", &[]);
    let c = start_isolated("c", &[a.multiaddr()]);
    let body = body_of(6 << 20, 11);
    let id = a.add_file("a recorded session", &body);
    wait_for(WAIT, || (c.ops() == 1).then_some(())).expect("c never saw the procedure");

    let (served, evil) = corrupt_peer(c.multiaddr().parse().unwrap(), body.clone());
    let evil = evil.to_string();
    wait_for(WAIT, || c.peers().contains(&evil).then_some(()))
        .expect("the corrupt peer never connected");

    let (code, _) = c.call(
        "GET",
        &format!("/v1/spaces/default/procedures/{id}/body"),
        None,
    );
    assert_eq!(code, 200, "{}", c.log());
    let out = c.dir.join("fetched.bin");
    let (ok, _, err) = c.cli(&["show", &id, "--body-out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(std::fs::read(&out).unwrap() == body, "fetched body differs");
    assert!(
        served.load(Ordering::SeqCst) >= 1,
        "the corrupt peer was never asked"
    );
    assert_eq!(
        c.metric("knack_blob_peers_penalised_total{reason=\"corrupt\"}"),
        1.0
    );
    assert!(c.log().contains("peer dropped from a blob download"));
}

#[test]
fn bodies_over_the_inline_limit_become_blobs_and_bad_references_are_refused() {
    let a = start_isolated("a", &[]);
    // A JSON body over the 64 KiB inline limit is stored as a blob, not refused.
    let text = "x".repeat(100_000);
    let (code, created) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(serde_json::json!({"name": "long prompt", "body": text})),
    );
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let view = a.show(id);
    assert_eq!(view["body"]["size"], 100_000);
    assert!(view["body"]["text"].is_null(), "not inline: {view}");
    let (ok, printed, err) = a.cli(&["show", id, "--body"]);
    assert!(ok, "{err}");
    assert_eq!(printed, text.as_bytes());

    // A reference to a blob this node does not hold is refused, and nothing is written.
    let ops = a.ops();
    let (code, refused) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(serde_json::json!({"name": "dangling", "body_blob": {
            "blake3": ContentHash::of(b"nobody has this").to_hex(), "size": 15}})),
    );
    assert_eq!(code, 404, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("upload it first")
    );
    assert_eq!(a.ops(), ops);

    // With no peer holding it, reading a body this node lacks fails clearly.
    let b = start_isolated("b", &[a.multiaddr()]);
    wait_for(WAIT, || (b.ops() == a.ops()).then_some(())).expect("b never caught up");
    drop(a);
    let (code, missing) = b.call(
        "GET",
        &format!("/v1/spaces/default/procedures/{id}/body"),
        None,
    );
    assert_eq!(code, 404, "{missing}");
    assert_eq!(missing["kind"], "body_unavailable");
    // ... and the node keeps serving.
    assert_eq!(b.status()["spaces"][0]["procedures"], 1);
}
