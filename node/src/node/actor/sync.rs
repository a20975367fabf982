//! Anti-entropy in the actor: the sync behaviour (`net::sync`) reads the op log and the
//! membership through [`NodeLog`], and the ops it receives go into the replicas.

use std::collections::BTreeMap;

use knack_crdt::{AgentId, SpaceName};
use knack_protocol::sync::Batch;
use knack_protocol::{OpLog, VersionVector};
use libp2p::PeerId;

use super::Actor;
use super::peers::Departure;
use super::unflushed::OwnUnflushed;
use crate::net::sync::{Event, Host, Ops};
use crate::node::replica::Replica;
use crate::store::Store;

/// The node's op log as the sync engine reads it: version vectors from memory, envelopes from
/// the store; and who may read a space.
///
/// Own envelopes not yet durable are neither advertised nor served (see `unflushed.rs`).
struct NodeLog<'a> {
    store: &'a dyn Store,
    spaces: &'a BTreeMap<SpaceName, Replica>,
    own: AgentId,
    unflushed: &'a OwnUnflushed,
}

impl OpLog for NodeLog<'_> {
    fn version_vector(&self, space: &SpaceName) -> VersionVector {
        match (self.spaces.get(space), self.unflushed.served_upto(space)) {
            (None, _) => VersionVector::default(),
            (Some(r), None) => r.vv.clone(),
            (Some(r), Some(upto)) => r.vv_with_own_upto(self.own, upto),
        }
    }

    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Batch {
        let served_upto = match self.unflushed.served_upto(space) {
            Some(upto) if *author == self.own => upto,
            _ => u64::MAX,
        };
        if after_seq >= served_upto {
            return Batch {
                envelopes: Vec::new(),
                upto: after_seq,
            };
        }
        match self
            .store
            .envelopes_after(space, author, after_seq, budget_bytes)
        {
            Ok(mut found) => {
                found.retain(|(key, _)| key.last_seq <= served_upto);
                Batch {
                    upto: found.last().map_or(after_seq, |(key, _)| key.last_seq),
                    envelopes: found.into_iter().map(|(_, bytes)| bytes).collect(),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the op log for anti-entropy");
                Batch {
                    envelopes: Vec::new(),
                    upto: after_seq,
                }
            }
        }
    }
}

impl Host for NodeLog<'_> {
    fn may_read(&self, space: &SpaceName, peer: &PeerId) -> bool {
        super::members::may_read(self.spaces, space, peer)
    }
}

impl Actor {
    /// Sends the rounds that are due.
    pub(super) fn poll_sync(&mut self) {
        let log = NodeLog {
            store: self.store.as_ref(),
            spaces: &self.spaces,
            own: self.agent,
            unflushed: &self.own_unflushed,
        };
        self.swarm.behaviour_mut().sync.send_due_rounds(&log);
    }

    /// What the sync behaviour reports: requests to answer, responses to take in, stalled
    /// peers to drop.
    pub(super) fn on_sync_event(&mut self, event: Event) {
        let log = NodeLog {
            store: self.store.as_ref(),
            spaces: &self.spaces,
            own: self.agent,
            unflushed: &self.own_unflushed,
        };
        let sync = &mut self.swarm.behaviour_mut().sync;
        match event {
            Event::Request(request) => {
                if let Some(ops) = sync.answer(request, &log) {
                    self.ingest_all(ops);
                }
            }
            Event::Response(response) => {
                if let Some(ops) = sync.take_response(response, &log) {
                    self.ingest_all(ops);
                }
            }
            Event::Stalled { peer } => self.peer_gone(&peer, Departure::Stalled),
        }
    }

    fn ingest_all(&mut self, ops: Ops) {
        let Ops { peer, envelopes } = ops;
        let mut waiting = envelopes;
        // A member's ops may come before the record that made it a member (another author's
        // ops, later in the same batch): those refused as `not_member` are tried again while
        // the batch makes progress, rather than at the next round.
        loop {
            let mut refused = Vec::new();
            let mut applied = false;
            for bytes in waiting {
                match self.ingest(&bytes) {
                    Ok(super::ingest::Ingested::Applied) => applied = true,
                    Ok(_) => {}
                    Err(super::ingest::Refused::NotMember) => refused.push(bytes),
                    Err(e) => {
                        // Replays are counted too (reason `replayed`), though two overlapping
                        // rounds produce them without any misbehaviour.
                        self.metrics.reject(e.reason());
                        tracing::debug!(%peer, error = %e, "envelope from anti-entropy rejected");
                    }
                }
            }
            if !applied || refused.is_empty() {
                for _ in &refused {
                    self.metrics.reject("not_member");
                }
                break;
            }
            waiting = refused;
        }
        self.commit();
        // A round that ran out of budget is due again at once: send it now rather than at the
        // next tick, so a node catching up is not paced by the tick.
        self.poll_sync();
    }
}
