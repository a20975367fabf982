//! Work finished off the actor's thread (blob chunks read, downloads stored, snapshots,
//! checkpoint restatements, compaction, membership rebuilds, search indexes, flushes), coming
//! back to it as one message type, and the actor's dispatch of each to its owner.

use knack_crdt::ContentHash;
use knack_protocol::BlobResponse;

use super::Actor;
use crate::content::ContentError;
use crate::net::blob::Responder;

/// Work done off the actor, coming back to it.
pub(crate) enum Completion {
    /// A chunk read for a peer, to send.
    Served {
        responder: Responder,
        response: BlobResponse,
    },
    /// Whether a blob a peer asked for (this node does not hold it) is referenced by a joined
    /// space, looked for off the actor: its size if so.
    RelayLookedUp {
        hash: ContentHash,
        peer: libp2p::PeerId,
        responder: Responder,
        size: Option<u64>,
    },
    /// An eviction pass ended.
    Evicted,
    /// The current bodies of every crystallized procedure, per space, found off the actor for
    /// the cold tier.
    Crystallized(Vec<(knack_crdt::SpaceName, knack_crdt::ContentRef)>),
    /// A finished download, stored (or refused by the final check).
    Stored {
        hash: ContentHash,
        result: Result<u64, ContentError>,
    },
    /// Periodic snapshots, encoded and written off the actor: their total size, or why not.
    Snapshotted(Result<u64, String>),
    /// Own ops of a space restated off the actor, for a checkpoint run.
    Restated {
        space: knack_crdt::SpaceName,
        result: Result<Box<super::checkpoint::Restated>, String>,
    },
    /// Envelopes restated by checkpoint runs deleted off the actor: how many, or why not.
    Compacted(Result<usize, String>),
    /// A members-only space rebuilt off the actor without the ops its membership refuses
    /// (see `members.rs`): the replica and, per author, where its kept ops end.
    Rebuilt {
        space: knack_crdt::SpaceName,
        result: Result<Box<crate::node::replica::Rebuilt>, String>,
    },
    /// A space's search index, built off the actor (build `number`).
    SearchIndex {
        space: knack_crdt::SpaceName,
        number: u64,
        result: Result<Box<crate::discovery::BuiltIndex>, knack_search::SearchError>,
    },
    /// The neighbours the search worker found for a procedure this node added or rewrote,
    /// to link it `similar` to, with its writer's pending answer.
    Neighbours {
        space: knack_crdt::SpaceName,
        id: knack_crdt::ProcedureId,
        neighbours: Vec<(knack_crdt::ProcedureId, f32)>,
        ack: super::PendingReply,
    },
    /// A space's stale contagion neighbourhoods, summed by a settle job.
    Settled {
        space: knack_crdt::SpaceName,
        sums: Box<knack_crdt::SettledSums>,
    },
    /// Sealed batches made durable by the flusher (`ok`), their writers answered: the
    /// envelopes to publish.
    Flushed {
        batches: usize,
        envelopes: Vec<knack_protocol::Envelope>,
        /// The checkpoint runs the flushed batches brought: stored and durable, or why not.
        runs: Vec<(
            knack_crdt::SpaceName,
            Result<super::checkpoint::SealedRun, String>,
        )>,
        ok: bool,
    },
}

impl Actor {
    /// Work done off the actor.
    pub(super) fn on_completion(&mut self, completion: Completion) {
        match completion {
            Completion::Served {
                responder,
                response,
            } => self.blob_served(responder, response),
            Completion::RelayLookedUp {
                hash,
                peer,
                responder,
                size,
            } => self.relay_looked_up(hash, peer, responder, size),
            Completion::Evicted => self.cold_evicted(),
            Completion::Crystallized(bodies) => self.queue_crystallized_bodies(bodies),
            Completion::Snapshotted(result) => self.snapshotted(result),
            Completion::SearchIndex {
                space,
                number,
                result,
            } => self.install_index(&space, number, result),
            Completion::Neighbours {
                space,
                id,
                neighbours,
                ack,
            } => self.draw_similar(&space, id, neighbours, ack),
            Completion::Restated { space, result } => self.restated(space, result),
            Completion::Compacted(result) => self.compacted(result),
            Completion::Rebuilt { space, result } => self.install_rebuilt(space, result),
            Completion::Flushed {
                batches,
                envelopes,
                runs,
                ok,
            } => self.flushed(batches, envelopes, runs, ok),
            Completion::Stored { hash, result } => self.blob_stored(&hash, result),
            Completion::Settled { space, sums } => self.install_settled(&space, *sums),
        }
    }
}
