//! `GET /healthz` and `GET /readyz` through the real binary: no token, 200 when healthy
//! (ready), 503 with a JSON reason otherwise.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_for};

/// A multiaddr nobody listens on (a port bound and released).
fn dead_peer() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")
}

#[test]
fn a_lone_node_is_healthy_and_ready_without_a_token() {
    let a = TestNode::start("a", &[]);
    for path in ["/healthz", "/readyz"] {
        let (code, body) = a.call_raw("GET", path, None, None);
        assert_eq!(code, 200, "{path}: {body}");
        assert_eq!(body["status"], "ok", "{path}: {body}");
        assert_eq!(body["node"]["store_open"], true);
        assert_eq!(body["node"]["spaces"][0], "default");
    }
    // A wrong token does not matter either.
    let (code, _) = a.call_raw("GET", "/healthz", None, Some("wrong"));
    assert_eq!(code, 200);
}

#[test]
fn a_node_whose_bootstrap_peers_are_unreachable_is_healthy_but_not_ready() {
    let lonely = TestNode::start("lonely", &[dead_peer()]);
    let (code, body) = lonely.call_raw("GET", "/healthz", None, None);
    assert_eq!(code, 200, "{body}");
    let (code, body) = lonely.call_raw("GET", "/readyz", None, None);
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("no peer connected"), "{reason}");
    assert_eq!(body["node"]["bootstrap"], 1);
    assert_eq!(body["node"]["peers"], 0);
}

#[test]
fn a_node_becomes_ready_once_it_reaches_a_bootstrap_peer() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let body = wait_for(Duration::from_secs(30), || {
        let (code, body) = b.call_raw("GET", "/readyz", None, None);
        (code == 200).then_some(body)
    })
    .expect("b never became ready");
    assert_eq!(body["node"]["peers"], 1);
}
