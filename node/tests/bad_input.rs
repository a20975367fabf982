//! Bad input gets a clear error, a counter, and changes nothing; the node keeps serving.
//! Through the HTTP API (malformed JSON, unknown ids, wrong token, oversized body) and through
//! the node's own protocol (garbage, unknown version, forged signature, wrong author,
//! oversized and replayed envelopes pushed over `/knack/sync/1` by a real libp2p peer).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_for};
use futures::StreamExt;
use knack_crdt::{AgentId, Change, Delta, Hlc, Lww, SpaceName, Stamp};
use knack_node::SYNC_PROTOCOL;
use knack_protocol::{Envelope, SyncRequest, SyncResponse, VersionVector};
use libp2p::Multiaddr;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use serde_json::json;

#[test]
fn the_api_refuses_bad_requests_clearly_and_keeps_serving() {
    let a = TestNode::start("a", &[]);
    let p = a.add("a procedure", &[]);
    let before = a.digest();

    let (code, body) = a.call_raw("GET", "/v1/status", None, Some("wrong-token"));
    assert_eq!(code, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("token"));
    let (code, _) = a.call_raw("GET", "/v1/status", None, None);
    assert_eq!(code, 401);

    let (code, body) = a.call_raw(
        "POST",
        "/v1/spaces/default/procedures",
        Some("{\"name\": ".into()),
        Some(&a.token),
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": "x", "colour": "blue" })),
    );
    assert_eq!(code, 400, "unknown field: {body}");

    let unknown = "ab".repeat(32);
    let (code, body) = a.call(
        "GET",
        &format!("/v1/spaces/default/procedures/{unknown}"),
        None,
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (404, Some("unknown_procedure")),
        "{body}"
    );
    let (code, body) = a.call(
        "POST",
        &format!("/v1/spaces/default/procedures/{unknown}/outcomes"),
        Some(json!({ "success": true })),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = a.call("GET", "/v1/spaces/default/procedures/not-hex", None);
    assert_eq!(code, 400, "{body}");
    let (code, body) = a.call("GET", "/v1/spaces/no-such-space/top", None);
    assert_eq!(
        (code, body["kind"].as_str()),
        (404, Some("unknown_space")),
        "{body}"
    );
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/links",
        Some(json!({ "from": p, "to": p, "kind": "similar", "strength": 0.5 })),
    );
    assert_eq!(code, 400, "self relation: {body}");
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/links",
        Some(json!({ "from": p, "to": unknown, "kind": "similar", "strength": 7.0 })),
    );
    assert_eq!(code, 400, "strength out of range: {body}");
    assert!(body["error"].as_str().unwrap().contains("0..=1"));

    let huge = "x".repeat(600 * 1024);
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": "big", "body": huge })),
    );
    assert_eq!(code, 413, "{body}");
    // (A body over the 64 KiB inline limit is not bad input: it becomes a blob; see
    // content.rs.) A blob reference that is not a hash, or two bodies at once, are.
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": "big", "body_blob": { "blake3": "xyz", "size": 3 } })),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("body_blob.blake3"));
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": "big", "body": "a", "body_base64": "YQ==" })),
    );
    assert_eq!(code, 400, "{body}");

    assert_eq!(a.digest(), before, "nothing changed");
    assert_eq!(a.ops(), 1);
    assert!(a.metric("knack_api_errors_total") >= 8.0, "{}", a.metrics());
    a.outcome(&p, true); // still serving writes
}

#[test]
fn forged_and_malformed_envelopes_are_rejected_and_counted() {
    let a = TestNode::start("a", &[]);
    let existing = a.add("existing", &[]);
    let target: Multiaddr = a.multiaddr().parse().unwrap();
    let space = SpaceName::new("default").unwrap();

    // A peer of our own, with its own key.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = knack_protocol::agent_id(&key).unwrap();
    let outcome_of_someone_else = Delta::new(vec![Change::Name {
        id: existing.parse().unwrap(),
        value: Lww::new(Stamp::new(AgentId([9; 32]), Hlc::at(1)), "hijacked".into()),
    }]);
    let t = now_ms();
    let rename = |name: &str| {
        Delta::new(vec![Change::Name {
            id: existing.parse().unwrap(),
            value: Lww::new(Stamp::new(me, Hlc::at(t)), name.into()),
        }])
    };
    let valid = Envelope::seal(
        &key,
        space.clone(),
        1,
        vec![(Hlc::at(t), rename("renamed"))],
    )
    .unwrap();
    let mut unknown_version = valid.encode();
    unknown_version[0] = 99;
    let mut forged = valid.encode();
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    let wrong_author = Envelope::seal_unchecked(
        &key,
        space.clone(),
        2,
        vec![(Hlc::at(t + 1), outcome_of_someone_else)],
    )
    .unwrap()
    .encode();
    let mut oversized = vec![knack_protocol::PROTOCOL_VERSION];
    oversized.resize(knack_protocol::MAX_ENVELOPE_BYTES + 10, 7);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut swarm = common::raw_peer(key.clone(), SYNC_PROTOCOL);
        swarm.dial(target.clone()).unwrap();
        let peer = loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
            {
                break peer_id;
            }
        };
        let push = |envelopes: Vec<Vec<u8>>| {
            SyncRequest::Push {
                space: space.clone(),
                have: VersionVector::new(),
                envelopes,
            }
            .encode()
        };
        let requests = vec![
            b"not a sync request at all".to_vec(),
            push(vec![
                b"garbage".to_vec(),
                [
                    &[knack_protocol::PROTOCOL_VERSION][..],
                    b"garbage after a valid version",
                ]
                .concat(),
                unknown_version,
                forged,
                oversized,
                valid.encode(),
                wrong_author,
                valid.encode(), // replayed
            ]),
        ];
        for request in requests {
            swarm.behaviour_mut().send_request(&peer, request);
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { response, .. },
                        ..
                    }) => {
                        assert!(matches!(
                            SyncResponse::decode(&response).unwrap(),
                            SyncResponse::Ack { .. }
                        ));
                        break;
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => break,
                    _ => {}
                }
            }
        }
    });

    wait_for(Duration::from_secs(10), || (a.ops() == 2).then_some(())).expect("valid op applied");
    let metrics = a.metrics();
    for reason in [
        "malformed",
        "unknown_version",
        "bad_signature",
        "oversized",
        "wrong_author",
        "replayed",
    ] {
        let line = format!("knack_envelopes_rejected_total{{reason=\"{reason}\"}}");
        assert!(a.metric(&line) >= 1.0, "no {line} in\n{metrics}");
    }
    assert_eq!(
        a.show(&existing)["name"],
        "renamed",
        "only the valid envelope applied"
    );
    a.outcome(&existing, true); // the node keeps serving
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
