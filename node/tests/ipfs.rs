//! The IPFS tier with a real IPFS daemon (js-ipfs, loopback only; run through
//! `tools/test.sh`): large and crystallized bodies pinned, reads falling back to IPFS, pin jobs
//! surviving an outage, a CID with other content refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, body_of, wait_for};
use knack_ipfs::{DevDaemon, IpfsApi, KuboRpc};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

fn daemon() -> (tempfile::TempDir, DevDaemon) {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DevDaemon::start(dir.path().join("repo")).expect(
        "an IPFS dev daemon: run the tests with `bash tools/test.sh` (it installs js-ipfs and \
         runs them in a loopback-only network namespace)",
    );
    (dir, daemon)
}

fn node_with_ipfs(name: &str, bootstrap: &[String], api: &str) -> TestNode {
    let mut node = TestNode::init(name, bootstrap);
    node.run_args(&["--ipfs-api", api]);
    node.launch();
    node
}

/// Asks the daemon itself (its HTTP API, not knack) whether `cid` is pinned.
fn daemon_pins(daemon: &DevDaemon, cid: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent
        .post(format!("{}/api/v0/pin/ls?arg={cid}", daemon.api_url()))
        .send_empty()
        .unwrap();
    let ok = response.status().is_success();
    let text = response.body_mut().read_to_string().unwrap();
    ok && text.contains(cid)
}

/// The CID the node knows for the body of `id` (none while it does not know `id`).
fn cid_of(node: &TestNode, id: &str) -> Option<String> {
    let (code, view) = node.call("GET", &format!("/v1/spaces/default/procedures/{id}"), None);
    (code == 200).then_some(())?;
    view["body"]["cid"].as_str().map(str::to_owned)
}

#[test]
fn a_large_body_is_pinned_and_read_back_from_ipfs_when_no_peer_has_it() {
    let (_d, daemon) = daemon();
    let mut a = node_with_ipfs("a", &[], &daemon.api_url());
    let body = body_of(1 << 20, 3);
    let id = a.add_file("a large body", &body);
    let cid =
        wait_for(WAIT, || cid_of(&a, &id)).unwrap_or_else(|| panic!("never pinned: {}", a.log()));
    assert!(cid.starts_with('b'), "CIDv1 in base32: {cid}");
    assert!(
        daemon_pins(&daemon, &cid),
        "the daemon does not list {cid} as pinned"
    );
    let status = a.status();
    let ipfs = &status["content"]["ipfs"];
    assert_eq!(ipfs["healthy"], true, "{status}");
    assert_eq!(ipfs["pinned_by_this_node"], 1, "{status}");
    assert_eq!(ipfs["pending_jobs"], 0, "{status}");
    let (ok, human, _) = a.cli(&["status"]);
    assert!(ok && String::from_utf8_lossy(&human).contains("healthy"));

    // B learns the CID with the op, then every peer holding the body goes away.
    let b = node_with_ipfs("b", &[a.multiaddr()], &daemon.api_url());
    wait_for(WAIT, || cid_of(&b, &id)).expect("b never learned the CID");
    a.stop();
    let (ok, printed, err) = b.cli(&["show", &id, "--body"]);
    assert!(ok, "{err}\n{}", b.log());
    assert!(printed == body, "the body read through IPFS differs");
    assert!(b.log().contains("reading it from IPFS"));
}

#[test]
fn a_crystallized_body_is_pinned() {
    let (_d, daemon) = daemon();
    let a = node_with_ipfs("a", &[], &daemon.api_url());
    let b = TestNode::start("b", &[a.multiaddr()]);
    let (code, created) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(serde_json::json!({"name": "rotate the keys", "body": "step 1: rotate"})),
    );
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    wait_for(WAIT, || (b.ops() >= 1).then_some(())).unwrap();
    assert_eq!(
        cid_of(&a, &id),
        None,
        "a small body is not pinned before it crystallizes"
    );
    for i in 0..36 {
        if i % 2 == 0 {
            a.outcome(&id, true)
        } else {
            b.outcome(&id, true)
        };
    }
    wait_for(WAIT, || {
        (a.show(&id)["crystallized"] == Value::Bool(true)).then_some(())
    })
    .expect("never crystallized");
    let cid = wait_for(WAIT, || cid_of(&a, &id))
        .unwrap_or_else(|| panic!("crystallized body never pinned: {}", a.log()));
    assert!(daemon_pins(&daemon, &cid));
    wait_for(WAIT, || cid_of(&b, &id)).expect("the CID never reached b");
}

#[test]
fn pin_jobs_survive_an_ipfs_outage() {
    let (_d, mut daemon) = daemon();
    let a = node_with_ipfs("a", &[], &daemon.api_url());
    daemon.stop().unwrap();
    let id = a.add_file("queued while ipfs is down", &body_of(300_000, 5));
    let status = wait_for(WAIT, || {
        let s = a.status();
        (s["content"]["ipfs"]["healthy"] == Value::Bool(false)
            && s["content"]["ipfs"]["pending_jobs"] == 1
            && s["content"]["ipfs"]["last_error"].is_string())
        .then_some(s)
    })
    .unwrap_or_else(|| panic!("the outage never showed: {}", a.status()));
    assert!(
        status["content"]["ipfs"]["last_error"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    assert_eq!(cid_of(&a, &id), None);
    daemon.restart().unwrap();
    let cid = wait_for(WAIT, || cid_of(&a, &id))
        .unwrap_or_else(|| panic!("the job never completed: {}", a.log()));
    assert!(daemon_pins(&daemon, &cid));
    assert!(a.metric("knack_ipfs_errors_total{reason=\"pin\"}") >= 1.0);
}

#[test]
fn a_cid_whose_content_does_not_match_is_refused() {
    let (_d, daemon) = daemon();
    let other_cid = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = KuboRpc::new(&daemon.api_url()).unwrap();
        client.add_bytes(body_of(200_000, 99)).await.unwrap()
    });
    let mut a = TestNode::start("a", &[]);
    let id = a.add_file("the real body", &body_of(200_000, 1));
    let (ok, out, err) = a.cli(&["pin", &id, "--cid", other_cid.as_str()]);
    assert!(ok, "{err}");
    assert!(String::from_utf8_lossy(&out).contains(other_cid.as_str()));
    let b = node_with_ipfs("b", &[a.multiaddr()], &daemon.api_url());
    wait_for(WAIT, || cid_of(&b, &id)).expect("b never learned the CID");
    a.stop();
    let (code, refused) = b.call(
        "GET",
        &format!("/v1/spaces/default/procedures/{id}/body"),
        None,
    );
    assert_eq!(code, 502, "{refused}");
    assert_eq!(refused["kind"], "body_mismatch");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("does not match")
    );
    assert_eq!(
        b.metric("knack_ipfs_errors_total{reason=\"mismatch\"}"),
        1.0
    );
    assert_eq!(
        b.status()["content"]["blobs"],
        0,
        "nothing unverified was kept"
    );
}

/// Every CID the node knows for the body of `id`.
fn cids_of(node: &TestNode, id: &str) -> Vec<String> {
    let (code, view) = node.call("GET", &format!("/v1/spaces/default/procedures/{id}"), None);
    if code != 200 {
        return Vec::new();
    }
    view["body"]["cids"]
        .as_array()
        .map(|cids| {
            cids.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_bogus_cid_recorded_by_another_agent_does_not_hide_the_good_one() {
    let (_d, daemon) = daemon();
    let mut a = node_with_ipfs("a", &[], &daemon.api_url());
    let body = body_of(300_000, 5);
    let id = a.add_file("the real body", &body);
    let good = wait_for(WAIT, || cid_of(&a, &id)).expect("never pinned");
    // Other content on the same daemon whose CID sorts before the good one: the single
    // "smallest CID wins" register of protocol version 3 would have kept only the bogus one.
    let bogus = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = KuboRpc::new(&daemon.api_url()).unwrap();
        for seed in 100..200 {
            let cid = client.add_bytes(body_of(1_000, seed)).await.unwrap();
            if cid.to_string() < good {
                return cid.to_string();
            }
        }
        panic!("no CID sorting before {good} in 100 tries");
    });
    // Mallory, another agent, records the bogus CID through the ordinary interface.
    let mut mallory = TestNode::start("mallory", &[a.multiaddr()]);
    wait_for(WAIT, || (!cids_of(&mallory, &id).is_empty()).then_some(()))
        .expect("mallory never learned the procedure");
    let (ok, _, err) = mallory.cli(&["pin", &id, "--cid", bogus.as_str()]);
    assert!(ok, "{err}");
    let b = node_with_ipfs(
        "b",
        &[a.multiaddr(), mallory.multiaddr()],
        &daemon.api_url(),
    );
    let both = wait_for(WAIT, || {
        let cids = cids_of(&b, &id);
        (cids.len() == 2).then_some(cids)
    })
    .unwrap_or_else(|| panic!("b never learned both CIDs: {:?}", cids_of(&b, &id)));
    assert_eq!(both, vec![bogus.clone(), good.clone()], "sorted, both kept");
    a.stop();
    mallory.stop();
    let (ok, printed, err) = b.cli(&["show", &id, "--body"]);
    assert!(ok, "{err}\n{}", b.log());
    assert!(printed == body, "the body read through IPFS differs");
    assert_eq!(
        b.metric("knack_ipfs_errors_total{reason=\"mismatch\"}"),
        1.0,
        "the bogus CID was tried first and refused"
    );
}
