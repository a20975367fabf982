//! Members-only spaces through the user's interface (real `knack` processes, the CLI and the
//! HTTP API): a root creates the space, admins add and remove members; only members are
//! served its ops and blobs and may write it; a removed member's later ops are refused
//! everywhere and its earlier ones kept; a removal that arrives after a replica applied the
//! member's later ops makes it drop them and converge; a restart keeps it all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_for};
use futures::StreamExt;
use knack_crdt::{
    AgentId, Body, Change, Delta, Hlc, Lww, NewProcedure, ProcedureKind, Space, SpaceName,
    SpaceSettings, Stamp,
};
use knack_protocol::{BlobRequest, BlobResponse, Envelope};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, request_response};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn team() -> SpaceName {
    SpaceName::new("team").unwrap()
}

/// Runs the CLI and expects success; returns stdout.
fn cli_ok(node: &TestNode, args: &[&str]) -> String {
    let (ok, out, err) = node.cli(args);
    assert!(ok, "{} {args:?} failed: {err}", node.name);
    String::from_utf8(out).unwrap()
}

/// The space `team` as `knack space list --json` shows it.
fn team_of(node: &TestNode) -> Value {
    let list: Value = serde_json::from_str(&cli_ok(node, &["space", "list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "team")
        .cloned()
        .unwrap_or_else(|| panic!("{} has not joined team: {list}", node.name))
}

/// The digest of `team` on `node`.
fn team_digest(node: &TestNode) -> String {
    let status = node.status();
    status["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "team")
        .map(|s| s["digest"].as_str().unwrap().to_owned())
        .unwrap()
}

/// `knack members list --space team --json`: peer id -> role.
fn roles(node: &TestNode) -> Vec<(String, String)> {
    let view: Value = serde_json::from_str(&cli_ok(
        node,
        &["members", "list", "--space", "team", "--json"],
    ))
    .unwrap();
    view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["peer_id"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn role_of(node: &TestNode, peer: &libp2p::PeerId) -> Option<String> {
    roles(node)
        .into_iter()
        .find(|(p, _)| *p == peer.to_string())
        .map(|(_, r)| r)
}

/// Waits until `node` sees `peer` with `role`.
fn wait_role(node: &TestNode, peer: &libp2p::PeerId, role: &str) {
    wait_for(WAIT, || {
        (role_of(node, peer).as_deref() == Some(role)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{} never saw {peer} as {role}: {:?}",
            node.name,
            roles(node)
        )
    });
}

/// Adds a procedure to `team` through the API; returns (status, body).
fn add_to_team(node: &TestNode, name: &str) -> (u16, Value) {
    node.call(
        "POST",
        "/v1/spaces/team/procedures",
        Some(json!({ "name": name, "body": format!("steps of {name}") })),
    )
}

/// Waits until the nodes hold `ops` ops of `team` and equal digests of it.
fn wait_team_converged(nodes: &[&TestNode], ops: u64) {
    wait_for(WAIT, || {
        let states: Vec<(u64, String)> = nodes
            .iter()
            .map(|n| (team_of(n)["ops"].as_u64().unwrap(), team_digest(n)))
            .collect();
        (states[0].0 == ops && states.iter().all(|s| *s == states[0])).then_some(())
    })
    .unwrap_or_else(|| {
        let states: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}: {}", n.name, team_of(n)))
            .collect();
        panic!("team did not converge to {ops} ops:\n{}", states.join("\n"))
    });
}

/// Asks `target` for the first chunk of blob `hash` from a bare peer with `key`.
fn ask_blob(target: &Multiaddr, key: &Keypair, hash: knack_crdt::ContentHash) -> BlobResponse {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut swarm = common::raw_peer(key.clone(), knack_node::BLOB_PROTOCOL);
        swarm.dial(target.clone()).unwrap();
        let peer = loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
            {
                break peer_id;
            }
        };
        let request = BlobRequest {
            hash,
            offset: 0,
            max_len: 1 << 16,
        };
        swarm.behaviour_mut().send_request(&peer, request.encode());
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => return BlobResponse::decode(&response).unwrap(),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => panic!("blob request failed: {error}"),
                _ => {}
            }
        }
    })
}

/// One op of `key` in `team` at sequence `seq` adding a procedure named `name`.
fn crafted_add(key: &Keypair, seq: u64, name: &str) -> Envelope {
    let me = knack_protocol::agent_id(key).unwrap();
    let at = Hlc::at(now_ms());
    let (_, delta) = Space::new(team())
        .add_procedure(
            me,
            at,
            NewProcedure {
                nonce: seq,
                name: name.into(),
                description: String::new(),
                kind: ProcedureKind::Steps,
                tags: vec![],
                body: Body::Inline(b"echo".to_vec()),
            },
        )
        .unwrap();
    Envelope::seal(key, team(), seq, vec![(at, delta)]).unwrap()
}

fn agent(key: &Keypair) -> AgentId {
    knack_protocol::agent_id(key).unwrap()
}

#[test]
fn only_members_are_served_and_write_a_members_only_space_and_admins_alone_manage_it() {
    let mut a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let c = TestNode::start("c", &[a.multiaddr(), b.multiaddr()]);
    let (peer_a, peer_b, peer_c) = (a.peer_id(), b.peer_id(), c.peer_id());

    // The root creates the space; the others join it by the printed address.
    let address = cli_ok(&a, &["space", "create", "team", "--members-only"]);
    assert_eq!(address.trim(), format!("team@{peer_a}"));
    cli_ok(&b, &["space", "join", address.trim()]);
    cli_ok(&c, &["space", "join", address.trim()]);
    assert_eq!(team_of(&c)["members_only"], true);
    assert_eq!(team_of(&c)["root"], peer_a.to_string());
    assert_eq!(team_of(&c)["role"], "none");

    // Not a member yet: B's writes are refused by its own node, clearly.
    let (code, body) = add_to_team(&b, "too early");
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["kind"], "not_member");

    // The root adds B; B learns it by anti-entropy and writes, inline and a large blob body.
    cli_ok(
        &a,
        &["members", "add", "--space", "team", &peer_b.to_string()],
    );
    wait_role(&b, &peer_b, "member");
    let mut ids = Vec::new();
    for i in 0..20 {
        let (code, body) = add_to_team(&b, &format!("runbook {i}"));
        assert_eq!(code, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let blob = common::body_of(300 * 1024, 7);
    let file = b.dir.join("big.bin");
    std::fs::write(&file, &blob).unwrap();
    let big = cli_ok(
        &b,
        &[
            "add",
            "--space",
            "team",
            "--name",
            "big",
            "--body-file",
            file.to_str().unwrap(),
        ],
    )
    .trim()
    .to_owned();
    // create + add B by A (2 ops), B's 21 adds (+ the automatic similar links: counted by
    // convergence, not by a fixed number).
    let b_ops = team_of(&b)["ops"].as_u64().unwrap();
    assert!(b_ops >= 22, "{}", team_of(&b));
    wait_team_converged(&[&a, &b], b_ops);
    // A fetches the big body from B (a member) and verifies it.
    let (ok, body, err) = a.cli(&["show", &big, "--space", "team", "--body"]);
    assert!(ok, "{err}");
    assert!(body.len() >= blob.len());

    // C, not a member, gets nothing: its pulls are refused (counted by A; C knows only the
    // root as a member, so it asks no one else) and its copy of the space stays empty after
    // many rounds.
    let refused =
        |n: &TestNode| n.metric("knack_requests_refused_total{reason=\"sync_not_member\"}");
    wait_for(WAIT, || (refused(&a) >= 5.0).then_some(()))
        .unwrap_or_else(|| panic!("C's rounds were not refused:\n{}", a.metrics()));
    assert_eq!(team_of(&c)["ops"], 0);
    assert_eq!(team_of(&c)["procedures"], 0);
    let (code, _) = c.call(
        "GET",
        &format!("/v1/spaces/team/procedures/{}", ids[0]),
        None,
    );
    assert_eq!(code, 404);

    // Nor its blobs: a non-member asking A and B for the big body's hash is refused; B's own
    // identity (a member) is served the same request.
    let shown = b
        .call("GET", &format!("/v1/spaces/team/procedures/{big}"), None)
        .1;
    let hash: knack_crdt::ContentHash = shown["body"]["blake3"]
        .as_str()
        .or(shown["blake3"].as_str())
        .unwrap_or_else(|| panic!("no blake3 in {shown}"))
        .parse()
        .unwrap();
    let outsider = Keypair::generate_ed25519();
    for node in [&a, &b] {
        let target: Multiaddr = node.multiaddr().parse().unwrap();
        let answer = ask_blob(&target, &outsider, hash);
        assert!(
            matches!(
                answer,
                BlobResponse::Refused {
                    reason: knack_protocol::blob::BlobRefuseReason::Forbidden,
                    ..
                }
            ),
            "{}: {answer:?}",
            node.name
        );
        assert!(node.metric("knack_requests_refused_total{reason=\"blob_not_member\"}") >= 1.0);
    }
    let b_key =
        Keypair::from_protobuf_encoding(&std::fs::read(b.dir.join("identity.key")).unwrap())
            .unwrap();
    let target: Multiaddr = a.multiaddr().parse().unwrap();
    assert!(matches!(
        ask_blob(&target, &b_key, hash),
        BlobResponse::Chunk { .. }
    ));

    // C's writes: refused by its own node, and its (or any outsider's) signed ops pushed to A
    // and B are refused and counted.
    let (code, body) = add_to_team(&c, "let me in");
    assert_eq!(code, 403, "{body}");
    let c_key =
        Keypair::from_protobuf_encoding(&std::fs::read(c.dir.join("identity.key")).unwrap())
            .unwrap();
    for node in [&a, &b] {
        let before = refused(node);
        common::push_envelopes(
            node.multiaddr().parse().unwrap(),
            &c_key,
            &[crafted_add(&c_key, 1, "pushed by a non-member")],
        );
        assert!(refused(node) > before, "{}", node.metrics());
    }
    wait_team_converged(&[&a, &b], b_ops);

    // A member that is no admin cannot manage members: a clear error, CLI and HTTP.
    let (ok, _, err) = b.cli(&["members", "add", "--space", "team", &peer_c.to_string()]);
    assert!(!ok);
    assert!(err.contains("not an admin"), "{err}");
    let (code, body) = b.call(
        "POST",
        "/v1/spaces/team/members",
        Some(json!({ "peer_id": peer_c.to_string() })),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (403, Some("not_admin")),
        "{body}"
    );
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/nowhere/members",
        Some(json!({ "peer_id": peer_c.to_string() })),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/team/members",
        Some(json!({ "peer_id": "not-a-peer-id" })),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(role_of(&a, &peer_c), None);

    // Settings written by a member that is no admin have no effect (D: a member of our own,
    // signing its own ops); once D is made admin, its settings take effect.
    let d_key = Keypair::generate_ed25519();
    let peer_d = d_key.public().to_peer_id();
    cli_ok(
        &a,
        &["members", "add", "--space", "team", &peer_d.to_string()],
    );
    let at = Hlc::at(now_ms());
    let settings = Delta::new(vec![Change::Settings {
        value: Lww::new(
            Stamp::new(agent(&d_key), at),
            SpaceSettings {
                contagion_hops: 1,
                ..SpaceSettings::default()
            },
        ),
    }]);
    let settings_op = Envelope::seal(&d_key, team(), 1, vec![(at, settings)]).unwrap();
    let before = team_of(&a)["ops"].as_u64().unwrap();
    common::push_envelopes(a.multiaddr().parse().unwrap(), &d_key, &[settings_op]);
    wait_team_converged(&[&a, &b], before + 1);
    assert_eq!(team_of(&a).get("settings_by"), None, "{}", team_of(&a));
    assert_eq!(team_of(&b).get("settings_by"), None, "{}", team_of(&b));
    cli_ok(
        &a,
        &[
            "members",
            "add",
            "--space",
            "team",
            "--admin",
            &peer_d.to_string(),
        ],
    );
    wait_team_converged(&[&a, &b], before + 2);
    assert_eq!(team_of(&a)["settings_by"], peer_d.to_string());
    assert_eq!(team_of(&b)["settings_by"], peer_d.to_string());

    // The root removes B. A removed member is served nothing more (not even its removal), so
    // B still takes its own writes; they reach no one: B's rounds are refused, and its
    // signed ops pushed by hand are refused too. Its earlier ops are kept.
    let b_before = team_of(&b)["ops"].as_u64().unwrap();
    cli_ok(
        &a,
        &["members", "remove", "--space", "team", &peer_b.to_string()],
    );
    assert_eq!(role_of(&a, &peer_b).as_deref(), Some("removed"));
    let (code, body) = add_to_team(&b, "after my removal");
    assert_eq!(code, 201, "{body}");
    let late_id = body["id"].as_str().unwrap().to_owned();
    let before = refused(&a);
    wait_for(WAIT, || (refused(&a) >= before + 3.0).then_some(()))
        .unwrap_or_else(|| panic!("B's rounds were not refused:\n{}", a.metrics()));
    let held_b = a.status()["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "team")
        .unwrap()["version_vector"][agent(&b_key).to_hex()]
    .as_u64()
    .unwrap();
    let later = crafted_add(&b_key, held_b + 2, "signed by b after its removal");
    let before = refused(&a);
    common::push_envelopes(a.multiaddr().parse().unwrap(), &b_key, &[later]);
    assert!(refused(&a) > before);
    assert_eq!(team_of(&a)["ops"], b_before + 1);
    let (code, _) = a.call(
        "GET",
        &format!("/v1/spaces/team/procedures/{late_id}"),
        None,
    );
    assert_eq!(code, 404);

    // C is made a member now: it converges with A on everything but B's later ops, which B
    // cannot give it either (to B, C is no member: B never heard of its addition).
    cli_ok(
        &a,
        &["members", "add", "--space", "team", &peer_c.to_string()],
    );
    let ops = b_before + 2;
    wait_team_converged(&[&a, &c], ops);
    for id in &ids {
        for node in [&a, &c] {
            let (code, body) = node.call("GET", &format!("/v1/spaces/team/procedures/{id}"), None);
            assert_eq!(code, 200, "{}: {body}", node.name);
        }
    }
    let (code, _) = c.call(
        "GET",
        &format!("/v1/spaces/team/procedures/{late_id}"),
        None,
    );
    assert_eq!(code, 404);
    let members = roles(&c);
    assert!(
        members.contains(&(peer_b.to_string(), "removed".into())),
        "{members:?}"
    );

    // A restart keeps the space, its root and its membership.
    let digest = team_digest(&a);
    let roles_before = roles(&a);
    a.stop();
    a.launch();
    let after = team_of(&a);
    assert_eq!(after["members_only"], true);
    assert_eq!(after["root"], peer_a.to_string());
    assert_eq!(after["role"], "admin");
    assert_eq!(roles(&a), roles_before);
    assert_eq!(team_digest(&a), digest);
    assert_eq!(team_of(&a)["ops"], ops);
}

#[test]
fn a_removal_that_arrives_after_the_members_later_ops_drops_them_and_converges() {
    let mut a = TestNode::start("a", &[]);
    let mut b = TestNode::start("b", &[a.multiaddr()]);
    let address = cli_ok(&a, &["space", "create", "team", "--members-only"]);
    cli_ok(&b, &["space", "join", address.trim()]);
    cli_ok(
        &a,
        &[
            "members",
            "add",
            "--space",
            "team",
            &b.peer_id().to_string(),
        ],
    );
    // D: a member of our own, pushing its ops to one node at a time. A realistic run of ops:
    // 2,000 of D in envelopes of 1.
    let d_key = Keypair::generate_ed25519();
    let peer_d = d_key.public().to_peer_id();
    let ops: Vec<Envelope> = (1..=2_000)
        .map(|seq| crafted_add(&d_key, seq, &format!("d's runbook {seq}")))
        .collect();
    // D's first op reaches B, relayed by a member (A's identity), before the record that
    // makes D a member: refused, not held against the sender, and fetched again by
    // anti-entropy once D is a member.
    wait_role(&b, &b.peer_id(), "member");
    let not_member = "knack_envelopes_rejected_total{reason=\"not_member\"}";
    let a_key =
        Keypair::from_protobuf_encoding(&std::fs::read(a.dir.join("identity.key")).unwrap())
            .unwrap();
    common::push_envelopes(b.multiaddr().parse().unwrap(), &a_key, &ops[..1]);
    assert_eq!(b.metric(not_member), 1.0, "{}", b.metrics());
    assert_eq!(team_of(&b)["ops"], 1);
    cli_ok(
        &a,
        &["members", "add", "--space", "team", &peer_d.to_string()],
    );
    wait_role(&b, &peer_d, "member");
    // The first 1,000 are pushed to A only: B gets them (the refused one included) by
    // anti-entropy.
    common::push_envelopes(a.multiaddr().parse().unwrap(), &d_key, &ops[..1_000]);
    wait_team_converged(&[&a, &b], 2 + 1_000);

    // A stops; D's later ops reach B only.
    a.stop();
    common::push_envelopes(b.multiaddr().parse().unwrap(), &d_key, &ops[1_000..]);
    wait_for(WAIT, || {
        (team_of(&b)["ops"].as_u64() == Some(2 + 2_000)).then_some(())
    })
    .unwrap_or_else(|| panic!("b did not take d's later ops: {}", team_of(&b)));
    // B stops; A starts alone and removes D: its cutoff is 1,000.
    b.stop();
    a.launch();
    cli_ok(
        &a,
        &["members", "remove", "--space", "team", &peer_d.to_string()],
    );
    let view: Value = serde_json::from_str(&cli_ok(
        &a,
        &["members", "list", "--space", "team", "--json"],
    ))
    .unwrap();
    let d = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["peer_id"] == peer_d.to_string())
        .unwrap()
        .clone();
    assert_eq!(d["cutoff"], 1_000, "{view}");

    // B comes back: it learns the removal after having applied D's ops 1,001..=2,000, drops them
    // (from its state and its store), and both replicas converge; A refused them from B.
    b.bootstrap_to(a.multiaddr());
    b.launch();
    wait_team_converged(&[&a, &b], 2 + 1_000 + 1);
    assert_eq!(
        b.metric("knack_envelopes_dropped_total"),
        1_000.0,
        "{}",
        b.metrics()
    );
    assert_eq!(team_of(&b)["procedures"], 1_000);
    let rebuilt = b
        .log()
        .lines()
        .find(|l| l.contains("members-only space rebuilt"))
        .map(str::to_owned);
    eprintln!("rebuild after the late removal: {rebuilt:?}");
    // The drop is durable: after a restart B still holds exactly the converged state.
    let digest = team_digest(&b);
    b.stop();
    b.launch();
    assert_eq!(team_digest(&b), digest);
    assert_eq!(team_of(&b)["ops"], 2 + 1_000 + 1);
}

#[test]
fn open_spaces_are_joined_at_runtime_and_kept_across_a_restart() {
    let a = TestNode::start("a", &[]);
    let mut b = TestNode::start("b", &[a.multiaddr()]);
    for node in [&a, &b] {
        let joined = cli_ok(node, &["space", "join", "ops"]);
        assert!(joined.contains("joined ops"), "{joined}");
    }
    // Joining again is a no-op; joining it as members-only under some root is a conflict.
    cli_ok(&b, &["space", "join", "ops"]);
    let (ok, _, err) = b.cli(&["space", "join", &format!("ops@{}", a.peer_id())]);
    assert!(!ok);
    assert!(err.contains("open space"), "{err}");
    let (code, body) = b.call(
        "POST",
        "/v1/spaces",
        Some(json!({ "name": "ops@nonsense" })),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (code, body) = b.call("POST", "/v1/spaces", Some(json!({ "name": "Bad Name" })));
    assert_eq!(code, 400, "{body}");

    let (code, body) = a.call(
        "POST",
        "/v1/spaces/ops/procedures",
        Some(json!({ "name": "rotate the logs", "body": "logrotate -f" })),
    );
    assert_eq!(code, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    wait_for(WAIT, || {
        (b.call("GET", &format!("/v1/spaces/ops/procedures/{id}"), None)
            .0
            == 200)
            .then_some(())
    })
    .expect("b did not receive the op of the space joined at runtime");
    let ops: Value = serde_json::from_str(&cli_ok(&b, &["space", "list", "--json"])).unwrap();
    let ops = ops
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "ops")
        .unwrap()
        .clone();
    assert_eq!(ops["members_only"], false);
    assert_eq!(ops["role"], "open");
    assert_eq!(ops["join"], "ops");
    assert!(b.dir.join("spaces.json").exists());
    b.stop();
    b.launch();
    let (code, body) = b.call("GET", &format!("/v1/spaces/ops/procedures/{id}"), None);
    assert_eq!(code, 200, "{body}");
}
