//! Nodes in the test process: libp2p's memory transport and a memory store
//! (`NodeBuilder::transport`, `NodeBuilder::store`), for node behaviour that needs no binary.

use std::path::Path;
use std::sync::Arc;

use knack_node::store::MemoryStore;
use knack_node::{Config, Node, NodeBuilder, Transport};

/// A node in this process listening on `/memory/<port>`, with `config` otherwise (QUIC and
/// Kademlia off, anti-entropy every 200 ms), `ipfs` as its IPFS client if given: the node,
/// its store and its dialable address.
pub async fn start(
    dir: &Path,
    port: u64,
    config: Config,
    ipfs: Option<(&str, Arc<dyn knack_ipfs::IpfsApi>)>,
) -> (Node, Arc<MemoryStore>, libp2p::Multiaddr) {
    let store = Arc::new(MemoryStore::new());
    let (node, addr) = start_on(dir, port, config, store.clone(), ipfs).await;
    (node, store, addr)
}

/// [`start`] with `store` as the node's store.
pub async fn start_on(
    dir: &Path,
    port: u64,
    config: Config,
    store: Arc<dyn knack_node::store::Store>,
    ipfs: Option<(&str, Arc<dyn knack_ipfs::IpfsApi>)>,
) -> (Node, libp2p::Multiaddr) {
    let mut builder = NodeBuilder::new(dir)
        .config(Config {
            listen: vec![format!("/memory/{port}").parse().unwrap()],
            quic: false,
            kademlia: false,
            sync_interval_ms: 200,
            ..config
        })
        .store(store)
        .transport(Transport::Memory);
    if let Some((endpoint, client)) = ipfs {
        builder = builder.ipfs(endpoint, client);
    }
    let node = builder.build().await.unwrap();
    let peer = node.status().await.unwrap().peer_id;
    let addr = format!("/memory/{port}/p2p/{peer}").parse().unwrap();
    (node, addr)
}

/// `count` memory ports of this test process, apart from other test processes' (the memory
/// transport is per process, but a fixed port would collide between tests of one binary).
pub fn ports(first: u64, count: u64) -> impl Iterator<Item = u64> {
    let base = first + u64::from(std::process::id() % 10_000) * count;
    base..base + count
}

/// Waits until `check` holds, for up to `timeout`; panics with `what` otherwise.
pub async fn wait_until(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) {
    let done = tokio::time::timeout(timeout, async {
        while !check().await {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(done.is_ok(), "{what}");
}
