//! A space with a member list: ops by other authors are rejected and counted; members' ops
//! are applied. Node behaviour, not the binary's: the three nodes run in this process, on
//! libp2p's memory transport with memory stores (`NodeBuilder::transport`, `::store`).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::memory_node::{ports, start, wait_until};
use knack_crdt::{Body, ProcedureKind, SpaceName};
use knack_node::{Config, NewProcedureRequest, Node};

const WAIT: Duration = Duration::from_secs(30);

fn procedure(name: &str) -> NewProcedureRequest {
    NewProcedureRequest {
        name: name.into(),
        description: String::new(),
        kind: ProcedureKind::Steps,
        tags: vec![],
        body: Body::Inline(b"steps".to_vec()),
    }
}

async fn ops(node: &Node) -> u64 {
    node.status().await.unwrap().spaces[0].ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_write_a_members_only_space() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let space = SpaceName::new("default").unwrap();
    let port: Vec<u64> = ports(20_000, 3).collect();
    let member_key = knack_node::identity::create(dirs[0].path()).unwrap();
    let mut config = Config::default();
    config
        .members
        .insert(space.clone(), vec![member_key.public().to_peer_id()]);
    let (guarded, _, at_guarded) = start(dirs[1].path(), port[0], config, None).await;

    let (outsider, _, _) = start(
        dirs[2].path(),
        port[1],
        Config {
            bootstrap: vec![at_guarded.clone()],
            ..Config::default()
        },
        None,
    )
    .await;
    outsider
        .add(&space, procedure("not welcome"))
        .await
        .unwrap();
    let rejected = "knack_envelopes_rejected_total{reason=\"not_member\"}";
    wait_until("no not_member rejection", WAIT, async || {
        guarded
            .encode_metrics()
            .lines()
            .any(|l| l.starts_with(rejected) && !l.ends_with(" 0"))
    })
    .await;
    assert_eq!(ops(&guarded).await, 0);

    let (member, _, _) = start(
        dirs[0].path(),
        port[2],
        Config {
            bootstrap: vec![at_guarded],
            ..Config::default()
        },
        None,
    )
    .await;
    member.add(&space, procedure("welcome")).await.unwrap();
    wait_until("the member's op was not applied", WAIT, async || {
        ops(&guarded).await == 1
    })
    .await;
    guarded
        .add(&space, procedure("the guarded node may always write"))
        .await
        .unwrap();
    assert_eq!(ops(&guarded).await, 2);
    for node in [guarded, outsider, member] {
        node.shutdown().await;
    }
}
