//! Restart from a snapshot: a clean stop writes one; a restart loads it and replays only later
//! ops; a stale snapshot (a crash after later writes) and a corrupt one both restore the exact
//! state.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::path::Path;

use knack_crdt::{Body, Outcome, ProcedureKind, SpaceName};
use knack_node::store::{FjallStore, Store};
use knack_node::{Config, NewProcedureRequest, Node, NodeBuilder};

fn config() -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        quic: false,
        ..Config::default()
    }
}

async fn start(dir: &Path) -> Node {
    NodeBuilder::new(dir)
        .config(config())
        .build()
        .await
        .unwrap()
}

async fn digest_and_ops(node: &Node) -> (String, u64) {
    let status = node.status().await.unwrap();
    (status.spaces[0].digest.clone(), status.spaces[0].ops)
}

fn with_store<T>(dir: &Path, f: impl FnOnce(&FjallStore) -> T) -> T {
    let store = FjallStore::open(&dir.join(knack_node::dirs::DB_DIR)).unwrap();
    let out = f(&store);
    store.flush().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_restore_the_exact_state_from_fresh_stale_or_corrupt_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let space = SpaceName::new("default").unwrap();
    let success = || Outcome {
        success: true,
        duration_ms: 5,
        contexts: vec!["ci".into()],
    };

    let node = start(dir).await;
    let id = node
        .add(
            &space,
            NewProcedureRequest {
                name: "bisect the failing test".into(),
                description: String::new(),
                kind: ProcedureKind::Steps,
                tags: vec![],
                body: Body::Inline(b"git bisect run cargo test".to_vec()),
            },
        )
        .await
        .unwrap();
    for _ in 0..10 {
        node.record_outcome(&space, id, success()).await.unwrap();
    }
    let first = digest_and_ops(&node).await;
    node.shutdown().await;
    let old_snapshot =
        with_store(dir, |s| s.snapshot(&space).unwrap()).expect("a snapshot at stop");

    let node = start(dir).await;
    assert_eq!(
        digest_and_ops(&node).await,
        first,
        "restored from the snapshot"
    );
    for _ in 0..5 {
        node.record_outcome(&space, id, success()).await.unwrap();
    }
    let second = digest_and_ops(&node).await;
    assert_eq!(second.1, 16);
    node.shutdown().await;

    // As if the node had crashed after those 5 writes: the snapshot is behind the log.
    with_store(dir, |s| s.put_snapshot(&space, &old_snapshot).unwrap());
    let node = start(dir).await;
    assert_eq!(
        digest_and_ops(&node).await,
        second,
        "stale snapshot + replay of later ops"
    );
    node.shutdown().await;

    with_store(dir, |s| s.put_snapshot(&space, b"\x01garbage").unwrap());
    let node = start(dir).await;
    assert_eq!(
        digest_and_ops(&node).await,
        second,
        "corrupt snapshot: full replay"
    );
    let view = node.get(&space, id).await.unwrap();
    assert_eq!(view.successes, 15);
    // New writes continue the sequence (no reuse of a sequence number after restore).
    node.record_outcome(&space, id, success()).await.unwrap();
    assert_eq!(digest_and_ops(&node).await.1, 17);
    node.shutdown().await;
}
