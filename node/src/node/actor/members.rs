//! Members-only spaces in the actor: joining spaces at runtime, signing membership changes,
//! deciding which peers are served a space, and converging after a late removal.

use knack_crdt::{AgentId, CrdtError, Role, SpaceName};
use libp2p::PeerId;

use super::{Actor, Completion, wall_ms};
use crate::error::NodeError;
use crate::members::{MemberView, MembersView, RoleChange, SpaceView};
use crate::metrics::Metrics;
use crate::net::topic;
use crate::node::replica::Replica;

/// Spaces by name.
type Spaces = std::collections::BTreeMap<SpaceName, Replica>;

impl Actor {
    /// Whether `space` is members-only here.
    pub(super) fn is_members_only(&self, space: &SpaceName) -> bool {
        self.spaces
            .get(space)
            .is_some_and(|r| r.space.membership().is_some())
    }

    /// Whether `peer` may be served the blob `hash` (see [`may_serve_blob`]).
    pub(super) fn may_serve_blob(&self, peer: &PeerId, hash: &knack_crdt::ContentHash) -> bool {
        may_serve_blob(&self.spaces, peer, hash)
    }

    /// Counts a request refused to a non-member.
    pub(super) fn refuse_request(&self, reason: &str) {
        Metrics::count(&self.metrics.requests_refused, reason);
    }

    /// Joins `name` now (restoring whatever the store holds of it), members-only under `root`
    /// when given, and records it in `spaces.json` so a restart joins it again. Joining a
    /// space already joined with the same root changes nothing.
    pub(super) fn join_space(
        &mut self,
        name: SpaceName,
        root: Option<PeerId>,
    ) -> Result<SpaceView, NodeError> {
        let root_agent =
            match root {
                Some(peer) => Some(knack_protocol::agent_of(&peer).ok_or_else(|| {
                    NodeError::BadPeer(format!("{peer} is not an ed25519 peer id"))
                })?),
                None => None,
            };
        if let Some(replica) = self.spaces.get(&name) {
            if replica.space.root() == root_agent {
                return Ok(self.space_view(&name, replica));
            }
            return Err(NodeError::SpaceConflict {
                space: name.to_string(),
                reason: match replica.space.root() {
                    Some(_) => "it is joined here as a members-only space with another root".into(),
                    None => "it is joined here as an open space".into(),
                },
            });
        }
        let restored = Replica::restore(self.store.as_ref(), &name)?;
        let (mut replica, latest) = (restored.replica, restored.latest);
        self.snapshot_bytes += restored.snapshot_bytes;
        replica.space.set_root(root_agent);
        if !self.swarm.behaviour_mut().sync.add_space(name.clone()) {
            return Err(NodeError::SpaceConflict {
                space: name.to_string(),
                reason: "this node syncs as many spaces as it can already".into(),
            });
        }
        if let Err(e) = self.joined.insert(name.clone(), root) {
            self.swarm.behaviour_mut().sync.remove_space(&name);
            return Err(e);
        }
        self.clock.observe(latest, wall_ms())?;
        if root.is_none() {
            // Open spaces travel by gossip; members-only ones only by anti-entropy with
            // members (gossipsub cannot choose who receives a topic's messages).
            self.swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&topic(&name))
                .map_err(|e| NodeError::Network(e.to_string()))?;
        }
        super::discovery::index_space(
            &mut self.discovery,
            &name,
            &replica.space,
            self.config.search.build_inline_max,
            &self.completions_tx,
        );
        let view = self.space_view(&name, &replica);
        self.spaces.insert(name.clone(), replica);
        tracing::info!(space = %name, members_only = root.is_some(), "joined space");
        Ok(view)
    }

    /// Every joined space.
    pub(super) fn space_views(&self) -> Vec<SpaceView> {
        self.spaces
            .iter()
            .map(|(name, replica)| self.space_view(name, replica))
            .collect()
    }

    fn space_view(&self, name: &SpaceName, replica: &Replica) -> SpaceView {
        let root = replica
            .space
            .root()
            .and_then(|a| knack_protocol::peer_id(&a).ok());
        let role = match replica.space.membership() {
            None => "open".to_owned(),
            Some(m) => m.role(&self.agent).map_or("none", |r| r.name()).to_owned(),
        };
        SpaceView {
            name: name.to_string(),
            members_only: root.is_some(),
            join: match root {
                Some(root) => format!("{name}@{root}"),
                None => name.to_string(),
            },
            root: root.map(|r| r.to_string()),
            role,
            settings_by: replica
                .space
                .settings_register()
                .map(|r| peer_string(&r.stamp.agent)),
            procedures: replica.space.len(),
            ops: replica.vv.total_ops(),
        }
    }

    /// The effective membership of a members-only space.
    pub(super) fn members_view(&self, space: &SpaceName) -> Result<MembersView, NodeError> {
        let replica = self.replica(space)?;
        let membership = replica.space.membership().ok_or(CrdtError::OpenSpace)?;
        let root = membership.root();
        let members = membership
            .roles()
            .map(|(agent, role)| MemberView {
                peer_id: peer_string(agent),
                role: role.name().to_owned(),
                cutoff: match role {
                    Role::Removed { cutoff } => Some(cutoff),
                    _ => None,
                },
                root: *agent == root,
            })
            .collect();
        Ok(MembersView {
            space: space.to_string(),
            root: peer_string(&root),
            members,
            records: replica.space.member_records().len(),
        })
    }

    /// Signs a membership change as this node (refused unless it is an admin). A removal
    /// keeps the member's ops this node holds (its cutoff is this node's version vector entry).
    pub(super) fn set_member(
        &mut self,
        space: &SpaceName,
        member: PeerId,
        change: RoleChange,
    ) -> Result<(), NodeError> {
        let member = knack_protocol::agent_of(&member)
            .ok_or_else(|| NodeError::BadPeer(format!("{member} is not an ed25519 peer id")))?;
        let role = match change {
            RoleChange::Member => Role::Member,
            RoleChange::Admin => Role::Admin,
            RoleChange::Remove => Role::Removed {
                cutoff: self.replica(space)?.vv.get(&member),
            },
        };
        self.write(space, |s, agent, at| s.set_member(agent, at, member, role))?;
        // A removal or demotion can make records (and so ops) held here stop taking effect.
        self.enforce_membership(space);
        Ok(())
    }

    /// After ops were applied to a members-only space: if some author's held ops now go past
    /// what the membership accepts (a removal that arrived after its ops, or a record that no
    /// longer takes effect), rebuilds the space from the log without them on a blocking
    /// thread (a scan of the space's log); [`Actor::install_rebuilt`] takes the result.
    pub(super) fn enforce_membership(&mut self, space: &SpaceName) {
        if self.rebuilding.contains(space) || self.own_appends_deferred(space) {
            // Checked again when the rebuild in flight is installed, or once the checkpoint
            // run being stored settled (the log lacks own ops the replica holds until then).
            return;
        }
        let Some(replica) = self.spaces.get(space) else {
            return;
        };
        let (Some(membership), Some(root)) = (replica.space.membership(), replica.space.root())
        else {
            return;
        };
        let past = replica
            .vv
            .iter()
            .any(|(author, seq)| author != self.agent && !membership.accepts(&author, seq));
        if !past {
            return;
        }
        let membership = membership.clone();
        // Own ops still in memory only must reach the log before it is replayed.
        self.commit_now();
        self.rebuilding.insert(space.clone());
        let (store, done, own) = (self.store.clone(), self.completions_tx.clone(), self.agent);
        let space = space.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = Replica::rebuild_accepting(store.as_ref(), &space, root, own, membership)
                .map(Box::new)
                .map_err(|e| e.to_string());
            tracing::info!(%space, elapsed = ?started.elapsed(), "members-only space rebuilt");
            let _ = done.blocking_send(Completion::Rebuilt { space, result });
        });
    }

    /// Installs a space rebuilt off the actor: catches it up with the envelopes stored
    /// meanwhile, swaps it in, records the manifest, deletes the refused envelopes from the
    /// store, makes a snapshot due (written off the actor at the next tick) and rebuilds the
    /// search index; so this replica converges with those that never took the refused ops.
    /// (A crash before that snapshot is written restores the old one, refused ops included:
    /// the start checks the membership again and rebuilds.)
    pub(super) fn install_rebuilt(
        &mut self,
        space: SpaceName,
        result: Result<Box<crate::node::replica::Rebuilt>, String>,
    ) {
        self.rebuilding.remove(&space);
        let rebuilt = match result {
            Ok(rebuilt) => rebuilt,
            Err(e) => {
                tracing::error!(%space, error = %e, "rebuilding after a removal failed");
                return;
            }
        };
        // A checkpoint run being stored: installed once it settled.
        let Some(mut rebuilt) = self.hold_rebuilt(&space, rebuilt) else {
            return;
        };
        if !self.spaces.contains_key(&space) {
            return;
        }
        // Own ops sealed since the scan are in the log now; catch up with the log's tail.
        self.commit_now();
        if let Err(e) = rebuilt
            .replica
            .catch_up(self.store.as_ref(), &space, self.agent)
        {
            tracing::error!(%space, error = %e, "catching up a rebuilt space failed");
            return;
        }
        // The manifest first (it may only be behind the store), then the deletions.
        self.spaces.insert(space.clone(), rebuilt.replica);
        self.record_manifest();
        let mut deleted = 0;
        for (author, keep) in &rebuilt.dropped {
            match self.store.remove_envelopes_after(&space, author, *keep) {
                Ok(n) => deleted += n,
                Err(e) => tracing::error!(%space, error = %e, "deleting refused envelopes"),
            }
        }
        self.metrics.envelopes_dropped.inc_by(deleted as u64);
        self.snapshot_forced = true;
        if let Some(replica) = self.spaces.get(&space) {
            super::discovery::index_space(
                &mut self.discovery,
                &space,
                &replica.space,
                self.config.search.build_inline_max,
                &self.completions_tx,
            );
        }
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "flush after a rebuild failed");
        }
        tracing::info!(
            %space, authors = rebuilt.dropped.len(), deleted,
            "a members-only space converged without a removed member's later ops"
        );
        // The membership may have changed while the rebuild ran.
        self.enforce_membership(&space);
    }
}

/// An agent's peer id as text (its hex id if it is no valid key).
pub(super) fn peer_string(agent: &AgentId) -> String {
    knack_protocol::peer_id(agent).map_or_else(|_| agent.to_hex(), |p| p.to_string())
}

/// Whether `peer` may be served `space`'s ops: any peer for an open space (or one this node
/// has not joined: the sync engine refuses those itself), only current members for a
/// members-only space.
pub(super) fn may_read(spaces: &Spaces, space: &SpaceName, peer: &PeerId) -> bool {
    match spaces.get(space).and_then(|r| r.space.membership()) {
        None => true,
        Some(m) => knack_protocol::agent_of(peer).is_some_and(|a| m.is_member(&a)),
    }
}

/// Whether `peer` may be served the blob `hash`: any held blob when this node has no
/// members-only space; otherwise only a blob that an open space references, or a
/// members-only space where `peer` is a member.
pub(super) fn may_serve_blob(
    spaces: &Spaces,
    peer: &PeerId,
    hash: &knack_crdt::ContentHash,
) -> bool {
    if !spaces.values().any(|r| r.space.membership().is_some()) {
        return true;
    }
    let agent = knack_protocol::agent_of(peer);
    spaces.values().any(|r| {
        let readable = match r.space.membership() {
            None => true,
            Some(m) => agent.is_some_and(|a| m.is_member(&a)),
        };
        readable
            && r.space
                .procedures()
                .any(|p| p.versions().any(|(_, c)| c.hash == *hash))
    })
}
