//! A space with a member list: ops by other authors are rejected and counted; members' ops
//! are applied. Node behaviour, not the binary's: the three nodes run in this process, on
//! libp2p's memory transport with memory stores (`NodeBuilder::transport`, `::store`).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::sync::Arc;
use std::time::Duration;

use knack_crdt::{Body, ProcedureKind, SpaceName};
use knack_node::store::MemoryStore;
use knack_node::{Config, NewProcedureRequest, Node, NodeBuilder, Transport};

const WAIT: Duration = Duration::from_secs(30);

/// A node in this process listening on `/memory/<port>`.
async fn start(dir: &std::path::Path, port: u64, config: Config) -> Node {
    NodeBuilder::new(dir)
        .config(Config {
            listen: vec![format!("/memory/{port}").parse().unwrap()],
            quic: false,
            kademlia: false,
            sync_interval_ms: 200,
            ..config
        })
        .store(Arc::new(MemoryStore::new()))
        .transport(Transport::Memory)
        .build()
        .await
        .unwrap()
}

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

/// Waits until `check` holds of `node`, for up to [`WAIT`].
async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let done = tokio::time::timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(done.is_ok(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_write_a_members_only_space() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let space = SpaceName::new("default").unwrap();
    let base = 20_000 + u64::from(std::process::id() % 10_000) * 3;
    let member_key = knack_node::identity::create(dirs[0].path()).unwrap();
    let mut config = Config::default();
    config
        .members
        .insert(space.clone(), vec![member_key.public().to_peer_id()]);
    let guarded = start(dirs[1].path(), base, config).await;
    let at_guarded: libp2p::Multiaddr = format!(
        "/memory/{base}/p2p/{}",
        guarded.status().await.unwrap().peer_id
    )
    .parse()
    .unwrap();

    let outsider = start(
        dirs[2].path(),
        base + 1,
        Config {
            bootstrap: vec![at_guarded.clone()],
            ..Config::default()
        },
    )
    .await;
    outsider
        .add(&space, procedure("not welcome"))
        .await
        .unwrap();
    let rejected = "knack_envelopes_rejected_total{reason=\"not_member\"}";
    wait_until("no not_member rejection", async || {
        guarded
            .encode_metrics()
            .lines()
            .any(|l| l.starts_with(rejected) && !l.ends_with(" 0"))
    })
    .await;
    assert_eq!(ops(&guarded).await, 0);

    let member = start(
        dirs[0].path(),
        base + 2,
        Config {
            bootstrap: vec![at_guarded],
            ..Config::default()
        },
    )
    .await;
    member.add(&space, procedure("welcome")).await.unwrap();
    wait_until("the member's op was not applied", async || {
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
