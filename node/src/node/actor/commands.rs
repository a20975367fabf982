//! Serving commands: writes (group-committed) and queries.

use knack_crdt::{CrdtError, Delta, Hlc, NewProcedure, Space, SpaceName};
use knack_protocol::Op;

use super::{Actor, MAX_BATCH, PendingReply, Unsealed, wall_ms};
use crate::error::NodeError;
use crate::event::Event;
use crate::node::command::{Command, Reply};
use crate::status::{ContentStatus, PeerView, SpaceStatus, StatusView};
use crate::views::{ProcedureView, RankedView};

/// Most bytes of own ops sealed into one envelope (well under the envelope's 1 MiB limit,
/// so a batch always seals; larger single deltas are refused).
const UNSEALED_BYTES: usize = 512 * 1024;

/// Most changes in one op: a larger delta (a crystallization sweep over many procedures) is
/// written as several ops rather than refused. An outcome op is always far below it: its
/// size does not depend on the relation graph.
const MAX_CHANGES_PER_OP: usize = 512;

/// The answer to a write, to send once the write is durable: `answer` of the flush's result.
fn pending<T: Send + 'static>(
    reply: Reply<T>,
    answer: impl FnOnce(()) -> Result<T, NodeError> + Send + 'static,
) -> PendingReply {
    Box::new(move |flushed| {
        let _ = reply.send(flushed.and_then(answer));
    })
}

impl Actor {
    /// Serves `first` and every command already queued behind it, then commits the writes.
    pub(super) fn on_commands(&mut self, first: crate::node::command::Command) {
        self.on_command(first);
        for _ in 1..MAX_BATCH {
            match self.commands.try_recv() {
                Ok(command) => self.on_command(command),
                Err(_) => break,
            }
        }
        self.commit();
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Add { space, new, reply } => {
                if let Err(e) = self.check_external(&new.body) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let external = external_of(&new.body);
                let nonce: u64 = rand::random();
                let mut id = None;
                let result = self.write(&space, |s, agent, at| {
                    let (pid, delta) = s.add_procedure(
                        agent,
                        at,
                        NewProcedure {
                            nonce,
                            name: new.name,
                            description: new.description,
                            kind: new.kind,
                            tags: new.tags,
                            body: new.body,
                        },
                    )?;
                    id = Some(pid);
                    Ok(delta)
                });
                match (result, id) {
                    (Ok(()), Some(id)) => {
                        self.queue_external_pin(&space, external);
                        // Answered once its `similar` edges are drawn and durable too.
                        let ack = pending(reply, move |()| Ok(id));
                        self.link_similar(&space, id, ack);
                    }
                    (result, id) => self.after_write(result, reply, move |()| {
                        id.ok_or_else(|| NodeError::Network("add produced no id".into()))
                    }),
                }
            }
            Command::Edit {
                space,
                id,
                edit,
                reply,
            } => {
                if let Some(body) = &edit.body
                    && let Err(e) = self.check_external(body)
                {
                    let _ = reply.send(Err(e));
                    return;
                }
                let external = edit.body.as_ref().and_then(external_of);
                let new_text =
                    edit.body.is_some() || edit.name.is_some() || edit.description.is_some();
                let result = self.write(&space, |s, agent, at| s.edit(agent, at, id, edit));
                if result.is_ok() {
                    self.queue_external_pin(&space, external);
                }
                if result.is_ok() && new_text {
                    self.link_similar(&space, id, pending(reply, Ok));
                } else {
                    self.after_write(result, reply, Ok);
                }
            }
            Command::Outcome {
                space,
                id,
                outcome,
                reply,
            } => {
                let result = self.write(&space, |s, agent, at| {
                    s.record_outcome(agent, at, id, &outcome)
                });
                let view = result
                    .as_ref()
                    .ok()
                    .and_then(|_| self.view(&space, id).ok());
                self.after_write(result, reply, move |()| {
                    view.ok_or(NodeError::Crdt(CrdtError::UnknownProcedure(id)))
                });
            }
            Command::Link {
                space,
                from,
                to,
                kind,
                strength,
                reply,
            } => {
                let result = self.write(&space, |s, agent, at| match strength {
                    Some(strength) => {
                        let delta = s.link(agent, at, from, to, kind, strength)?;
                        // A relation to a procedure this replica does not hold would point at
                        // nothing (a typo, or an id of another space): refused.
                        match [from, to].into_iter().find(|id| s.procedure(id).is_none()) {
                            Some(unknown) => Err(CrdtError::UnknownProcedure(unknown)),
                            None => Ok(delta),
                        }
                    }
                    None => s.unlink(agent, at, from, to, kind),
                });
                self.after_write(result, reply, Ok);
            }
            Command::Get { space, id, reply } => {
                let _ = reply.send(self.view(&space, id));
            }
            Command::Top {
                space,
                n,
                filter,
                policy,
                reply,
            } => {
                // Ranking scores every procedure (tens of ms at 100k): the actor only freezes the
                // space (O(1)) and another thread ranks from it.
                let now = wall_ms();
                match self.freeze(&space) {
                    None => {
                        let _ = reply.send(Err(NodeError::UnknownSpace(space.to_string())));
                    }
                    Some(mut frozen) => {
                        tokio::task::spawn_blocking(move || {
                            // Neighbourhoods left stale (many) are taken from the settle job
                            // out, or summed on every core, before every procedure is scored.
                            frozen.settle();
                            let rows = frozen
                                .rank(n, &filter, now, policy, &mut rand::thread_rng())
                                .iter()
                                .filter_map(|row| {
                                    Some(RankedView::of(&frozen.procedure(&row.id)?, row, None))
                                })
                                .collect();
                            let _ = reply.send(Ok(rows));
                        });
                    }
                }
            }
            Command::Search {
                space,
                query,
                policy,
                reply,
            } => self.search(&space, query, policy, reply),
            Command::Similar {
                space,
                id,
                n,
                reply,
            } => self.similar(&space, id, n, reply),
            Command::Health { reply } => {
                let _ = reply.send(Ok(self.health()));
            }
            Command::Peers { reply } => {
                let peers = self
                    .connected
                    .iter()
                    .map(|(peer, addrs)| PeerView {
                        peer_id: peer.to_string(),
                        addrs: addrs.iter().map(ToString::to_string).collect(),
                    })
                    .collect();
                let _ = reply.send(Ok(peers));
            }
            Command::Checkpoint { space, reply } => self.checkpoint(space, Some(reply)),
            Command::Status { reply } => {
                let _ = reply.send(Ok(self.status()));
            }
            Command::SetApiAddr { addr, reply } => {
                self.api_addr = Some(addr);
                let _ = reply.send(Ok(()));
            }
            Command::InlineMax { space, reply } => {
                let max = self
                    .replica(&space)
                    .map(|r| r.space.settings().inline_max_bytes as usize);
                let _ = reply.send(max);
            }
            Command::BodyRef { space, id, reply } => {
                let _ = reply.send(self.body_ref(&space, id));
            }
            Command::FetchBlob { hash, size, reply } => self.fetch_blob(hash, size, reply),
            Command::JoinSpace { space, root, reply } => {
                let _ = reply.send(self.join_space(space, root));
            }
            Command::Spaces { reply } => {
                let _ = reply.send(Ok(self.space_views()));
            }
            Command::Members { space, reply } => {
                let _ = reply.send(self.members_view(&space));
            }
            Command::SetMember {
                space,
                member,
                change,
                reply,
            } => {
                let result = self.set_member(&space, member, change);
                let view = self.members_view(&space);
                self.after_write(result, reply, move |()| view);
            }
            Command::Settings { space, reply } => {
                let _ = reply.send(self.settings_view(&space));
            }
            Command::UpdateSettings {
                space,
                patch,
                reply,
            } => {
                let result = self.update_settings(&space, &patch);
                let view = self.settings_view(&space);
                self.after_write(result, reply, move |()| view);
            }
            Command::RecordPin {
                space,
                hash,
                cid,
                reply,
            } => {
                let result = self.write(&space, |s, me, _| s.pin_content(me, hash, cid));
                self.after_write(result, reply, Ok);
            }
        }
    }

    /// Answers a write once it is durable: on success the reply waits for the next commit.
    fn after_write<T: Send + 'static>(
        &mut self,
        result: Result<(), NodeError>,
        reply: Reply<T>,
        answer: impl FnOnce(()) -> Result<T, NodeError> + Send + 'static,
    ) {
        match result {
            Ok(()) => self.unacknowledged.push(pending(reply, answer)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// An external body must be held here (uploaded) before an op may point at it.
    fn check_external(&self, body: &knack_crdt::Body) -> Result<(), NodeError> {
        let knack_crdt::Body::External { hash, size } = body else {
            return Ok(());
        };
        match self.blobs.store().size_of(hash) {
            Some(held) if held == *size => Ok(()),
            Some(held) => Err(NodeError::Content(
                crate::content::ContentError::Unavailable {
                    hash: *hash,
                    reason: format!("the stored blob has {held} bytes, not {size}"),
                },
            )),
            None => Err(NodeError::Content(
                crate::content::ContentError::Unavailable {
                    hash: *hash,
                    reason: "it is not in this node's blob store: upload it first (POST /v1/blobs)"
                        .into(),
                },
            )),
        }
    }

    fn body_ref(
        &self,
        space: &SpaceName,
        id: knack_crdt::ProcedureId,
    ) -> Result<crate::node::command::BodyRef, NodeError> {
        let replica = self.replica(space)?;
        let p = replica
            .space
            .procedure(&id)
            .ok_or(NodeError::Crdt(CrdtError::UnknownProcedure(id)))?;
        let content = p
            .body()
            .cloned()
            .ok_or(NodeError::Crdt(CrdtError::UnknownProcedure(id)))?;
        let own_cid = replica
            .space
            .pin_by(&content.hash, &self.agent)
            .map(str::to_owned);
        let mut cids: Vec<String> = own_cid.iter().cloned().collect();
        for cid in replica.space.cids(&content.hash) {
            if own_cid.as_deref() != Some(cid) {
                cids.push(cid.to_owned());
            }
        }
        Ok(crate::node::command::BodyRef {
            cids,
            own_cid,
            crystallized: p.crystallized(),
            content,
        })
    }

    pub(super) fn replica(
        &self,
        space: &SpaceName,
    ) -> Result<&crate::node::replica::Replica, NodeError> {
        self.spaces
            .get(space)
            .ok_or_else(|| NodeError::UnknownSpace(space.to_string()))
    }

    /// `id` as `show` answers it: its neighbourhood, if stale (by a relation change, or a
    /// backlog of pushes), is recomputed once and kept, rather than walked again for each of
    /// the view's derived values (with a few stale, all are; many are left to a settle job).
    fn view(
        &mut self,
        space: &SpaceName,
        id: knack_crdt::ProcedureId,
    ) -> Result<ProcedureView, NodeError> {
        self.settle_for(space, &id);
        let replica = self.replica(space)?;
        let p = replica
            .space
            .procedure(&id)
            .ok_or(NodeError::Crdt(CrdtError::UnknownProcedure(id)))?;
        Ok(ProcedureView::of(&replica.space, &p, wall_ms()))
    }

    /// Authors a delta with `author` at a fresh timestamp and writes it as this node's next
    /// op(s): sealed, appended to the store (durable at the next commit) and applied.
    pub(super) fn write(
        &mut self,
        space: &SpaceName,
        author: impl FnOnce(&Space, knack_crdt::AgentId, Hlc) -> Result<Delta, CrdtError>,
    ) -> Result<(), NodeError> {
        let at = self.clock.now(wall_ms());
        let replica = self.replica(space)?;
        let delta = author(&replica.space, self.agent, at)?;
        self.write_delta(space, at, delta)
    }

    /// Writes an authored delta as this node's next op(s): checked, applied to the replica
    /// at once (so the next write in the same batch builds on it), and queued to be sealed
    /// with the other own ops of this commit into one signed envelope per space (one
    /// signature and one stored record for many writes; the replies wait for the flush after
    /// the seal).
    pub(super) fn write_delta(
        &mut self,
        space: &SpaceName,
        at: Hlc,
        delta: Delta,
    ) -> Result<(), NodeError> {
        if let Some(fault) = &self.write_fault {
            return Err(NodeError::Store(crate::store::StoreError::Write(
                fault.clone(),
            )));
        }
        self.check_own_ops(space)?;
        self.check_disk()?;
        if let Some(membership) = self.replica(space)?.space.membership()
            && !membership.is_member(&self.agent)
        {
            return Err(NodeError::NotMember {
                space: space.to_string(),
            });
        }
        let mut chunks: Vec<Vec<knack_crdt::Change>> = Vec::new();
        let mut changes = delta.changes.into_iter().peekable();
        while changes.peek().is_some() {
            chunks.push(changes.by_ref().take(MAX_CHANGES_PER_OP).collect());
        }
        let mut at = Some(at);
        for chunk in chunks {
            let hlc = at.take().unwrap_or_else(|| self.clock.now(wall_ms()));
            let seq = self.replica(space)?.vv.get(&self.agent) + 1;
            let body = Delta::new(chunk);
            body.validate(&self.agent, space, hlc, seq)?;
            let size = bincode::serde::encode_to_vec(&body, bincode::config::standard())
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > UNSEALED_BYTES {
                return Err(NodeError::Protocol(
                    knack_protocol::ProtocolError::Oversized {
                        len: size,
                        max: UNSEALED_BYTES,
                    },
                ));
            }
            let full = self.unsealed.get(space).is_some_and(|u| {
                u.ops.len() >= knack_protocol::MAX_OPS_PER_ENVELOPE
                    || u.bytes + size > UNSEALED_BYTES
            });
            if full {
                self.seal_all()?;
            }
            let agent = self.agent;
            let op = Op {
                space: space.clone(),
                author: agent,
                seq,
                hlc,
                body,
            };
            let replica = self
                .spaces
                .get_mut(space)
                .ok_or_else(|| NodeError::UnknownSpace(space.to_string()))?;
            let applied = replica.apply_ops(std::slice::from_ref(&op));
            self.note_own_op(space, seq, &op.body);
            let batch = self.unsealed.entry(space.clone()).or_insert(Unsealed {
                first_seq: seq,
                ops: Vec::new(),
                bytes: 0,
            });
            batch.ops.push((hlc, op.body));
            batch.bytes += size;
            self.reindex(space, &applied.texts);
            self.metrics.ops_applied.inc_by(applied.ops);
            self.ops_since_snapshot += applied.ops;
            self.emit(Event::Applied {
                space: space.to_string(),
                author: agent.to_hex(),
                first_seq: seq,
                last_seq: seq,
                procedures: applied.procedures.iter().map(|p| p.to_hex()).collect(),
                local: true,
                written_ms: hlc.wall_ms,
                applied_ms: wall_ms(),
            });
        }
        Ok(())
    }

    /// Writes the crystallization transitions the counts of `procedures` in `space` call for,
    /// if any.
    pub(super) fn propose_crystal_transitions(
        &mut self,
        space: &SpaceName,
        procedures: &[knack_crdt::ProcedureId],
    ) {
        let Ok(replica) = self.replica(space) else {
            return;
        };
        let delta = replica.space.crystal_transitions_of(procedures);
        if delta.is_empty() {
            return;
        }
        let at = self.clock.now(wall_ms());
        if let Err(e) = self.write_delta(space, at, delta) {
            tracing::warn!(error = %e, "could not write crystallization transitions");
        }
    }

    fn content_status(&self) -> ContentStatus {
        let (blobs, blob_bytes) = self.blobs.usage();
        let pinned = self.spaces.values().map(|r| r.space.pinned().count()).sum();
        let ipfs = self.ipfs_status.as_ref().map(|s| s.borrow().clone());
        let mode = match &ipfs {
            Some(s) => format!(
                "blob store + peers (/knack/blob/1) + IPFS at {} ({})",
                s.endpoint,
                if s.healthy { "healthy" } else { "unreachable" }
            ),
            None => "embedded default: blob store + peers (/knack/blob/1); no IPFS endpoint \
                     configured (knack run --ipfs-api URL)"
                .into(),
        };
        ContentStatus {
            mode,
            blobs,
            blob_bytes,
            blob_budget_bytes: self.config.blob_cache_bytes,
            downloads: self.swarm.behaviour().blob.active(),
            pinned,
            ipfs,
        }
    }

    fn status(&self) -> StatusView {
        StatusView {
            peer_id: self.swarm.local_peer_id().to_string(),
            agent_id: self.agent.to_hex(),
            listen_addrs: self.listen_addrs.iter().map(ToString::to_string).collect(),
            api: self.api_addr.map(|a| a.to_string()),
            peers: self.connected.keys().map(ToString::to_string).collect(),
            spaces: self
                .spaces
                .iter()
                .map(|(name, r)| SpaceStatus {
                    name: name.to_string(),
                    digest: r.space.digest().to_string(),
                    ops: r.vv.total_ops(),
                    procedures: r.space.len(),
                    version_vector: r.vv.iter().map(|(a, s)| (a.to_hex(), s)).collect(),
                    buffered_ops: self.inbox.stats().buffered_ops,
                    own_ops_missing: self.own_ops_missing(name),
                    forked_authors: self.forked_authors(name),
                })
                .collect(),
            store_bytes: self.store.size_on_disk(),
            content: self.content_status(),
            search: crate::status::SearchStatus {
                embedder: self.discovery.embedder_name(),
                fallback: self.discovery.fallback.clone(),
                building: self.discovery.building(),
            },
            private_network: self.private_network.clone(),
        }
    }
}

/// The hash and size of a body stored as a blob.
fn external_of(body: &knack_crdt::Body) -> Option<(knack_crdt::ContentHash, u64)> {
    match body {
        knack_crdt::Body::External { hash, size } => Some((*hash, *size)),
        knack_crdt::Body::Inline(_) => None,
    }
}
