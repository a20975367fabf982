//! A space with a member list: ops by other authors are rejected and counted; members' ops
//! are applied.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_for};
use knack_crdt::SpaceName;

#[test]
fn only_members_write_a_members_only_space() {
    let mut member = TestNode::init("member", &[]);
    let mut guarded = TestNode::init("guarded", &[]);
    let mut config = knack_node::Config::load(&guarded.dir).unwrap();
    config
        .members
        .insert(SpaceName::new("default").unwrap(), vec![member.peer_id()]);
    config.save(&guarded.dir).unwrap();
    guarded.launch();

    let outsider = TestNode::start("outsider", &[guarded.multiaddr()]);
    outsider.add("not welcome", &[]);
    wait_for(Duration::from_secs(30), || {
        (guarded.metric("knack_envelopes_rejected_total{reason=\"not_member\"}") >= 1.0)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no not_member rejection:\n{}", guarded.metrics()));
    assert_eq!(guarded.ops(), 0);

    member.bootstrap_to(guarded.multiaddr());
    member.launch();
    member.add("welcome", &[]);
    wait_for(Duration::from_secs(30), || {
        (guarded.ops() == 1).then_some(())
    })
    .expect("the member's op was not applied");
    let own = guarded.add("the guarded node may always write", &[]);
    assert_eq!(own.len(), 64);
    assert_eq!(guarded.ops(), 2);
}
