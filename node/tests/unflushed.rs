//! A node's own ops are served to peers only once durable. An own op is in the store from
//! its seal and durable from the flush after; served in between, a peer could hold it while a
//! crash loses it here, and the restarted node would sign other ops under its number (a
//! fork). Nodes in this process (memory transport), one of them on a store whose flush is
//! held shut: while the flush of an outcome waits, neither a connected peer nor a fresh one
//! gets it by anti-entropy, though both get everything durable; once the flush ends, both
//! converge.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::memory_node::{ports, start, start_on, wait_until};
use knack_crdt::{AgentId, Body, ContentHash, Outcome, ProcedureKind, SpaceName};
use knack_node::store::{EnvelopeKey, MemoryStore, SnapshotWrite, Store, StoreError};
use knack_node::{Config, NewProcedureRequest, Node};

const WAIT: Duration = Duration::from_secs(30);

/// A memory store whose `flush` waits while the gate is shut.
#[derive(Default)]
struct GatedStore {
    inner: MemoryStore,
    shut: Mutex<bool>,
    opened: Condvar,
}

/// Opens the gate when dropped: a failed assertion must not leave the node's flush thread
/// (and so the test's runtime, which waits for it) blocked for good.
struct OpenOnDrop(Arc<GatedStore>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.set_shut(false);
    }
}

impl GatedStore {
    fn set_shut(&self, shut: bool) {
        *self.shut.lock().unwrap() = shut;
        self.opened.notify_all();
    }
}

impl Store for GatedStore {
    fn append_envelope(&self, key: &EnvelopeKey, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.append_envelope(key, bytes)
    }
    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        self.inner
            .envelopes_after(space, author, after_seq, budget_bytes)
    }
    fn remove_envelopes_below(
        &self,
        space: &SpaceName,
        author: &AgentId,
        first: u64,
    ) -> Result<usize, StoreError> {
        self.inner.remove_envelopes_below(space, author, first)
    }
    fn remove_envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
    ) -> Result<usize, StoreError> {
        self.inner.remove_envelopes_after(space, author, after_seq)
    }
    fn scan_envelopes(&self, space: &SpaceName) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
        self.inner.scan_envelopes(space)
    }
    fn heads(&self, space: &SpaceName) -> Result<Vec<(AgentId, u64)>, StoreError> {
        self.inner.heads(space)
    }
    fn spaces(&self) -> Result<Vec<SpaceName>, StoreError> {
        self.inner.spaces()
    }
    fn put_snapshot_with(
        &self,
        space: &SpaceName,
        write: &mut SnapshotWrite<'_>,
    ) -> Result<u64, StoreError> {
        self.inner.put_snapshot_with(space, write)
    }
    fn snapshot_reader(&self, space: &SpaceName) -> Result<Option<Box<dyn Read + '_>>, StoreError> {
        self.inner.snapshot_reader(space)
    }
    fn put_pin_job(&self, hash: &ContentHash, job: &[u8]) -> Result<(), StoreError> {
        self.inner.put_pin_job(hash, job)
    }
    fn remove_pin_job(&self, hash: &ContentHash) -> Result<(), StoreError> {
        self.inner.remove_pin_job(hash)
    }
    fn pin_jobs(&self) -> Result<Vec<(ContentHash, Vec<u8>)>, StoreError> {
        self.inner.pin_jobs()
    }
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.put_meta(key, value)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(key)
    }
    fn flush(&self) -> Result<(), StoreError> {
        let shut = self.shut.lock().unwrap();
        let _open = self.opened.wait_while(shut, |shut| *shut).unwrap();
        self.inner.flush()
    }
    fn size_on_disk(&self) -> u64 {
        self.inner.size_on_disk()
    }
}

async fn ops(node: &Node) -> u64 {
    node.status().await.unwrap().spaces[0].ops
}

async fn digest(node: &Node) -> String {
    node.status().await.unwrap().spaces[0].digest.clone()
}

/// Anti-entropy rounds `node` completed (`knack_sync_rounds_total`).
fn sync_rounds(node: &Node) -> u64 {
    node.encode_metrics()
        .lines()
        .find_map(|l| l.strip_prefix("knack_sync_rounds_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_op_is_served_by_anti_entropy_only_once_durable() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let port: Vec<u64> = ports(47_000, 3).collect();
    let store = Arc::new(GatedStore::default());
    let (a, a_addr) = start_on(
        dirs[0].path(),
        port[0],
        Config::default(),
        store.clone(),
        None,
    )
    .await;
    let a = Arc::new(a);
    let bootstrap = Config {
        bootstrap: vec![a_addr],
        ..Config::default()
    };
    let (b, _, _) = start(dirs[1].path(), port[1], bootstrap.clone(), None).await;

    let space = SpaceName::new("default").unwrap();
    let id = a
        .add(
            &space,
            NewProcedureRequest {
                name: "rotate the certificates".into(),
                description: "durable before it is served".into(),
                kind: ProcedureKind::Steps,
                tags: vec!["tls".into()],
                body: Body::Inline(b"certbot renew".to_vec()),
            },
        )
        .await
        .unwrap();
    let durable = ops(&a).await;
    wait_until("b has the procedure", WAIT, async || {
        ops(&b).await == durable
    })
    .await;

    // The flush of the next write is held: the outcome is applied and in the store, not
    // durable, and its writer waits.
    store.set_shut(true);
    let _open_on_failure = OpenOnDrop(Arc::clone(&store));
    let writer = {
        let (a, space) = (Arc::clone(&a), space.clone());
        tokio::spawn(async move {
            let outcome = Outcome {
                success: true,
                duration_ms: 12,
                contexts: vec![],
            };
            a.record_outcome(&space, id, outcome).await
        })
    };
    wait_until("a applied the outcome", WAIT, async || {
        ops(&a).await == durable + 1
    })
    .await;

    // A fresh node gets everything durable from `a` meanwhile, so `a` answers anti-entropy.
    let (c, _, _) = start(dirs[2].path(), port[2], bootstrap, None).await;
    wait_until("c has what is durable", WAIT, async || {
        ops(&c).await == durable
    })
    .await;
    // Several more rounds each: neither peer gets the outcome not yet durable.
    let (b_rounds, c_rounds) = (sync_rounds(&b), sync_rounds(&c));
    wait_until("more anti-entropy rounds", WAIT, async || {
        sync_rounds(&b) >= b_rounds + 5 && sync_rounds(&c) >= c_rounds + 5
    })
    .await;
    assert_eq!(
        ops(&b).await,
        durable,
        "b got an own op of a not yet durable"
    );
    assert_eq!(
        ops(&c).await,
        durable,
        "c got an own op of a not yet durable"
    );
    assert!(!writer.is_finished(), "the write waits for its flush");

    // Durable: answered, published, served.
    store.set_shut(false);
    let view = writer.await.unwrap().unwrap();
    assert_eq!(view.successes, 1);
    let want = digest(&a).await;
    wait_until("b and c converge", WAIT, async || {
        digest(&b).await == want && digest(&c).await == want
    })
    .await;
    for node in [&b, &c] {
        node.shutdown().await;
    }
    a.shutdown().await;
}
