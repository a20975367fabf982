//! The commands a [`super::Node`] handle sends to the node's actor, each with its reply channel.

use knack_crdt::{
    Body, Edit, Filter, Outcome, ProcedureId, ProcedureKind, RelationKind, SpaceName,
};
use tokio::sync::oneshot;

use crate::error::NodeError;
use crate::status::{PeerView, StatusView};
use crate::views::{ProcedureView, RankedView};

/// Where an answer goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// A procedure to add, as a client gives it (the node picks the creation nonce).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProcedureRequest {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Kind.
    pub kind: ProcedureKind,
    /// Tags.
    pub tags: Vec<String>,
    /// Body.
    pub body: Body,
}

/// One request to the actor.
#[derive(Debug)]
pub(crate) enum Command {
    Add {
        space: SpaceName,
        new: NewProcedureRequest,
        reply: Reply<ProcedureId>,
    },
    Edit {
        space: SpaceName,
        id: ProcedureId,
        edit: Edit,
        reply: Reply<()>,
    },
    Outcome {
        space: SpaceName,
        id: ProcedureId,
        outcome: Outcome,
        reply: Reply<ProcedureView>,
    },
    Link {
        space: SpaceName,
        from: ProcedureId,
        to: ProcedureId,
        kind: RelationKind,
        strength: Option<f64>,
        reply: Reply<()>,
    },
    Get {
        space: SpaceName,
        id: ProcedureId,
        reply: Reply<ProcedureView>,
    },
    Top {
        space: SpaceName,
        n: usize,
        filter: Filter,
        policy: knack_crdt::Policy,
        reply: Reply<Vec<RankedView>>,
    },
    Search {
        space: SpaceName,
        query: knack_search::Query,
        policy: knack_crdt::Policy,
        reply: Reply<Vec<RankedView>>,
    },
    Similar {
        space: SpaceName,
        id: ProcedureId,
        n: usize,
        reply: Reply<Vec<RankedView>>,
    },
    Peers {
        reply: Reply<Vec<PeerView>>,
    },
    Status {
        reply: Reply<StatusView>,
    },
    /// Liveness and readiness (`/healthz`, `/readyz`).
    Health {
        reply: Reply<crate::health::Health>,
    },
    SetApiAddr {
        addr: std::net::SocketAddr,
        reply: Reply<()>,
    },
    /// The largest body a space carries inline.
    InlineMax {
        space: SpaceName,
        reply: Reply<usize>,
    },
    /// Where a procedure's current body is.
    BodyRef {
        space: SpaceName,
        id: ProcedureId,
        reply: Reply<BodyRef>,
    },
    /// Makes a blob local, fetching it from peers.
    FetchBlob {
        hash: knack_crdt::ContentHash,
        size: u64,
        reply: crate::node::actor::BlobWaiter,
    },
    /// Seals a checkpoint run of this node's own ops in a space.
    Checkpoint {
        space: SpaceName,
        reply: Reply<crate::views::CheckpointView>,
    },
    /// Joins a space now (members-only under `root`), persisted in `spaces.json`.
    JoinSpace {
        space: SpaceName,
        root: Option<libp2p::PeerId>,
        reply: Reply<crate::members::SpaceView>,
    },
    /// Every joined space.
    Spaces {
        reply: Reply<Vec<crate::members::SpaceView>>,
    },
    /// The membership of a members-only space.
    Members {
        space: SpaceName,
        reply: Reply<crate::members::MembersView>,
    },
    /// Signs a membership change as this node (an admin).
    SetMember {
        space: SpaceName,
        member: libp2p::PeerId,
        change: crate::members::RoleChange,
        reply: Reply<crate::members::MembersView>,
    },
    /// A space's settings in effect.
    Settings {
        space: SpaceName,
        reply: Reply<crate::settings::SettingsView>,
    },
    /// Changes a space's settings, signed by this node (an admin in a members-only space).
    UpdateSettings {
        space: SpaceName,
        patch: crate::settings::SettingsPatch,
        reply: Reply<crate::settings::SettingsView>,
    },
    /// Records the IPFS CID of a body.
    RecordPin {
        space: SpaceName,
        hash: knack_crdt::ContentHash,
        cid: String,
        reply: Reply<()>,
    },
}

/// A procedure's current body, as the replica knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyRef {
    /// Its content reference (hash, size, the bytes when inline).
    pub content: knack_crdt::ContentRef,
    /// Every IPFS CID any agent recorded for it, this node's own first (none is trusted: a
    /// reader verifies what it reads against the content hash).
    pub cids: Vec<String>,
    /// The CID this node recorded, once it pinned the body.
    pub own_cid: Option<String>,
    /// Whether the procedure is crystallized.
    pub crystallized: bool,
}
