//! Search in the actor: keeping the indexes in step, answering queries, drawing `similar` edges.

use knack_crdt::{ProcedureId, RelationKind, SpaceName};
use knack_search::Query;

use super::{Actor, wall_ms};
use crate::error::NodeError;
use crate::views::RankedView;

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
        result: Result<Box<crate::discovery::BuiltIndex>, knack_search::SearchError>,
    ) {
        match (result, self.spaces.get(space)) {
            (Ok(built), Some(replica)) => self.discovery.install(space, &replica.space, *built),
            (Ok(_), None) => self.discovery.abandon(space),
            (Err(e), _) => {
                tracing::error!(%space, error = %e, "search index not built");
                self.discovery.abandon(space);
            }
        }
    }

    /// Hybrid search over `space`.
    pub(super) fn search(
        &mut self,
        space: &SpaceName,
        query: &Query,
        policy: knack_crdt::Policy,
    ) -> Result<Vec<RankedView>, NodeError> {
        self.settled(space)?;
        let replica = self.replica(space)?;
        let now = wall_ms();
        let found = self.discovery.search(
            space,
            &replica.space,
            query,
            now,
            policy,
            &mut rand::thread_rng(),
        )?;
        Ok(found
            .into_iter()
            .filter_map(|f| {
                let p = replica.space.procedure(&f.id)?;
                let row = knack_crdt::Ranked::of(&p, query.context.as_deref(), now);
                let mut view = RankedView::of(&p, &row, Some(f.hit.score));
                view.explain = serde_json::to_value(&f.hit.explanation).ok();
                view.draw = f.draw;
                Some(view)
            })
            .collect())
    }

    /// The `n` procedures nearest in meaning to `id`.
    pub(super) fn similar(
        &mut self,
        space: &SpaceName,
        id: ProcedureId,
        n: usize,
    ) -> Result<Vec<RankedView>, NodeError> {
        self.settled(space)?;
        let replica = self.replica(space)?;
        if replica.space.procedure(&id).is_none() {
            return Err(NodeError::Crdt(knack_crdt::CrdtError::UnknownProcedure(id)));
        }
        let now = wall_ms();
        Ok(self
            .discovery
            .similar(space, &id, n, f32::MIN)
            .into_iter()
            .filter_map(|(other, cosine)| {
                let p = replica.space.procedure(&other)?;
                let row = knack_crdt::Ranked::of(&p, None, now);
                Some(RankedView::of(&p, &row, Some(f64::from(cosine))))
            })
            .collect())
    }

    /// Links a procedure this node just added or rewrote `similar` to its nearest neighbours
    /// (strength = cosine), as ordinary replicated relations, so contagion flows through them.
    pub(super) fn link_similar(&mut self, space: &SpaceName, id: ProcedureId) {
        let settings = &self.config.search;
        let neighbours =
            self.discovery
                .similar(space, &id, settings.similar_k, settings.similar_min_cosine);
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
    }
}
