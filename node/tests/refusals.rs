//! Small faults refused clearly, through the real binary and its HTTP API: control characters
//! in names, links to procedures that do not exist, a missing identity key next to an existing
//! store, an empty API token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use common::TestNode;
use serde_json::json;

#[test]
fn control_characters_in_names_are_refused_with_a_clear_error() {
    let a = TestNode::start("a", &[]);
    for name in [
        "clear\u{1b}[2Jscreen",
        "over\rwrite",
        "two\nlines",
        "bell\u{7}",
    ] {
        let (code, body) = a.call(
            "POST",
            "/v1/spaces/default/procedures",
            Some(json!({ "name": name })),
        );
        assert_eq!(code, 400, "{name:?}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("control characters"), "{error}");
        assert!(
            !error.contains('\u{1b}') && !error.contains('\r'),
            "{error:?}"
        );
    }
    let id = a.add("a fine name", &[]);
    let (code, body) = a.call(
        "PATCH",
        &format!("/v1/spaces/default/procedures/{id}"),
        Some(json!({ "name": "now\u{1b}]0;title\u{7}" })),
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = a.call(
        "PATCH",
        &format!("/v1/spaces/default/procedures/{id}"),
        Some(json!({ "description": "first line\n\tsecond line" })),
    );
    assert_eq!(code, 200, "a multi-line description is fine: {body}");
    let (code, body) = a.call(
        "PATCH",
        &format!("/v1/spaces/default/procedures/{id}"),
        Some(json!({ "description": "hidden\u{1b}[8m" })),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(a.show(&id)["name"], "a fine name");
    assert_eq!(a.ops(), 2, "the add and the valid edit only");
}

#[test]
fn links_to_procedures_that_do_not_exist_are_refused() {
    let a = TestNode::start("a", &[]);
    let p = a.add("real", &[]);
    let q = a.add("also real", &[]);
    let ops = a.ops();
    let ghost = "cd".repeat(32);
    for (from, to) in [(&p, &ghost), (&ghost, &p)] {
        let (code, body) = a.call(
            "POST",
            "/v1/spaces/default/links",
            Some(json!({ "from": from, "to": to, "kind": "similar", "strength": 0.5 })),
        );
        assert_eq!(
            (code, body["kind"].as_str()),
            (404, Some("unknown_procedure")),
            "{body}"
        );
        assert!(body["error"].as_str().unwrap().contains(&ghost), "{body}");
    }
    let (ok, _, err) = a.cli(&["link", &p, &ghost, "--kind", "next"]);
    assert!(!ok);
    assert!(err.contains(&ghost), "{err}");
    assert_eq!(a.ops(), ops, "nothing stored");
    a.link(&p, &q, "next", 1.0);
    assert_eq!(
        a.ops(),
        ops + 1,
        "a link between real procedures still works"
    );
}

#[test]
fn a_missing_identity_key_next_to_a_store_is_never_replaced() {
    let mut a = TestNode::start("a", &[]);
    a.add("written under the first identity", &[]);
    let agent = a.status()["agent_id"].as_str().unwrap().to_owned();
    a.stop();
    let key = a.dir.join("identity.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();

    let stderr = common::run_refused(&a.dir);
    assert!(
        stderr.contains("identity.key") && stderr.contains("missing"),
        "{stderr}"
    );
    assert!(stderr.contains("holds a store"), "{stderr}");
    assert!(!key.exists(), "no new identity was written");
    let (ok, _, err) = a.cli(&["init"]);
    assert!(!ok, "init refuses too");
    assert!(err.contains("identity.key"), "{err}");
    assert!(!key.exists());

    // With the key restored, the node is itself again.
    std::fs::write(&key, saved).unwrap();
    a.launch();
    assert_eq!(a.status()["agent_id"], agent.as_str());
    assert_eq!(a.ops(), 1);
}

#[test]
fn an_empty_api_token_is_refused_at_start() {
    let mut a = TestNode::init("a", &[]);
    std::fs::write(a.dir.join("api.token"), "  \n").unwrap();
    let stderr = common::run_refused(&a.dir);
    assert!(stderr.contains("api.token"), "{stderr}");
    assert!(stderr.contains("empty"), "{stderr}");
    std::fs::write(a.dir.join("api.token"), "a-token").unwrap();
    a.token = "a-token".into();
    a.launch();
    assert_eq!(a.ops(), 0, "starts with a non-empty token");
}

#[test]
fn knack_show_never_prints_control_characters_raw() {
    use knack_crdt::{Body, Change, Delta, Hlc, Lww, NewProcedure, ProcedureKind, Space, Stamp};
    let mut a = TestNode::init("a", &[]);
    a.set_config("kademlia", "false");
    a.launch();
    // An older peer, whose node accepted control characters, wrote a name with a terminal
    // escape: it replicates (received ops are not re-judged), and must print escaped.
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = knack_protocol::agent_id(&key).unwrap();
    let space = knack_crdt::SpaceName::new("default").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let (id, create) = Space::new(space.clone())
        .add_procedure(
            me,
            Hlc::at(now),
            NewProcedure {
                nonce: 1,
                name: "harmless".into(),
                description: String::new(),
                kind: ProcedureKind::Steps,
                tags: vec![],
                body: Body::Inline(b"steps".to_vec()),
            },
        )
        .unwrap();
    let rename = Delta::new(vec![Change::Name {
        id,
        value: Lww::new(
            Stamp::new(me, Hlc::at(now + 1)),
            "evil\u{1b}[2J\u{1b}]0;pwned\u{7}name".into(),
        ),
    }]);
    let envelopes = [
        knack_protocol::Envelope::seal(&key, space.clone(), 1, vec![(Hlc::at(now), create)])
            .unwrap(),
        knack_protocol::Envelope::seal(&key, space, 2, vec![(Hlc::at(now + 1), rename)]).unwrap(),
    ];
    common::push_envelopes(a.multiaddr().parse().unwrap(), &key, &envelopes);
    common::wait_for(std::time::Duration::from_secs(10), || {
        (a.ops() == 2).then_some(())
    })
    .expect("the peer's ops applied");
    for args in [vec!["show", &id.to_hex()], vec!["top"]] {
        let (ok, out, err) = a.cli(&args.iter().map(|s| &**s).collect::<Vec<_>>());
        assert!(ok, "{err}");
        assert!(
            !out.contains(&0x1b) && !out.contains(&0x07),
            "raw control bytes: {out:?}"
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("evil\\u{1b}[2J"), "{text}");
    }
}
