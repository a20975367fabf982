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
