//! Real nodes on 127.0.0.1 converge: 2 and 5 nodes, and contagion across the mesh.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_converged, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

#[test]
fn two_nodes_converge_on_procedures_outcomes_and_digest() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let p = a.add("restart the pod", &["k8s"]);
    wait_for(CONVERGE, || (b.ops() == 1).then_some(())).expect("b never saw the procedure");
    for _ in 0..3 {
        b.outcome(&p, true);
    }
    a.outcome(&p, false);
    a.outcome(&p, true);
    let digest = wait_converged(&[&a, &b], 6, CONVERGE);
    for node in [&a, &b] {
        let view = node.show(&p);
        assert_eq!(view["successes"], 4);
        assert_eq!(view["failures"], 1);
        assert_eq!(view["success_agents"], 2);
        assert_eq!(node.digest(), digest);
    }
    // libp2p's own metrics share the registry with knack's.
    let metrics = a.metrics();
    assert!(
        metrics.contains("libp2p_swarm_connections_established_total"),
        "{metrics}"
    );
    assert!(a.metric("knack_gossip_messages_total{direction=\"in\"}") >= 1.0);
}

#[test]
fn five_nodes_converge_with_writers_everywhere() {
    let a = TestNode::start("a", &[]);
    let seed = a.multiaddr();
    let others: Vec<TestNode> = ["b", "c", "d", "e"]
        .iter()
        .map(|n| TestNode::start(n, std::slice::from_ref(&seed)))
        .collect();
    let mut nodes: Vec<&TestNode> = vec![&a];
    nodes.extend(others.iter());
    let p = a.add("rotate certificates", &["tls"]);
    let q = others[1].add("renew the lease", &["db"]);
    wait_converged(&nodes, 2, CONVERGE);
    let mut writes = 2;
    for (i, node) in nodes.iter().enumerate() {
        for j in 0..4 {
            node.outcome(if j % 2 == 0 { &p } else { &q }, (i + j) % 3 != 0);
            writes += 1;
        }
    }
    let digest = wait_converged(&nodes, writes, CONVERGE);
    let (ps, qs) = (a.show(&p), a.show(&q));
    assert_eq!(
        ps["successes"].as_u64().unwrap() + ps["failures"].as_u64().unwrap(),
        10
    );
    assert_eq!(
        qs["successes"].as_u64().unwrap() + qs["failures"].as_u64().unwrap(),
        10
    );
    for node in &nodes {
        assert_eq!(node.show(&p), {
            let mut v = ps.clone();
            // boost and score depend on the time of the call; none here (no relations).
            v["boost"] = node.show(&p)["boost"].clone();
            v
        });
        assert_eq!(node.digest(), digest);
    }
}

#[test]
fn contagion_boosts_a_similar_procedure_on_a_remote_node() {
    let a = TestNode::start("a", &[]);
    let seed = a.multiaddr();
    let mid: Vec<TestNode> = ["b", "c", "d"]
        .iter()
        .map(|n| TestNode::start(n, std::slice::from_ref(&seed)))
        .collect();
    let e = TestNode::start("e", &[mid[2].multiaddr()]);
    let p = a.add("deploy with helm", &["deploy"]);
    let q = a.add("deploy with kustomize", &["deploy"]);
    let r = a.add("vacuum the database", &["db"]);
    a.link(&p, &q, "similar", 0.8);
    let mut nodes: Vec<&TestNode> = vec![&a, &e];
    nodes.extend(mid.iter());
    // Three adds, the link, and any `similar` edges A drew on its own.
    let written = a.ops();
    assert!(written >= 4);
    wait_converged(&nodes, written, CONVERGE);
    // Q and R get equal outcomes; P's successes are recorded on A.
    e.outcome(&q, true);
    e.outcome(&r, true);
    for _ in 0..5 {
        a.outcome(&p, true);
    }
    wait_converged(&nodes, written + 7, CONVERGE);
    let qv = e.show(&q);
    let rv = e.show(&r);
    assert_eq!(qv["successes"], rv["successes"]);
    assert_eq!(qv["confidence"], rv["confidence"]);
    assert!(qv["boost"].as_f64().unwrap() > 0.0, "{qv}");
    assert_eq!(rv["boost"].as_f64().unwrap(), 0.0);
    let (_, top) = e.call("GET", "/v1/spaces/default/top?n=10", None);
    let ids: Vec<&str> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert!(pos(&q) < pos(&r), "ranking on e: {top}");
}
