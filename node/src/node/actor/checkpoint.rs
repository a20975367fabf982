//! Author checkpoints of this node's own ops, and the op log compacted below every whole
//! checkpoint run it holds (see `knack_protocol::checkpoint`).
//!
//! Restating is a replay of this node's own envelopes into a scratch space; it runs on a
//! blocking thread (the log is read through the store, which is shared), and the actor then
//! tops it up with the own ops written meanwhile, seals the run with the next sequence numbers,
//! stores it, advances its own version vector past it (merging it would be a no-op on the state:
//! the run only restates) and publishes it. Deleting
//! restated envelopes waits for a flush that makes the run durable, and runs off the actor too.

use std::collections::BTreeMap;
use std::sync::Arc;

use knack_crdt::{AgentId, Space, SpaceName};
use knack_protocol::Envelope;
use knack_protocol::checkpoint::{CheckpointPlan, seal_checkpoint_into};

use super::{Actor, Completion, wall_ms};
use crate::error::NodeError;
use crate::node::command::Reply;
use crate::node::replica::key_of;
use crate::store::{Store, StoreError};
use crate::views::CheckpointView;

/// Bytes of stored envelopes read at a time while restating.
const RESTATE_BATCH_BYTES: usize = 4 << 20;

/// Envelopes deleted in one pass from which their space is given back at once
/// ([`Store::reclaim`]); fewer are left to the engine's own compaction.
const RECLAIM_AFTER_ENVELOPES: usize = 64;

/// Checkpoints in progress and compaction waiting for a flush.
#[derive(Default)]
pub(crate) struct Checkpoints {
    /// Spaces whose own ops are being restated off the actor, with the callers waiting.
    building: BTreeMap<SpaceName, Vec<Reply<CheckpointView>>>,
    /// Own envelope bytes sealed since the last checkpoint (or the start), per space.
    own_bytes: BTreeMap<SpaceName, u64>,
    /// Size of the last checkpoint run sealed, per space.
    last_run_bytes: BTreeMap<SpaceName, u64>,
    /// Whole runs held: (space, author, first sequence number of the run), whose author's
    /// earlier envelopes are deleted after the next successful flush.
    compactable: Vec<(SpaceName, AgentId, u64)>,
    /// Whether a deletion pass runs off the actor.
    compacting: bool,
}

/// A restatement built off the actor: the scratch space and the last own sequence number it
/// holds.
pub(crate) struct Restated {
    space: Space,
    known: u64,
}

impl Actor {
    /// Starts a checkpoint of this node's own ops in `space`; `reply` (if any) gets the run.
    pub(super) fn checkpoint(&mut self, space: SpaceName, reply: Option<Reply<CheckpointView>>) {
        if let Some(waiting) = self.checkpoints.building.get_mut(&space) {
            waiting.extend(reply);
            return;
        }
        if let Err(e) = self.writable(&space) {
            if let Some(reply) = reply {
                let _ = reply.send(Err(e));
            }
            return;
        }
        // Every own op in the store, so the replay sees them (and the tail is short).
        self.commit_now();
        self.checkpoints
            .building
            .insert(space.clone(), reply.into_iter().collect());
        let (store, agent, done) = (self.store.clone(), self.agent, self.completions_tx.clone());
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut restated = Restated {
                space: Space::for_restatement(space.clone()),
                known: 0,
            };
            let result = replay_own(store.as_ref(), &space, &agent, &mut restated)
                .map(|()| Box::new(restated))
                .map_err(|e| e.to_string());
            tracing::debug!(%space, elapsed = ?started.elapsed(), "own ops restated");
            let _ = done.blocking_send(Completion::Restated { space, result });
        });
    }

    /// A restatement finished off the actor: seal, store, apply and publish the run.
    pub(super) fn restated(&mut self, space: SpaceName, result: Result<Box<Restated>, String>) {
        let replies = self.checkpoints.building.remove(&space).unwrap_or_default();
        let result = result
            .map_err(|e| NodeError::Store(StoreError::Corrupt(e)))
            .and_then(|mut restated| self.seal_run(&space, &mut restated));
        if let Err(e) = &result {
            tracing::error!(%space, error = %e, "checkpoint failed");
        }
        let (view, mut error) = match result {
            Ok(view) => (Some(view), None),
            Err(e) => (None, Some(e)),
        };
        let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
        for reply in replies {
            // Errors are not `Clone`: the first caller gets the error itself, callers that
            // joined the same checkpoint get its message.
            let answer = match (&view, error.take()) {
                (Some(view), _) => Ok(view.clone()),
                (None, Some(e)) => Err(e),
                (None, None) => Err(NodeError::Store(StoreError::Write(message.clone()))),
            };
            let _ = reply.send(answer);
        }
    }

    /// Seals the run of a restatement topped up with the own ops written since it was begun.
    fn seal_run(
        &mut self,
        space: &SpaceName,
        restated: &mut Restated,
    ) -> Result<CheckpointView, NodeError> {
        self.writable(space)?;
        self.commit_now();
        replay_own(self.store.as_ref(), space, &self.agent, restated)?;
        let first = self.replica(space)?.vv.get(&self.agent) + 1;
        if restated.known + 1 != first {
            return Err(NodeError::Store(StoreError::Corrupt(format!(
                "own op log of {space} ends at {} but this node wrote up to {}",
                restated.known,
                first - 1
            ))));
        }
        // Planned in one walk over the restatement and sealed in a second, each envelope
        // stored as it is sealed: at 100k procedures the restatement is over a million changes
        // and its run ~170 MB, neither of which is ever held whole.
        let plan = CheckpointPlan::of(restated.space.restatement_changes());
        let change_count = plan.changes();
        let (key, clock, store) = (&self.key, &mut self.clock, &self.store);
        let mut replica = self.spaces.get_mut(space);
        let (mut bytes, mut envelopes) = (0u64, 0usize);
        let mut write_fault = None;
        let sealed = seal_checkpoint_into(
            key,
            space,
            first,
            &plan,
            restated.space.restatement_changes(),
            || clock.now(wall_ms()),
            |envelope: Envelope| -> Result<(), NodeError> {
                if let Err(e) = store.append_envelope(&key_of(&envelope), envelope.as_bytes()) {
                    write_fault = Some(e.to_string());
                    return Err(e.into());
                }
                bytes += envelope.encoded_len() as u64;
                envelopes += 1;
                if let Some(replica) = replica.as_deref_mut() {
                    replica.observe_own_restatement(&envelope);
                }
                Ok(())
            },
        );
        if let Some(e) = write_fault {
            let message =
                format!("writing a checkpoint run failed ({e}); it refuses writes until restarted");
            tracing::error!("{message}");
            self.write_fault = Some(message);
        }
        let Some(span) = sealed? else {
            return Ok(CheckpointView {
                space: space.to_string(),
                first_seq: 0,
                last_seq: 0,
                envelopes: 0,
                changes: 0,
                bytes: 0,
            });
        };
        // The run is not gossiped (688 envelopes of 256 KiB at 100k procedures, copied into
        // every peer's queue): peers fetch it by anti-entropy, as they fetch anything missed.
        self.unpublished_marks.push((space.clone(), span.last));
        self.checkpoints.own_bytes.insert(space.clone(), 0);
        self.checkpoints.last_run_bytes.insert(space.clone(), bytes);
        self.checkpoints
            .compactable
            .push((space.clone(), self.agent, span.first));
        self.metrics.checkpoints.inc();
        // Durable, and then the restated envelopes go.
        self.flush_now();
        tracing::info!(%space, first = span.first, last = span.last, envelopes, bytes, "checkpoint sealed");
        Ok(CheckpointView {
            space: space.to_string(),
            first_seq: span.first,
            last_seq: span.last,
            envelopes,
            changes: change_count,
            bytes,
        })
    }

    /// Counts an own envelope sealed (for the automatic checkpoint).
    pub(super) fn note_own_envelope(&mut self, space: &SpaceName, bytes: usize) {
        *self.checkpoints.own_bytes.entry(space.clone()).or_default() += bytes as u64;
    }

    /// Notes a stored envelope from a peer (or from this node's past) that completes a
    /// checkpoint run: the author's earlier envelopes go after the next flush.
    pub(super) fn note_run_end(&mut self, envelope: &Envelope) {
        if let Some(span) = envelope.ends_checkpoint() {
            self.checkpoints.compactable.push((
                envelope.space().clone(),
                envelope.author(),
                span.first,
            ));
        }
    }

    /// Starts the checkpoints that are due: a space whose own envelopes since the last
    /// checkpoint reach `checkpoint_after_bytes` and twice the last run.
    pub(super) fn checkpoints_on_tick(&mut self) {
        let floor = self.config.checkpoint_after_bytes;
        if floor == 0 {
            return;
        }
        let due: Vec<SpaceName> = self
            .checkpoints
            .own_bytes
            .iter()
            .filter(|(space, bytes)| {
                let last = self.checkpoints.last_run_bytes.get(*space).copied();
                **bytes >= floor.max(2 * last.unwrap_or(0))
                    && !self.checkpoints.building.contains_key(*space)
            })
            .map(|(space, _)| space.clone())
            .collect();
        for space in due {
            self.checkpoint(space, None);
        }
    }

    /// After a successful flush: deletes, off the actor, the envelopes restated by whole runs
    /// now durable.
    pub(super) fn start_compaction(&mut self) {
        if self.checkpoints.compacting || self.checkpoints.compactable.is_empty() {
            return;
        }
        let work = std::mem::take(&mut self.checkpoints.compactable);
        self.checkpoints.compacting = true;
        let (store, done): (Arc<dyn Store>, _) = (self.store.clone(), self.completions_tx.clone());
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut failed = None;
            for (space, author, first) in work {
                match store.remove_envelopes_below(&space, &author, first) {
                    Ok(n) => removed += n,
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            let result = match (failed, store.flush()) {
                (Some(e), _) => Err(e),
                (None, Err(e)) => Err(e.to_string()),
                (None, Ok(())) => Ok(removed),
            };
            // Many envelopes gone: give their space back now (the deletes are durable; a
            // failure here only leaves the space to the engine's own compaction).
            if result.as_ref().is_ok_and(|n| *n >= RECLAIM_AFTER_ENVELOPES)
                && let Err(e) = store.reclaim()
            {
                tracing::warn!(error = %e, "reclaiming the space of deleted envelopes failed");
            }
            let _ = done.blocking_send(Completion::Compacted(result));
        });
    }

    /// A deletion pass finished.
    pub(super) fn compacted(&mut self, result: Result<usize, String>) {
        self.checkpoints.compacting = false;
        match result {
            Ok(removed) => {
                self.metrics.envelopes_compacted.inc_by(removed as u64);
                if removed > 0 {
                    tracing::info!(removed, "op log compacted");
                }
            }
            Err(e) => tracing::warn!(error = %e, "op log compaction failed"),
        }
    }

    /// Fails when this node may not write `space` now (unknown space, or a write fault).
    fn writable(&self, space: &SpaceName) -> Result<(), NodeError> {
        if let Some(fault) = &self.write_fault {
            return Err(NodeError::Store(StoreError::Write(fault.clone())));
        }
        self.replica(space).map(|_| ())
    }
}

/// Replays `author`'s stored envelopes of `space` past `restated.known` into the scratch space.
fn replay_own(
    store: &dyn Store,
    space: &SpaceName,
    author: &AgentId,
    restated: &mut Restated,
) -> Result<(), NodeError> {
    loop {
        let batch = store.envelopes_after(space, author, restated.known, RESTATE_BATCH_BYTES)?;
        let mut progressed = false;
        for (key, bytes) in batch {
            if key.last_seq <= restated.known {
                continue;
            }
            let envelope = crate::node::replica::decode_stored(&key, &bytes)?;
            if !envelope.follows(restated.known) {
                return Err(NodeError::Store(StoreError::Corrupt(format!(
                    "gap in the own op log of {space} after {}",
                    restated.known
                ))));
            }
            for op in envelope.ops_after(restated.known) {
                restated.space.apply(&op.body);
            }
            restated.known = envelope.last_seq();
            progressed = true;
        }
        if !progressed {
            return Ok(());
        }
    }
}
