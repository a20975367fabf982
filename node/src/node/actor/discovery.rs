//! Search in the actor: keeping the indexes in step, answering queries, drawing `similar` edges.

use knack_crdt::{ProcedureId, RelationKind, Space, SpaceName};
use knack_search::Query;

use super::{Actor, Completion, PendingReply, wall_ms};
use crate::discovery::Discovery;
use crate::error::NodeError;
use crate::node::command::Reply;
use crate::views::RankedView;

/// Builds the search index of `space`: here and now for a space of at most `inline_max`
/// procedures (milliseconds), else on a blocking thread whose index comes back to the actor
/// as a [`Completion::SearchIndex`] (its searches answer 503 `index_building` meanwhile).
pub(crate) fn index_space(
    discovery: &mut Discovery,
    name: &SpaceName,
    space: &Space,
    inline_max: usize,
    done: &tokio::sync::mpsc::Sender<Completion>,
) {
    if space.len() <= inline_max {
        if let Err(e) = discovery.rebuild(name, space) {
            tracing::error!(space = %name, error = %e, "search index not built");
        }
        return;
    }
    let build = discovery.begin_build(name, space);
    let (space, number, done) = (name.clone(), build.number, done.clone());
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let result = build.run().map(Box::new);
        tracing::info!(%space, elapsed = ?started.elapsed(), "search index built");
        let _ = done.blocking_send(Completion::SearchIndex {
            space,
            number,
            result,
        });
    });
}

impl Actor {
    /// Re-indexes the procedures an applied op touched (only those whose text changed).
    pub(super) fn reindex(&mut self, space: &SpaceName, procedures: &[ProcedureId]) {
        if let Some(replica) = self.spaces.get(space) {
            self.discovery.refresh(space, &replica.space, procedures);
        }
    }

    /// Installs a search index built off the actor (or says why there is none).
    pub(super) fn install_index(
        &mut self,
        space: &SpaceName,
        number: u64,
        result: Result<Box<crate::discovery::BuiltIndex>, knack_search::SearchError>,
    ) {
        match (result, self.spaces.get(space)) {
            (Ok(built), Some(replica)) => {
                self.discovery
                    .install(space, &replica.space, number, *built);
            }
            (Ok(_), None) => self.discovery.abandon(space, number),
            (Err(e), _) => {
                tracing::error!(%space, error = %e, "search index not built");
                self.discovery.abandon(space, number);
            }
        }
    }

    /// Hybrid search over `space`, answered by the search worker from the space frozen now.
    pub(super) fn search(
        &mut self,
        space: &SpaceName,
        query: Query,
        policy: knack_crdt::Policy,
        reply: Reply<Vec<RankedView>>,
    ) {
        let Some(frozen) = self.freeze(space) else {
            let _ = reply.send(Err(NodeError::UnknownSpace(space.to_string())));
            return;
        };
        self.discovery
            .search(space, query, frozen, wall_ms(), policy, reply);
    }

    /// The `n` procedures nearest in meaning to `id`, answered by the search worker.
    pub(super) fn similar(
        &mut self,
        space: &SpaceName,
        id: ProcedureId,
        n: usize,
        reply: Reply<Vec<RankedView>>,
    ) {
        let Some(replica) = self.spaces.get(space) else {
            let _ = reply.send(Err(NodeError::UnknownSpace(space.to_string())));
            return;
        };
        if replica.space.procedure(&id).is_none() {
            let _ = reply.send(Err(NodeError::Crdt(
                knack_crdt::CrdtError::UnknownProcedure(id),
            )));
            return;
        }
        let Some(frozen) = self.freeze(space) else {
            let _ = reply.send(Err(NodeError::UnknownSpace(space.to_string())));
            return;
        };
        self.discovery
            .similar(space, id, n, frozen, wall_ms(), reply);
    }

    /// Has the procedure this node just added or rewrote linked `similar` to its nearest
    /// neighbours: the search worker finds them, and [`Actor::draw_similar`] draws the edges
    /// and then answers the writer with `ack` (at once if the space has no index to ask).
    pub(super) fn link_similar(&mut self, space: &SpaceName, id: ProcedureId, ack: PendingReply) {
        let settings = &self.config.search;
        if let Err(ack) = self.discovery.neighbours(
            space,
            id,
            settings.similar_k,
            settings.similar_min_cosine,
            ack,
        ) {
            self.unacknowledged.push(ack);
        }
    }

    /// Draws `similar` edges from `id` to the `neighbours` the search worker found (strength =
    /// cosine), as ordinary replicated relations, so contagion flows through them; then
    /// answers the writer of `id` once they are durable too.
    pub(super) fn draw_similar(
        &mut self,
        space: &SpaceName,
        id: ProcedureId,
        neighbours: Vec<(ProcedureId, f32)>,
        ack: PendingReply,
    ) {
        for (other, cosine) in neighbours {
            let strength = f64::from(cosine).clamp(0.0, 1.0);
            let linked = self.write(space, |s, agent, at| {
                s.link(agent, at, id, other, RelationKind::Similar, strength)
            });
            match linked {
                Ok(()) => tracing::debug!(from = %id, to = %other, strength, "similar edge drawn"),
                Err(e) => {
                    tracing::warn!(from = %id, to = %other, error = %e, "similar edge not drawn")
                }
            }
        }
        self.unacknowledged.push(ack);
        self.commit();
    }
}
