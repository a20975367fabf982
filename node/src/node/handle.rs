//! [`Node`]: the cheap, cloneable handle through which an embedding program, the HTTP API and
//! the tests talk to a running node.

use std::sync::Arc;

use std::path::PathBuf;

use knack_crdt::{Body, ContentHash, Edit, Filter, Outcome, ProcedureId, RelationKind, SpaceName};
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::command::{BodyRef, Command, NewProcedureRequest, Reply};
use crate::content::{BlobStore, ContentError};
use crate::error::NodeError;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::status::{PeerView, StatusView};
use crate::views::{ProcedureView, RankedView};

/// A running node. Clone it freely: every clone talks to the same actor. The node stops when
/// [`Node::shutdown`] is called or every handle is dropped.
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) metrics: Metrics,
    pub(crate) registry: Arc<std::sync::Mutex<Registry>>,
    pub(crate) shutdown: Arc<tokio::sync::Mutex<Option<ShutdownHandle>>>,
    pub(crate) info: Arc<NodeInfo>,
    pub(crate) blobs: Arc<BlobStore>,
    pub(crate) ipfs: Option<IpfsTier>,
}

/// The IPFS endpoint and the pin queue, when the node has an endpoint.
#[derive(Clone)]
pub(crate) struct IpfsTier {
    pub(crate) client: Arc<dyn knack_ipfs::IpfsApi>,
    pub(crate) pins: crate::content::PinQueue,
}

impl std::fmt::Debug for IpfsTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpfsTier").finish_non_exhaustive()
    }
}

/// Longest a read from IPFS may take.
const IPFS_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// A procedure's body, made local.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyData {
    /// A small body, carried inline in the procedure's ops.
    Inline(Vec<u8>),
    /// A body in the node's blob store, verified against its hash.
    Blob {
        /// Its blake3 hash.
        hash: ContentHash,
        /// Its size in bytes.
        size: u64,
        /// The file holding it (read it; do not write it).
        path: PathBuf,
    },
}

/// Facts fixed for the node's lifetime.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The libp2p peer id.
    pub peer_id: libp2p::PeerId,
    /// The agent id.
    pub agent: knack_crdt::AgentId,
    /// Largest body accepted, in bytes.
    pub max_blob_bytes: u64,
}

/// What stops the actor and waits for it to finish.
#[derive(Debug)]
pub(crate) struct ShutdownHandle {
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) done: tokio::task::JoinHandle<()>,
}

impl Node {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> libp2p::PeerId {
        self.info.peer_id
    }

    /// The node's agent id.
    pub fn agent(&self) -> knack_crdt::AgentId {
        self.info.agent
    }

    /// Adds a procedure; answers once it is durable. Returns its id. A body over the space's
    /// inline limit is stored in the blob store and referenced by hash.
    pub async fn add(
        &self,
        space: &SpaceName,
        mut new: NewProcedureRequest,
    ) -> Result<ProcedureId, NodeError> {
        new.body = self.place_body(space, new.body).await?;
        let space = space.clone();
        self.ask(|reply| Command::Add { space, new, reply }).await
    }

    /// Keeps a body inline if the space allows its size, else stores it as a blob.
    async fn place_body(&self, space: &SpaceName, body: Body) -> Result<Body, NodeError> {
        let Body::Inline(bytes) = body else {
            return Ok(body);
        };
        // Every space carries at least this much inline: no need to ask.
        const ALWAYS_INLINE: usize = 1024;
        if bytes.len() <= ALWAYS_INLINE {
            return Ok(Body::Inline(bytes));
        }
        let space = space.clone();
        let max = self
            .ask(|reply| Command::InlineMax { space, reply })
            .await?;
        if bytes.len() <= max {
            return Ok(Body::Inline(bytes));
        }
        let size = bytes.len() as u64;
        let blobs = self.blobs.clone();
        let hash = tokio::task::spawn_blocking(move || blobs.put(&bytes))
            .await
            .map_err(|_| NodeError::Stopped)??;
        Ok(Body::External { hash, size })
    }

    /// Stores a file (of any size) in the blob store, streaming it; returns the body that
    /// references it, for [`Node::add`] or [`Node::edit`].
    pub async fn import_blob(&self, path: &std::path::Path) -> Result<Body, NodeError> {
        let blobs = self.blobs.clone();
        let src = path.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<Body, NodeError> {
            let (tmp, mut file) = blobs.temp_file()?;
            let mut input = std::fs::File::open(&src).map_err(|e| NodeError::io(&src, e))?;
            std::io::copy(&mut input, &mut file).map_err(|e| NodeError::io(&src, e))?;
            drop(file);
            let (hash, size) = blobs.import(&tmp, None)?;
            Ok(Body::External { hash, size })
        })
        .await
        .map_err(|_| NodeError::Stopped)?
    }

    /// Largest body accepted, in bytes.
    pub fn max_blob_bytes(&self) -> u64 {
        self.info.max_blob_bytes
    }

    /// The node's blob store (the HTTP API streams uploads and downloads through it).
    pub(crate) fn blob_store(&self) -> &Arc<BlobStore> {
        &self.blobs
    }

    /// Where a procedure's current body is: inline bytes, or hash, size and IPFS CID.
    pub async fn body_ref(&self, space: &SpaceName, id: ProcedureId) -> Result<BodyRef, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::BodyRef { space, id, reply })
            .await
    }

    /// A procedure's current body, made local: inline bytes, or the blob fetched from peers
    /// (`/knack/blob/1`, each chunk verified) when this node does not hold it.
    pub async fn body(&self, space: &SpaceName, id: ProcedureId) -> Result<BodyData, NodeError> {
        let body = self.body_ref(space, id).await?;
        let content = body.content.clone();
        if let Some(bytes) = content.inline {
            return Ok(BodyData::Inline(bytes));
        }
        let (hash, size) = (content.hash, content.size);
        if self.blobs.size_of(&hash) != Some(size) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.commands
                .send(Command::FetchBlob {
                    hash,
                    size,
                    reply: tx,
                })
                .await
                .map_err(|_| NodeError::Stopped)?;
            let from_peers = rx.await.map_err(|_| NodeError::Stopped)?;
            match (from_peers, &self.ipfs, body.cid) {
                (Ok(()), _, _) => {}
                (Err(e), Some(ipfs), Some(cid)) => {
                    tracing::info!(%hash, error = %e, %cid, "no peer has the body: reading it from IPFS");
                    self.fetch_from_ipfs(ipfs, &cid, hash, size).await?;
                }
                (Err(e), _, _) => return Err(e),
            }
        }
        if self.blobs.size_of(&hash) != Some(size) {
            return Err(NodeError::Content(ContentError::Unavailable {
                hash,
                reason: "the stored blob has another size".into(),
            }));
        }
        self.blobs.touch(&hash);
        Ok(BodyData::Blob {
            hash,
            size,
            path: self.blobs.content_path(&hash),
        })
    }

    /// Reads the blob `hash` from IPFS as `cid` into the blob store, refusing content that does
    /// not hash to `hash`.
    async fn fetch_from_ipfs(
        &self,
        ipfs: &IpfsTier,
        cid: &str,
        hash: ContentHash,
        size: u64,
    ) -> Result<(), NodeError> {
        let cid = knack_ipfs::Cid::parse(cid)
            .map_err(|e| ContentError::Ipfs(knack_ipfs::IpfsError::from(e)))?;
        let (tmp, file) = self.blobs.temp_file()?;
        drop(file);
        let fetched = ipfs
            .client
            .fetch_verified(&cid, hash.0, size, &tmp, IPFS_READ_TIMEOUT)
            .await;
        if let Err(e) = fetched {
            let _ = std::fs::remove_file(&tmp);
            let reason = match &e {
                knack_ipfs::IpfsError::Mismatch { .. } | knack_ipfs::IpfsError::TooLarge { .. } => {
                    "mismatch"
                }
                _ => "read",
            };
            crate::metrics::Metrics::count(&self.metrics.ipfs_errors, reason);
            tracing::warn!(%hash, %cid, error = %e, "IPFS read refused");
            return Err(ContentError::Ipfs(e).into());
        }
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.import(&tmp, Some(&hash)))
            .await
            .map_err(|_| NodeError::Stopped)??;
        Ok(())
    }

    /// A procedure's current body in memory (see [`Node::body`]); for small bodies.
    pub async fn body_bytes(
        &self,
        space: &SpaceName,
        id: ProcedureId,
    ) -> Result<Vec<u8>, NodeError> {
        match self.body(space, id).await? {
            BodyData::Inline(bytes) => Ok(bytes),
            BodyData::Blob { path, .. } => tokio::fs::read(&path)
                .await
                .map_err(|e| NodeError::io(&path, e)),
        }
    }

    /// Queues the current body of `id` for IPFS: added and pinned by the pin worker, its CID
    /// recorded when done (retried with backoff while the IPFS node is unreachable).
    pub async fn queue_pin(&self, space: &SpaceName, id: ProcedureId) -> Result<(), NodeError> {
        let Some(ipfs) = &self.ipfs else {
            return Err(NodeError::Content(ContentError::NoIpfs));
        };
        let body = self.body_ref(space, id).await?.content;
        let (hash, size) = (body.hash, body.size);
        let blobs = self.blobs.clone();
        let pins = ipfs.pins.clone();
        let space = space.clone();
        tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
            if let Some(bytes) = body.inline
                && blobs.size_of(&hash).is_none()
            {
                blobs.put(&bytes)?;
            }
            Ok(pins.push(&space, hash, size)?)
        })
        .await
        .map_err(|_| NodeError::Stopped)?
    }

    /// Records that the body `hash` is on IPFS as `cid` (replicated to every peer). Readers
    /// check what they get from IPFS against `hash`, so a wrong CID is refused on read.
    pub async fn record_pin(
        &self,
        space: &SpaceName,
        hash: ContentHash,
        cid: String,
    ) -> Result<(), NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::RecordPin {
            space,
            hash,
            cid,
            reply,
        })
        .await
    }

    /// Edits a procedure; answers once durable. Body edits of crystallized procedures are
    /// refused. A new body over the inline limit is stored as a blob.
    pub async fn edit(
        &self,
        space: &SpaceName,
        id: ProcedureId,
        mut edit: Edit,
    ) -> Result<(), NodeError> {
        if let Some(body) = edit.body.take() {
            edit.body = Some(self.place_body(space, body).await?);
        }
        let space = space.clone();
        self.ask(|reply| Command::Edit {
            space,
            id,
            edit,
            reply,
        })
        .await
    }

    /// Records one use of a procedure (with contagion and crystallization); answers once
    /// durable, with the procedure as it is now.
    pub async fn record_outcome(
        &self,
        space: &SpaceName,
        id: ProcedureId,
        outcome: Outcome,
    ) -> Result<ProcedureView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Outcome {
            space,
            id,
            outcome,
            reply,
        })
        .await
    }

    /// Relates two procedures (`strength` in 0..=1), or removes the relation (`None`).
    pub async fn link(
        &self,
        space: &SpaceName,
        from: ProcedureId,
        to: ProcedureId,
        kind: RelationKind,
        strength: Option<f64>,
    ) -> Result<(), NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Link {
            space,
            from,
            to,
            kind,
            strength,
            reply,
        })
        .await
    }

    /// A procedure with its derived values.
    pub async fn get(
        &self,
        space: &SpaceName,
        id: ProcedureId,
    ) -> Result<ProcedureView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Get { space, id, reply }).await
    }

    /// The `n` best procedures admitted by `filter`.
    pub async fn top(
        &self,
        space: &SpaceName,
        n: usize,
        filter: Filter,
    ) -> Result<Vec<RankedView>, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Top {
            space,
            n,
            filter,
            reply,
        })
        .await
    }

    /// Hybrid search: the procedures of `space` best for `query` (meaning, words and
    /// evidence; see [`crate::discovery`]), each with its explanation.
    pub async fn search(
        &self,
        space: &SpaceName,
        query: knack_search::Query,
    ) -> Result<Vec<RankedView>, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Search {
            space,
            query,
            reply,
        })
        .await
    }

    /// The `n` procedures nearest in meaning to `id` (cosine in `relevance`).
    pub async fn similar(
        &self,
        space: &SpaceName,
        id: ProcedureId,
        n: usize,
    ) -> Result<Vec<RankedView>, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Similar {
            space,
            id,
            n,
            reply,
        })
        .await
    }

    /// Change events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerView>, NodeError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// The node's status: identity, addresses, peers, and per space the digest and version
    /// vector.
    pub async fn status(&self) -> Result<StatusView, NodeError> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Records the address the HTTP API is bound to (shown in the status).
    pub async fn set_api_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.ask(|reply| Command::SetApiAddr { addr, reply }).await;
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Prometheus text exposition of every metric (the node's and libp2p's).
    pub fn encode_metrics(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Stops the node: finishes the command in progress, flushes the store, closes the swarm.
    /// Returns once the actor has ended. Later calls on any handle answer `Stopped`.
    pub async fn shutdown(&self) {
        let handle = self.shutdown.lock().await.take();
        if let Some(handle) = handle {
            let _ = handle.stop.send(());
            let _ = handle.done.await;
        }
    }
}
