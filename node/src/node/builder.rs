//! [`NodeBuilder`]: from a data directory and a config to a running node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use knack_protocol::{DEFAULT_MAX_DRIFT_MS, HybridClock};
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::actor::Actor;
use super::content::IpfsTier;
use super::handle::{Node, NodeInfo, ShutdownHandle};
use super::replica::Replica;
use crate::config::Config;
use crate::content::{PinQueue, PinWorker};
use crate::dirs::{BLOBS_DIR, DB_DIR};
use crate::error::NodeError;
use crate::metrics::Metrics;
use crate::store::Store;

/// Commands waiting for the actor.
const COMMAND_QUEUE: usize = 1024;
/// Events kept for slow subscribers.
const EVENT_QUEUE: usize = 4096;

/// Builds a [`Node`].
pub struct NodeBuilder {
    dir: PathBuf,
    config: Option<Config>,
    store: Option<Arc<dyn Store>>,
    ipfs: Option<(String, Arc<dyn knack_ipfs::IpfsApi>)>,
    transport: crate::net::Transport,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("store", &self.store.as_ref().map(|_| "given"))
            .field("ipfs", &self.ipfs.as_ref().map(|(endpoint, _)| endpoint))
            .field("transport", &self.transport)
            .finish()
    }
}

impl NodeBuilder {
    /// A node whose identity and store live in `dir` (created if needed).
    pub fn new(dir: &Path) -> Self {
        NodeBuilder {
            dir: dir.to_path_buf(),
            config: None,
            store: None,
            ipfs: None,
            transport: crate::net::Transport::Network,
        }
    }

    /// Keeps the node's op log, snapshots and metadata in `store` instead of the data
    /// directory's fjall store (e.g. a [`crate::store::MemoryStore`] for tests; the identity,
    /// blobs and small state files stay in the directory).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses `client` as the node's IPFS tier (pins and reads of large bodies), reported under
    /// `endpoint` in `status`, instead of a Kubo RPC client to the config's `ipfs_api`.
    pub fn ipfs(
        mut self,
        endpoint: impl Into<String>,
        client: Arc<dyn knack_ipfs::IpfsApi>,
    ) -> Self {
        self.ipfs = Some((endpoint.into(), client));
        self
    }

    /// Runs the swarm on `transport` (with [`crate::Transport::Memory`], listen on and
    /// bootstrap to `/memory/<port>` addresses; QUIC and a swarm key do not apply).
    pub fn transport(mut self, transport: crate::net::Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Uses `config` instead of the data directory's `knack.toml`.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Opens the store, restores every space, starts the swarm (listening, dialing the
    /// bootstrap peers) and the actor.
    pub async fn build(self) -> Result<Node, NodeError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| NodeError::io(&self.dir, e))?;
        let mut config = match self.config {
            Some(config) => config,
            None => Config::load(&self.dir)?,
        };
        // Before anything opens: a bad swarm key stops the start with nothing half set up.
        let private_network = crate::net::PrivateNetwork::from_config(&mut config)?;
        let key = crate::identity::create(&self.dir)?;
        let agent = knack_protocol::agent_id(&key).ok_or_else(|| NodeError::Identity {
            path: self.dir.display().to_string(),
            reason: "not an ed25519 key".into(),
        })?;
        let peer_id = key.public().to_peer_id();
        let db = self.dir.join(DB_DIR);
        let store: Arc<dyn Store> = match self.store {
            Some(store) => store,
            None => Arc::new(crate::store::open(&db).map_err(|e| damaged(&db, e))?),
        };
        let blobs = Arc::new(crate::content::BlobStore::open(&self.dir.join(BLOBS_DIR))?);

        let mut spaces = BTreeMap::new();
        let mut latest = knack_crdt::Hlc::default();
        let mut names = config.all_spaces();
        let joined = super::joined::JoinedSpaces::load(&self.dir)?;
        let roots = roots(&config, &joined)?;
        for joined in joined.iter().map(|(name, _)| name) {
            if !names.contains(joined) {
                names.push(joined.clone());
            }
        }
        for stored in store.spaces()? {
            if !names.contains(&stored) {
                names.push(stored);
            }
        }
        let mut snapshot_bytes = 0;
        for name in names {
            let restored = Replica::restore(store.as_ref(), &name).map_err(|e| match e {
                NodeError::Store(e) => damaged(&db, e),
                e => e,
            })?;
            let mut replica = restored.replica;
            replica.space.set_root(roots.get(&name).copied());
            latest = latest.max(restored.latest);
            snapshot_bytes += restored.snapshot_bytes;
            spaces.insert(name, replica);
        }
        let manifest = crate::store::integrity::Manifest::load(&self.dir)?;
        manifest.check(
            &db,
            store.as_ref(),
            spaces.iter().map(|(name, r)| (name, &r.vv)),
        )?;
        let clock = HybridClock::resume(latest, DEFAULT_MAX_DRIFT_MS);
        let (own_seqs, own_floor) = check_own_seqs(&self.dir, agent, &spaces)?;

        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let p2p_metrics = libp2p::metrics::Metrics::new(&mut registry);
        metrics
            .private_network
            .set(i64::from(private_network.is_some()));
        let swarm = crate::net::build_swarm(
            key.clone(),
            &config,
            private_network.as_ref().map(|p| p.key),
            &metrics,
            self.transport,
        )?;
        let max_blob_bytes = config.max_blob_bytes;
        let blob_quota_bytes = config.blob_quota_bytes;
        let min_free_disk_bytes = config.min_free_disk_bytes;
        let ipfs = match (self.ipfs, &config.ipfs_api) {
            (Some(given), _) => Some(given),
            (None, Some(url)) => {
                let client = knack_ipfs::KuboRpc::new(url).map_err(|e| NodeError::Config {
                    path: "ipfs_api".into(),
                    reason: e.to_string(),
                })?;
                let client: Arc<dyn knack_ipfs::IpfsApi> = Arc::new(client);
                Some((url.clone(), client))
            }
            (None, None) => None,
        };
        let ipfs = ipfs.map(|(endpoint, client)| {
            let (status_tx, status_rx) = watch::channel(crate::status::IpfsStatus {
                endpoint,
                ..Default::default()
            });
            (client, PinQueue::new(store.clone()), status_tx, status_rx)
        });
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, _) = broadcast::channel(EVENT_QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let mut actor = Actor::new(super::actor::Parts {
            key,
            agent,
            swarm,
            store,
            spaces,
            clock,
            metrics: metrics.clone(),
            p2p_metrics,
            events: events_tx.clone(),
            commands: commands_rx,
            stop: stop_rx,
            config,
            blob_store: blobs.clone(),
            ipfs_status: ipfs.as_ref().map(|(_, _, _, rx)| rx.clone()),
            pins: ipfs.as_ref().map(|(_, q, _, _)| q.clone()),
            own_seqs,
            own_floor,
            manifest,
            dir: self.dir.clone(),
            private_network: private_network.map(|p| crate::status::PrivateNetworkStatus {
                fingerprint: p.fingerprint,
            }),
            joined,
            snapshot_bytes,
        })?;
        actor.start()?;
        let done = tokio::spawn(actor.run());
        let mut tier = None;
        if let Some((client, queue, status, _)) = ipfs {
            tokio::spawn(
                PinWorker {
                    ipfs: client.clone(),
                    queue: queue.clone(),
                    blobs: blobs.clone(),
                    commands: commands_tx.downgrade(),
                    status,
                    metrics: metrics.clone(),
                }
                .run(),
            );
            tier = Some(IpfsTier {
                client,
                pins: queue,
            });
        }
        Ok(Node {
            commands: commands_tx,
            events: events_tx,
            metrics,
            registry: Arc::new(std::sync::Mutex::new(registry)),
            shutdown: Arc::new(tokio::sync::Mutex::new(Some(ShutdownHandle {
                stop: stop_tx,
                done,
            }))),
            info: Arc::new(NodeInfo {
                peer_id,
                agent,
                max_blob_bytes,
                blob_quota_bytes,
                min_free_disk_bytes,
            }),
            blobs,
            ipfs: tier,
        })
    }
}

/// Compares each space's own ops in the log with the own high-water mark (`own_seq.json`):
/// a log ahead of the mark (a crash between the log's flush and the mark's write, or a store
/// from before the mark existed) raises the mark; a log behind it lacks own ops, and the node
/// will not author in that space until peers return them. Returns the marks and those floors.
fn check_own_seqs(
    dir: &Path,
    agent: knack_crdt::AgentId,
    spaces: &BTreeMap<knack_crdt::SpaceName, Replica>,
) -> Result<
    (
        super::own_seq::OwnSeqs,
        BTreeMap<knack_crdt::SpaceName, u64>,
    ),
    NodeError,
> {
    let mut own = super::own_seq::OwnSeqs::load(dir)?;
    let mut floors = BTreeMap::new();
    for (name, replica) in spaces {
        let held = replica.vv.get(&agent);
        let written = own.get(name);
        if held < written {
            tracing::error!(
                space = %name, held, written,
                "this node's op log lacks its own ops {}..={written}: it will not write in \
                 this space until peers return them (anti-entropy)",
                held + 1
            );
            floors.insert(name.clone(), written);
        } else {
            own.raise(name, held);
        }
    }
    own.save()?;
    Ok((own, floors))
}

/// The root admin of every members-only space: `members_only` in the config, then the spaces
/// joined at runtime (the config wins where both name a space).
fn roots(
    config: &Config,
    joined: &super::joined::JoinedSpaces,
) -> Result<BTreeMap<knack_crdt::SpaceName, knack_crdt::AgentId>, NodeError> {
    let mut roots = BTreeMap::new();
    let configured = config.members_only.iter().map(|(n, p)| (n, Some(*p)));
    for (name, root) in joined.iter().chain(configured) {
        let Some(root) = root else {
            continue;
        };
        let agent = knack_protocol::agent_of(&root).ok_or_else(|| NodeError::Config {
            path: format!("members_only.{name}"),
            reason: format!("{root} is not an ed25519 peer id"),
        })?;
        roots.insert(name.clone(), agent);
    }
    Ok(roots)
}

/// A store that fails to open or to read at start: damaged (sled's lock held by another
/// process is said as such).
fn damaged(db: &Path, e: crate::store::StoreError) -> NodeError {
    let reason = e.to_string();
    if reason.contains("lock") || reason.contains("WouldBlock") {
        return NodeError::Store(e);
    }
    NodeError::StoreDamaged {
        path: db.display().to_string(),
        reason,
    }
}
