//! Nodes in one process with no socket and no disk store: `NodeBuilder::transport(Memory)` and
//! `NodeBuilder::store(MemoryStore)`. Three nodes in a line converge on the same digest, the
//! middle one relaying, and the stores given to them hold the ops (what a restart would read).
//! `NodeBuilder::ipfs` gives a node its IPFS client: one wrapping a real IPFS daemon (js-ipfs,
//! loopback only: run through `tools/test.sh`) pins a large body.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use knack_ipfs::{Cid, DevDaemon, IpfsApi, IpfsError, KuboRpc};

use common::memory_node::{ports, start};
use knack_crdt::{Body, Outcome, ProcedureKind, SpaceName};
use knack_node::store::Store;
use knack_node::{Config, NewProcedureRequest, Node};

const WAIT: Duration = Duration::from_secs(30);

async fn digest_and_ops(node: &Node) -> (String, u64) {
    let status = node.status().await.unwrap();
    (status.spaces[0].digest.clone(), status.spaces[0].ops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_the_memory_transport_with_memory_stores_converge_through_a_relay() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let port: Vec<u64> = ports(40_000, 3).collect();
    let bootstrap = |to| Config {
        bootstrap: vec![to],
        ..Config::default()
    };
    let (a, a_store, a_addr) = start(dirs[0].path(), port[0], Config::default(), None).await;
    let (b, _, b_addr) = start(dirs[1].path(), port[1], bootstrap(a_addr), None).await;
    let (c, c_store, _) = start(dirs[2].path(), port[2], bootstrap(b_addr), None).await;

    let space = SpaceName::new("default").unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = a
            .add(
                &space,
                NewProcedureRequest {
                    name: format!("rotate the certificates, way {i}"),
                    description: "in process".into(),
                    kind: ProcedureKind::Tool,
                    tags: vec!["memory".into()],
                    body: Body::Inline(format!("step {i}").into_bytes()),
                },
            )
            .await
            .unwrap();
        ids.push(id);
    }
    // c writes too: its outcome must reach a through b.
    let converged = tokio::time::timeout(WAIT, async {
        loop {
            if digest_and_ops(&c).await.1 >= digest_and_ops(&a).await.1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(converged.is_ok(), "c never caught up with a");
    c.record_outcome(
        &space,
        ids[2],
        Outcome {
            success: true,
            duration_ms: 5,
            contexts: vec![],
        },
    )
    .await
    .unwrap();

    let all_equal = tokio::time::timeout(WAIT, async {
        loop {
            let (da, db, dc) = (
                digest_and_ops(&a).await,
                digest_and_ops(&b).await,
                digest_and_ops(&c).await,
            );
            if da == db && db == dc && da.1 > 5 {
                break da;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (_, ops) = all_equal.expect("the three nodes never reached the same digest");
    let shown = a.get(&space, ids[2]).await.unwrap();
    assert_eq!(shown.successes, 1, "c's outcome did not reach a");

    // The given stores hold the ops (what a restart would replay): a stop flushes them.
    for node in [&a, &b, &c] {
        node.shutdown().await;
    }
    for (name, store) in [("a", &a_store), ("c", &c_store)] {
        let held: u64 = store
            .scan_envelopes(&space)
            .unwrap()
            .iter()
            .map(|(key, _)| key.last_seq - key.first_seq + 1)
            .sum();
        assert!(
            held >= ops,
            "{name}'s store holds {held} ops, the space {ops}"
        );
    }
}

/// A real Kubo RPC client that counts what knack asks of it.
struct Counting {
    inner: KuboRpc,
    adds: AtomicUsize,
}

#[async_trait::async_trait]
impl IpfsApi for Counting {
    async fn version(&self) -> Result<String, IpfsError> {
        self.inner.version().await
    }

    async fn add_file(&self, path: &Path) -> Result<Cid, IpfsError> {
        self.adds.fetch_add(1, Ordering::SeqCst);
        self.inner.add_file(path).await
    }

    async fn add_bytes(&self, bytes: Vec<u8>) -> Result<Cid, IpfsError> {
        self.adds.fetch_add(1, Ordering::SeqCst);
        self.inner.add_bytes(bytes).await
    }

    async fn pin_add(&self, cid: &Cid) -> Result<(), IpfsError> {
        self.inner.pin_add(cid).await
    }

    async fn is_pinned(&self, cid: &Cid) -> Result<bool, IpfsError> {
        self.inner.is_pinned(cid).await
    }

    async fn fetch_verified(
        &self,
        cid: &Cid,
        expected_blake3: [u8; 32],
        expected_size: u64,
        dest: &Path,
        timeout: Duration,
    ) -> Result<(), IpfsError> {
        self.inner
            .fetch_verified(cid, expected_blake3, expected_size, dest, timeout)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipfs_client_given_to_the_builder_pins_a_large_body() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = DevDaemon::start(tmp.path().join("repo")).expect(
        "an IPFS dev daemon: run the tests with `bash tools/test.sh` (it installs js-ipfs and \
         runs them in a loopback-only network namespace)",
    );
    let client = Arc::new(Counting {
        inner: KuboRpc::new(&daemon.api_url()).unwrap(),
        adds: AtomicUsize::new(0),
    });
    let port = ports(50_000, 1).next().unwrap();
    let (node, _, _) = start(
        &tmp.path().join("node"),
        port,
        Config::default(),
        Some(("counting kubo client", client.clone())),
    )
    .await;
    let space = SpaceName::new("default").unwrap();
    let mut body = Vec::with_capacity(1 << 20);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    while body.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.extend_from_slice(&x.to_le_bytes());
    }
    node.add(
        &space,
        NewProcedureRequest {
            name: "restore the database from a snapshot".into(),
            description: "a large runbook".into(),
            kind: ProcedureKind::Steps,
            tags: vec![],
            body: Body::Inline(body),
        },
    )
    .await
    .unwrap();
    let pinned = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let status = node.status().await.unwrap();
            let ipfs = status.content.ipfs.clone().unwrap();
            if ipfs.pinned_by_this_node >= 1 {
                break ipfs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the large body was never pinned");
    assert_eq!(pinned.endpoint, "counting kubo client");
    assert!(
        client.adds.load(Ordering::SeqCst) >= 1,
        "the given client was not used"
    );
    node.shutdown().await;
}
