//! Taking in envelopes from peers (gossip and anti-entropy): decode, verify, order, store,
//! apply.

use knack_protocol::{Admitted, Envelope, ProtocolError};

use super::{Actor, wall_ms};
use crate::event::Event;
use crate::node::replica::key_of;

/// Why an envelope from a peer was not taken.
#[derive(Debug)]
pub(super) enum Refused {
    /// It breaks the protocol (or is already known).
    Protocol(ProtocolError),
    /// Its author may not write its space (see `Config::members`), or not these ops (a
    /// members-only space's membership: a non-member, or a removed member past its cutoff).
    /// No misbehaviour of the sender: a member's op may arrive before the record that added
    /// it, and anti-entropy offers it again later.
    NotMember,
    /// Its author signed two different envelopes for one sequence number (see `forks.rs`).
    Forked,
    /// The disk is below its reserve: not taken now (anti-entropy delivers it later).
    DiskFull,
}

impl Refused {
    /// The metrics label.
    pub(super) fn reason(&self) -> &'static str {
        match self {
            Refused::Protocol(e) => e.reason(),
            Refused::NotMember => "not_member",
            Refused::Forked => "forked",
            Refused::DiskFull => "disk_full",
        }
    }

    /// Whether it is no misbehaviour of the sender: a replay of known ops, an envelope
    /// not taken for lack of disk space, or one whose author is no member (yet) here.
    pub(super) fn is_replay(&self) -> bool {
        matches!(
            self,
            Refused::Protocol(ProtocolError::Replayed { .. })
                | Refused::DiskFull
                | Refused::NotMember
        )
    }
}

impl From<ProtocolError> for Refused {
    fn from(e: ProtocolError) -> Self {
        Refused::Protocol(e)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Protocol(e) => e.fmt(f),
            Refused::NotMember => f.write_str("the author is not a member of the space"),
            Refused::DiskFull => f.write_str("the disk is below its free-space reserve"),
            Refused::Forked => f.write_str(
                "the author is forked: it signed two different \
                                            envelopes for one sequence number",
            ),
        }
    }
}

/// What became of an envelope from a peer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ingested {
    /// Its new ops (and any it unblocked) were applied.
    Applied,
    /// It waits in the inbox for earlier ops.
    Buffered,
    /// It is for a space this node has not joined.
    OtherSpace,
}

impl Actor {
    /// Decodes, verifies and orders an envelope from a peer, then stores and applies every op
    /// that became ready. Fails for an envelope that must be rejected (or is already known:
    /// `Replayed`, which is not misbehaviour).
    pub(super) fn ingest(&mut self, bytes: &[u8]) -> Result<Ingested, Refused> {
        let envelope = Envelope::decode(bytes)?;
        envelope.verify()?;
        if self.check_disk().is_err() {
            return Err(Refused::DiskFull);
        }
        let space = envelope.space().clone();
        if !self.spaces.contains_key(&space) {
            return Ok(Ingested::OtherSpace);
        }
        if let Some(members) = self.config.members.get(&space) {
            let author = knack_protocol::peer_id(&envelope.author())?;
            if author != *self.swarm.local_peer_id() && !members.contains(&author) {
                return Err(Refused::NotMember);
            }
        }
        if let Some(replica) = self.spaces.get(&space)
            && !replica
                .space
                .accepts(&envelope.author(), envelope.last_seq())
        {
            return Err(Refused::NotMember);
        }
        if self.is_fork(&envelope) {
            return Err(Refused::Forked);
        }
        self.note_own_from_peer(&envelope);
        if let Some((hlc, _)) = envelope.entries().last() {
            self.clock.observe(*hlc, wall_ms())?;
        }
        let Some(replica) = self.spaces.get(&space) else {
            return Ok(Ingested::OtherSpace);
        };
        let ready = match self.inbox.admit(&replica.vv, envelope)? {
            Admitted::Ready(ready) => ready,
            Admitted::Buffered { .. } => return Ok(Ingested::Buffered),
        };
        let mut touched = Vec::new();
        let members_only = self.is_members_only(&space);
        for r in ready {
            // Envelopes released from the inbox were checked when they arrived; membership
            // may have changed since (not applied: anti-entropy offers them again).
            if members_only
                && self.spaces.get(&space).is_some_and(|replica| {
                    !replica
                        .space
                        .accepts(&r.envelope.author(), r.envelope.last_seq())
                })
            {
                break;
            }
            if let Err(e) = self
                .store
                .append_envelope(&key_of(&r.envelope), r.envelope.as_bytes())
            {
                // Not stored, so not applied either: the version vector stays behind and
                // anti-entropy fetches the ops again.
                tracing::error!(error = %e, "store append failed");
                break;
            }
            let Some(replica) = self.spaces.get_mut(&space) else {
                break;
            };
            let applied = replica.apply_ops(&r.ops);
            self.note_run_end(&r.envelope);
            self.metrics.ops_applied.inc_by(applied.ops);
            self.unflushed_remote = true;
            self.ops_since_snapshot += applied.ops;
            touched.extend(applied.procedures.iter().copied());
            self.reindex(&space, &applied.texts);
            self.emit(Event::Applied {
                space: space.to_string(),
                author: r.envelope.author().to_hex(),
                first_seq: r.ops.first().map_or(0, |o| o.seq),
                last_seq: r.envelope.last_seq(),
                procedures: applied.procedures.iter().map(|p| p.to_hex()).collect(),
                local: false,
                written_ms: applied.last_hlc.map_or(0, |h| h.wall_ms),
                applied_ms: wall_ms(),
            });
        }
        touched.sort();
        touched.dedup();
        self.propose_crystal_transitions(&space, &touched);
        if members_only {
            // No gossip in a members-only space: members learn new ops by anti-entropy, due
            // at once with every peer (non-members are skipped).
            self.swarm.behaviour_mut().sync.sync_now(&space);
            self.enforce_membership(&space);
        }
        Ok(Ingested::Applied)
    }
}
