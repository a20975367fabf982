//! Crystallization end to end: successes from two agents on two nodes crystallize a procedure
//! on both, and its body is then frozen (HTTP 409 with a clear message).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_converged};
use serde_json::json;

#[test]
fn two_agents_crystallize_a_procedure_and_its_body_freezes() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let p = a.add("drain the node before upgrading", &["k8s"]);
    wait_converged(&[&a, &b], 1, Duration::from_secs(60));
    // 36 straight successes from two agents: Wilson lower bound 0.904 >= 0.9.
    for _ in 0..18 {
        a.outcome(&p, true);
        b.outcome(&p, true);
    }
    // Each node may also write the crystallization transition it sees called for; the latch
    // merges them into one state.
    let converged = common::wait_for(Duration::from_secs(60), || {
        let (va, vb) = (a.show(&p), b.show(&p));
        let done = va["successes"] == 36 && vb["successes"] == 36;
        (done
            && va["crystallized"] == true
            && vb["crystallized"] == true
            && a.digest() == b.digest())
        .then_some(va)
    })
    .expect("not crystallized on both nodes");
    assert_eq!(converged["successes"], 36);
    assert_eq!(converged["success_agents"], 2);

    let (code, body) = b.call(
        "PATCH",
        &format!("/v1/spaces/default/procedures/{p}"),
        Some(json!({ "body": "kubectl delete node --force" })),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["kind"], "crystallized");
    assert!(body["error"].as_str().unwrap().contains("supersedes"));
    let (code, _) = b.call(
        "PATCH",
        &format!("/v1/spaces/default/procedures/{p}"),
        Some(json!({ "description": "proven by two agents" })),
    );
    assert_eq!(code, 200, "metadata stays editable");
    let (_, top) = a.call("GET", "/v1/spaces/default/top?crystallized=true", None);
    assert_eq!(top[0]["id"], p.as_str());
}
