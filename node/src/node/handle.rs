//! [`Node`]: the cheap, cloneable handle through which an embedding program, the HTTP API and
//! the tests talk to a running node.

use std::sync::Arc;

use knack_crdt::{Edit, Filter, Outcome, Policy, ProcedureId, RelationKind, SpaceName};
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::command::{Command, NewProcedureRequest, Reply};
use super::content::IpfsTier;
use crate::content::BlobStore;
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

/// Facts fixed for the node's lifetime.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The libp2p peer id.
    pub peer_id: libp2p::PeerId,
    /// The agent id.
    pub agent: knack_crdt::AgentId,
    /// Largest body accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Bytes the blob store may hold in all (0: no quota).
    pub blob_quota_bytes: u64,
    /// Bytes that must stay free on the data directory's disk.
    pub min_free_disk_bytes: u64,
}

/// What stops the actor and waits for it to finish.
#[derive(Debug)]
pub(crate) struct ShutdownHandle {
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) done: tokio::task::JoinHandle<()>,
}

impl Node {
    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, NodeError> {
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

    /// The `n` best procedures admitted by `filter`, by score (deterministic: the same on
    /// every converged replica).
    pub async fn top(
        &self,
        space: &SpaceName,
        n: usize,
        filter: Filter,
    ) -> Result<Vec<RankedView>, NodeError> {
        self.top_with(space, n, filter, Policy::Greedy).await
    }

    /// The `n` procedures admitted by `filter`, ordered by `policy`: [`Policy::Thompson`]
    /// ranks by a draw from each procedure's Beta posterior (own counts plus contagion prior),
    /// so an agent that takes the first row explores the unproven in proportion to how
    /// plausibly they are better (see [`knack_crdt::explore`]).
    pub async fn top_with(
        &self,
        space: &SpaceName,
        n: usize,
        filter: Filter,
        policy: Policy,
    ) -> Result<Vec<RankedView>, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Top {
            space,
            n,
            filter,
            policy,
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
        self.search_with(space, query, Policy::Greedy).await
    }

    /// [`Node::search`] with the evidence of each candidate taken by `policy`: with
    /// [`Policy::Thompson`] the evidence term is a draw from the candidate's Beta posterior
    /// instead of its score.
    pub async fn search_with(
        &self,
        space: &SpaceName,
        query: knack_search::Query,
        policy: Policy,
    ) -> Result<Vec<RankedView>, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Search {
            space,
            query,
            policy,
            reply,
        })
        .await
    }

    /// Seals a checkpoint run of this node's own ops in `space`: its writes restated as few
    /// large envelopes, after which the envelopes they restate are deleted from the log and
    /// fresh peers sync from the run (see `knack_protocol::checkpoint`). Nodes do this by
    /// themselves past `checkpoint_after_bytes`; this forces one now.
    pub async fn checkpoint(
        &self,
        space: &SpaceName,
    ) -> Result<crate::views::CheckpointView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Checkpoint { space, reply }).await
    }

    /// Joins `space` now and for good (kept in `spaces.json`): open when `root` is `None`,
    /// else members-only with `root` as its root admin (this node's peer id creates one).
    pub async fn join_space(
        &self,
        space: &SpaceName,
        root: Option<libp2p::PeerId>,
    ) -> Result<crate::members::SpaceView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::JoinSpace { space, root, reply })
            .await
    }

    /// Every joined space.
    pub async fn spaces(&self) -> Result<Vec<crate::members::SpaceView>, NodeError> {
        self.ask(|reply| Command::Spaces { reply }).await
    }

    /// The effective membership of a members-only space.
    pub async fn members(
        &self,
        space: &SpaceName,
    ) -> Result<crate::members::MembersView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Members { space, reply }).await
    }

    /// Adds, promotes or removes a member of a members-only space, signed by this node (which
    /// must be an admin); answers once the change is durable.
    pub async fn set_member(
        &self,
        space: &SpaceName,
        member: libp2p::PeerId,
        change: crate::members::RoleChange,
    ) -> Result<crate::members::MembersView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::SetMember {
            space,
            member,
            change,
            reply,
        })
        .await
    }

    /// A space's settings in effect.
    pub async fn settings(
        &self,
        space: &SpaceName,
    ) -> Result<crate::settings::SettingsView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::Settings { space, reply }).await
    }

    /// Changes a space's settings (the fields `patch` gives), signed by this node (which must
    /// be an admin of a members-only space); answers once the change is durable.
    pub async fn update_settings(
        &self,
        space: &SpaceName,
        patch: crate::settings::SettingsPatch,
    ) -> Result<crate::settings::SettingsView, NodeError> {
        let space = space.clone();
        self.ask(|reply| Command::UpdateSettings {
            space,
            patch,
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

    /// What the node reports about its liveness and readiness (store, write fault, spaces,
    /// search indexes, peers): see [`crate::health::Health`].
    pub async fn health(&self) -> Result<crate::health::Health, NodeError> {
        self.ask(|reply| Command::Health { reply }).await
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
