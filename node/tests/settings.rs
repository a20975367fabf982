//! A space's replicated settings through the user's interface (real `knack` processes, the CLI
//! and the HTTP API): shown with their defaults, changed by `knack settings --set`, taken by
//! every replica, acted on at once (new crystallization thresholds crystallize a procedure that
//! meets them; evidence weighting changes the weighted counts), refused clearly when out of
//! range, misspelt or empty (nothing changes), and in a members-only space changed by admins
//! only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// Runs the CLI and expects success; returns stdout.
fn cli_ok(node: &TestNode, args: &[&str]) -> String {
    let (ok, out, err) = node.cli(args);
    assert!(ok, "{} {args:?} failed: {err}", node.name);
    String::from_utf8(out).unwrap()
}

/// `knack settings --json` (plus `args`) on `node`, parsed.
fn settings(node: &TestNode, space: &str, args: &[&str]) -> Value {
    let mut all = vec!["settings", "--space", space, "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&cli_ok(node, &all)).unwrap()
}

#[test]
fn settings_are_shown_changed_replicated_acted_on_and_checked() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let peer_a = a.peer_id().to_string();

    // The defaults, and nobody who set them.
    let defaults = settings(&a, "default", &[]);
    assert_eq!(defaults["space"], "default");
    assert!(defaults.get("set_by").is_none(), "{defaults}");
    assert_eq!(defaults["evidence_weighting"], false);
    assert_eq!(defaults["crystallize_min_outcomes"], 20);
    assert_eq!(defaults["contagion_hops"], 3);
    let text = cli_ok(&a, &["settings"]);
    assert!(text.contains("set by nobody: the defaults"), "{text}");
    assert!(text.contains("evidence_weighting"), "{text}");

    // Three successes by one agent: far below the default thresholds.
    let id = a.add("restart the cache", &["ops"]);
    for _ in 0..3 {
        a.outcome(&id, true);
    }
    let before = a.show(&id);
    assert_eq!(before["crystallized"], false, "{before}");
    assert_eq!(before["weighted_successes"], 3.0, "{before}");

    // Lower thresholds: the procedure meets them and crystallizes at once, without another
    // outcome (the node proposes the transition when the settings change).
    let lowered = settings(
        &a,
        "default",
        &[
            "--set",
            "crystallize_min_outcomes=3",
            "--set",
            "crystallize_min_agents=1",
            "--set",
            "crystallize_confidence=0.3",
            "--set",
            "melt_confidence=0.2",
        ],
    );
    assert_eq!(lowered["set_by"], peer_a.as_str(), "{lowered}");
    assert_eq!(lowered["crystallize_min_outcomes"], 3);
    assert_eq!(lowered["crystallize_confidence"], 0.3);
    assert_eq!(
        lowered["contagion_hops"], 3,
        "untouched fields keep their value"
    );
    assert_eq!(a.show(&id)["crystallized"], true);

    // Two agents report on three procedures (a fresh identity, or one whose reports nobody
    // else corroborates, weighs nothing: weights come from agreement with other agents).
    let ids = [
        id.clone(),
        a.add("flush the queue", &["ops"]),
        a.add("rotate the logs", &["ops"]),
    ];
    for id in &ids[1..] {
        a.outcome(id, true);
        a.outcome(id, true);
    }
    wait_for(WAIT, || {
        ids.iter()
            .all(|id| {
                b.call("GET", &format!("/v1/spaces/default/procedures/{id}"), None)
                    .0
                    == 200
            })
            .then_some(())
    })
    .expect("b never got the procedures");
    for id in &ids {
        b.outcome(id, true);
        b.outcome(id, true);
    }
    let successes = |node: &TestNode, id: &str| {
        let (_, body) = node.call("GET", &format!("/v1/spaces/default/procedures/{id}"), None);
        body["successes"].as_u64()
    };
    for node in [&a, &b] {
        wait_for(WAIT, || {
            (successes(node, &ids[0]) == Some(5)
                && successes(node, &ids[1]) == Some(4)
                && successes(node, &ids[2]) == Some(4))
            .then_some(())
        })
        .unwrap_or_else(|| panic!("{} never saw every outcome", node.name));
    }
    assert_eq!(
        a.show(&ids[0])["weighted_successes"],
        5.0,
        "weighting off: counts"
    );

    // Evidence weighting on: both agents agree but have little history (6 co-reported uses
    // each), so their reports weigh less than their count (ARCHITECTURE.md "Weighted
    // evidence").
    let weighted = settings(&a, "default", &["--set", "evidence_weighting=true"]);
    assert_eq!(weighted["evidence_weighting"], true);
    assert_eq!(
        weighted["crystallize_min_outcomes"], 3,
        "earlier change kept"
    );
    let after = a.show(&ids[0]);
    let w = after["weighted_successes"].as_f64().unwrap();
    assert!(w > 0.0 && w < 5.0, "weighting on: {after}");
    assert_eq!(after["successes"], 5);

    // The peer takes the same settings, and so derives the same values.
    let on_b = wait_for(WAIT, || {
        let s = settings(&b, "default", &[]);
        (s["evidence_weighting"] == true).then_some(s)
    })
    .expect("b never took a's settings");
    assert_eq!(on_b, weighted);
    let b_view = b.show(&ids[0]);
    assert_eq!(b_view["crystallized"], true, "{b_view}");
    assert_eq!(b_view["weighted_successes"], after["weighted_successes"]);

    // Bad patches: clear errors, nothing changed.
    for (patch, code, kind) in [
        (json!({ "contagion_factor": 1.5 }), 400, "invalid"),
        (json!({ "melt_confidence": 0.5 }), 400, "invalid"), // above crystallize (0.3)
        (json!({ "contagion_hops": 7 }), 400, "invalid"),
        (json!({ "evidence_weight": false }), 400, "bad_request"),
        (json!({ "contagion_hops": "two" }), 400, "bad_request"),
        (json!({}), 400, "bad_request"),
    ] {
        let (got, body) = a.call("PATCH", "/v1/spaces/default/settings", Some(patch.clone()));
        assert_eq!(
            (got, body["kind"].as_str()),
            (code, Some(kind)),
            "{patch}: {body}"
        );
    }
    let (code, body) = a.call(
        "PATCH",
        "/v1/spaces/nowhere/settings",
        Some(json!({ "contagion_hops": 2 })),
    );
    assert_eq!((code, body["kind"].as_str()), (404, Some("unknown_space")));
    let (ok, _, err) = a.cli(&["settings", "--set", "evidence_weighting=maybe"]);
    assert!(!ok && err.contains("number or true/false"), "{err}");
    let (ok, _, err) = a.cli(&["settings", "--set", "contagion_hop=2"]);
    assert!(!ok && err.contains("contagion_hop"), "{err}");
    assert_eq!(
        settings(&a, "default", &[]),
        weighted,
        "refused patches changed nothing"
    );
    assert!(a.status()["peer_id"].is_string(), "the node keeps running");
}

#[test]
fn in_a_members_only_space_only_admins_change_the_settings() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let (peer_a, peer_b) = (a.peer_id().to_string(), b.peer_id().to_string());
    let address = cli_ok(&a, &["space", "create", "team", "--members-only"]);
    cli_ok(&b, &["space", "join", address.trim()]);
    cli_ok(&a, &["members", "add", "--space", "team", &peer_b]);
    wait_for(WAIT, || {
        let members: Value = serde_json::from_str(&cli_ok(
            &b,
            &["members", "list", "--space", "team", "--json"],
        ))
        .unwrap();
        members["members"]
            .as_array()?
            .iter()
            .any(|m| m["peer_id"] == peer_b.as_str() && m["role"] == "member")
            .then_some(())
    })
    .expect("b never saw itself a member");

    // A member that is no admin: refused by its own node, clearly; nothing changed.
    let (code, body) = b.call(
        "PATCH",
        "/v1/spaces/team/settings",
        Some(json!({ "evidence_weighting": true })),
    );
    assert_eq!(
        (code, body["kind"].as_str()),
        (403, Some("not_admin")),
        "{body}"
    );
    assert_eq!(settings(&b, "team", &[])["evidence_weighting"], false);

    // The root admin changes them; the member takes the change.
    let changed = settings(&a, "team", &["--set", "evidence_weighting=true"]);
    assert_eq!(changed["set_by"], peer_a.as_str());
    let on_b = wait_for(WAIT, || {
        let s = settings(&b, "team", &[]);
        (s["evidence_weighting"] == true).then_some(s)
    })
    .expect("b never took the admin's settings");
    assert_eq!(on_b, changed);

    // Made an admin, b may change them too.
    cli_ok(
        &a,
        &["members", "add", "--admin", "--space", "team", &peer_b],
    );
    let changed_by_b = wait_for(WAIT, || {
        let (code, body) = b.call(
            "PATCH",
            "/v1/spaces/team/settings",
            Some(json!({ "contagion_hops": 2 })),
        );
        (code == 200).then_some(body)
    })
    .expect("b, an admin, could not change the settings");
    assert_eq!(changed_by_b["set_by"], peer_b.as_str());
    assert_eq!(changed_by_b["evidence_weighting"], true);
    wait_for(WAIT, || {
        (settings(&a, "team", &[])["contagion_hops"] == 2).then_some(())
    })
    .expect("a never took b's settings");
}
