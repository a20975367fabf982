//! Peers that persist: a node restarted with no flag and no bootstrap list redials the peers
//! of its peer book and rejoins the mesh.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_converged, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

/// The peer ids a node reports as connected.
fn peers(node: &TestNode) -> Vec<String> {
    node.status()["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_hub_restarted_with_no_flags_redials_its_peer_book_and_converges() {
    // A is the hub: B and C know it only by the address it had before the restart.
    let mut a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let c = TestNode::start("c", &[a.multiaddr()]);
    let p = a.add("drain the node", &["k8s"]);
    // B and C record outcomes of A's procedure once they have it.
    for node in [&b, &c] {
        wait_for(CONVERGE, || (node.ops() >= 1).then_some(()))
            .unwrap_or_else(|| panic!("{} never received a's procedure", node.dir.display()));
    }
    b.outcome(&p, true);
    c.outcome(&p, false);
    wait_converged(&[&a, &b, &c], 3, CONVERGE);
    // A has saved (and flushed) both peers in its book.
    wait_for(CONVERGE, || {
        (a.metric("knack_peer_book_peers") >= 2.0).then_some(())
    })
    .unwrap_or_else(|| panic!("a never saved its peer book: {}", a.metrics()));
    let old_addr = a.multiaddr();

    a.kill9();
    b.outcome(&p, true);
    c.outcome(&p, true);
    // No flag: knack.toml of `knack init` (127.0.0.1, port 0: new ports, no bootstrap).
    let config = std::fs::read_to_string(a.dir.join("knack.toml")).unwrap();
    assert!(config.contains("bootstrap = []"), "{config}");
    a.launch_bare();
    assert_ne!(a.multiaddr(), old_addr, "a must come back on a new port");
    assert!(a.log().contains("dialing peers from the peer book"));

    let (pb, pc) = (b.peer_id().to_string(), c.peer_id().to_string());
    wait_for(CONVERGE, || {
        let now = peers(&a);
        (now.contains(&pb) && now.contains(&pc)).then_some(())
    })
    .unwrap_or_else(|| panic!("a did not reconnect to b and c: {:?}", peers(&a)));
    wait_converged(&[&a, &b, &c], 5, CONVERGE);
    let view = a.show(&p);
    assert_eq!(view["successes"], 3);
    assert_eq!(view["failures"], 1);
}
