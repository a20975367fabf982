//! Author checkpoints of this node's own ops, and the op log compacted below every whole
//! checkpoint run it holds (see `knack_protocol::checkpoint`).
//!
//! A run goes through three phases, none of them a long stall of the actor:
//! 1. **Restating**, on a blocking thread: a replay of this node's own envelopes from the
//!    store into a scratch space, and the plan of its run (how the restatement splits into
//!    envelopes). Meanwhile the actor keeps a copy of every own op it writes in the space (the
//!    *tail*).
//! 2. **Sealing**, on the flush thread: back on the actor, the plan is extended with the tail,
//!    raw (a restatement topped up with later ops is still a restatement: every change is a
//!    join), the run's sequence numbers are reserved (the next own ops are numbered after it)
//!    and the run is handed to the flush thread, which signs and stores it ahead of every
//!    later batch. Own envelopes of the space sealed meanwhile are stored by the flush thread
//!    too, after the run: the log never holds an own envelope past a missing one, even after
//!    a crash in the middle (a run cut short is a prefix of envelopes that restate, harmless).
//!    Their writers are answered by the flush that covers the run.
//! 3. **Settling**: the run is stored; the space's own envelopes go straight to the store again
//!    once every batch handed to the flush thread before is flushed.
//!
//! While a run is sealing or settling, the replica's version vector covers sequence numbers the
//! store does not hold yet, so no snapshot is taken and the store manifest is not recorded
//! (both are taken again once it settled), and a members-only rebuild of the space waits.
//! Deleting restated envelopes waits for the flush that made the run durable, and runs off
//! the actor too.

use std::collections::BTreeMap;
use std::sync::Arc;

use knack_crdt::{AgentId, Change, Delta, Hlc, Space, SpaceName};
use knack_protocol::Envelope;
use knack_protocol::checkpoint::{CheckpointPlan, seal_checkpoint_into};
use libp2p::identity::Keypair;

use super::{Actor, Completion, wall_ms};
use crate::error::NodeError;
use crate::node::command::Reply;
use crate::node::replica::{Rebuilt, key_of};
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
    /// Own checkpoint runs under way, per space (at most one each).
    runs: BTreeMap<SpaceName, Run>,
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

/// One own checkpoint run under way.
struct Run {
    phase: Phase,
    /// Callers waiting for this run.
    replies: Vec<Reply<CheckpointView>>,
    /// Callers who asked once this run was already sealing: a run of its own starts for them
    /// when this one settled (this one may not cover what they wrote before asking).
    next: Vec<Reply<CheckpointView>>,
    /// A members-only rebuild of the space that finished while the run was sealing, installed
    /// once it settled (its replica would not hold the run's reserved sequence numbers).
    rebuilt: Option<Box<Rebuilt>>,
}

/// Where a run is (see the module docs).
enum Phase {
    /// Restating off the actor; the own ops written meanwhile, with their sequence numbers.
    Restating { tail: Vec<(u64, Vec<Change>)> },
    /// Handed to the flush thread, which signs and stores the run of `changes` changes from
    /// `first` on.
    Sealing { first: u64, changes: usize },
    /// Stored up to `last`; the space's own envelopes still go through the flush thread until
    /// every batch handed to it before is flushed.
    Settling { last: u64 },
}

impl Phase {
    /// Whether the run's sequence numbers are reserved (sealing or settling): the replica's
    /// version vector is then ahead of what the store surely holds.
    fn reserved(&self) -> bool {
        !matches!(self, Phase::Restating { .. })
    }
}

/// A restatement built off the actor: the scratch space, the last own sequence number it
/// holds and the plan of its run.
pub(crate) struct Restated {
    space: Space,
    known: u64,
    plan: CheckpointPlan,
}

/// A run to sign and store, handed to the flush thread (which stores it ahead of every later
/// batch: see the module docs).
pub(crate) struct RunJob {
    key: Keypair,
    space: SpaceName,
    first: u64,
    plan: CheckpointPlan,
    /// The restatement the plan's bulk was made of.
    restated: Space,
    /// The own ops written while restating, raw, after it.
    tail: Vec<Change>,
    /// One timestamp per envelope, increasing, later than every own op before the run and
    /// earlier than every one after.
    stamps: Vec<Hlc>,
}

/// A run signed and stored by the flush thread.
#[derive(Debug)]
pub(crate) struct SealedRun {
    /// Its first and last sequence numbers.
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// Its envelopes, and their encoded bytes.
    pub(crate) envelopes: usize,
    pub(crate) bytes: u64,
}

impl RunJob {
    /// The space the run is of.
    pub(crate) fn space(&self) -> &SpaceName {
        &self.space
    }

    /// Signs the run envelope by envelope, appending each to `store` as it is sealed (at 100k
    /// procedures the run is over a million changes and ~170 MB, never held whole).
    pub(crate) fn seal_into(self, store: &dyn Store) -> Result<SealedRun, NodeError> {
        let RunJob {
            key,
            space,
            first,
            plan,
            restated,
            tail,
            stamps,
        } = self;
        let fallback = stamps.last().copied().unwrap_or_default();
        let mut stamps = stamps.into_iter();
        let (mut bytes, mut envelopes) = (0u64, 0usize);
        let span = seal_checkpoint_into(
            &key,
            &space,
            first,
            &plan,
            restated.restatement_changes().chain(tail),
            // One stamp per envelope was drawn for the plan: the fallback is never used.
            || stamps.next().unwrap_or(fallback),
            |envelope: Envelope| -> Result<(), NodeError> {
                store.append_envelope(&key_of(&envelope), envelope.as_bytes())?;
                bytes += envelope.encoded_len() as u64;
                envelopes += 1;
                Ok(())
            },
        )?;
        let span = span.ok_or_else(|| {
            NodeError::Store(StoreError::Corrupt(format!(
                "the checkpoint run of {space} was planned empty"
            )))
        })?;
        Ok(SealedRun {
            first: span.first,
            last: span.last,
            envelopes,
            bytes,
        })
    }
}

impl Actor {
    /// Starts a checkpoint of this node's own ops in `space`; `reply` (if any) gets the run.
    pub(super) fn checkpoint(&mut self, space: SpaceName, reply: Option<Reply<CheckpointView>>) {
        if let Some(run) = self.checkpoints.runs.get_mut(&space) {
            if run.phase.reserved() {
                run.next.extend(reply);
            } else {
                run.replies.extend(reply);
            }
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
        self.checkpoints.runs.insert(
            space.clone(),
            Run {
                phase: Phase::Restating { tail: Vec::new() },
                replies: reply.into_iter().collect(),
                next: Vec::new(),
                rebuilt: None,
            },
        );
        let (store, agent, done) = (self.store.clone(), self.agent, self.completions_tx.clone());
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut space_state = Space::for_restatement(space.clone());
            let result = replay_own(store.as_ref(), &space, &agent, &mut space_state)
                .map(|known| {
                    let plan = CheckpointPlan::of(space_state.restatement_changes());
                    Box::new(Restated {
                        space: space_state,
                        known,
                        plan,
                    })
                })
                .map_err(|e| e.to_string());
            tracing::debug!(%space, elapsed = ?started.elapsed(), "own ops restated and planned");
            let _ = done.blocking_send(Completion::Restated { space, result });
        });
    }

    /// Keeps a copy of an own op just written in `space` while its checkpoint restates (the
    /// run is topped up with it).
    pub(super) fn note_own_op(&mut self, space: &SpaceName, seq: u64, body: &Delta) {
        if let Some(Run {
            phase: Phase::Restating { tail },
            ..
        }) = self.checkpoints.runs.get_mut(space)
        {
            tail.push((seq, body.changes.clone()));
        }
    }

    /// A restatement finished off the actor: tops its plan up with the own ops written since,
    /// reserves the run's sequence numbers and hands the run to the flush thread.
    pub(super) fn restated(&mut self, space: SpaceName, result: Result<Box<Restated>, String>) {
        let Some(mut run) = self.checkpoints.runs.remove(&space) else {
            return;
        };
        let Phase::Restating { tail } = &mut run.phase else {
            self.checkpoints.runs.insert(space, run); // not this run's restatement
            return;
        };
        let tail = std::mem::take(tail);
        let handed = result
            .map_err(|e| NodeError::Store(StoreError::Corrupt(e)))
            .and_then(|restated| self.hand_run(&space, *restated, tail));
        match handed {
            Ok(Some((first, changes))) => {
                run.phase = Phase::Sealing { first, changes };
                self.metrics.checkpoint_runs_sealing.inc();
                self.checkpoints.runs.insert(space, run);
            }
            Ok(None) => {
                let empty = CheckpointView {
                    space: space.to_string(),
                    first_seq: 0,
                    last_seq: 0,
                    envelopes: 0,
                    changes: 0,
                    bytes: 0,
                };
                answer(std::mem::take(&mut run.replies), Ok(empty));
                self.start_next(space, run);
            }
            Err(e) => {
                tracing::error!(%space, error = %e, "checkpoint failed");
                answer(std::mem::take(&mut run.replies), Err(e));
                self.start_next(space, run);
            }
        }
    }

    /// Checks and tops up `restated` with `tail`, reserves its sequence numbers and hands the
    /// run to the flush thread: its first sequence number and its changes, or `None` for
    /// nothing to restate.
    fn hand_run(
        &mut self,
        space: &SpaceName,
        restated: Restated,
        tail: Vec<(u64, Vec<Change>)>,
    ) -> Result<Option<(u64, usize)>, NodeError> {
        self.writable(space)?;
        // Every own op before the run in the store (and in the flush queue ahead of it).
        self.commit_now();
        let written = self.replica(space)?.vv.get(&self.agent);
        let tail: Vec<(u64, Vec<Change>)> = tail
            .into_iter()
            .filter(|(seq, _)| *seq > restated.known)
            .collect();
        let contiguous = tail
            .iter()
            .zip(restated.known + 1..)
            .all(|((seq, _), expected)| *seq == expected)
            && restated.known + tail.len() as u64 == written;
        if !contiguous {
            return Err(NodeError::Store(StoreError::Corrupt(format!(
                "own op log of {space} ends at {} with {} own ops kept since, but this node \
                 wrote up to {written}",
                restated.known,
                tail.len()
            ))));
        }
        let tail: Vec<Change> = tail.into_iter().flat_map(|(_, changes)| changes).collect();
        let plan = restated.plan.followed_by(CheckpointPlan::of(&tail));
        let Some(count) = (plan.envelopes() as u64).checked_sub(1) else {
            return Ok(None);
        };
        let changes = plan.changes();
        let (first, last) = (written + 1, written + 1 + count);
        let stamps = (0..plan.envelopes())
            .map(|_| self.clock.now(wall_ms()))
            .collect();
        // Reserved: the next own op of the space is numbered after the run.
        self.spaces
            .get_mut(space)
            .ok_or_else(|| NodeError::UnknownSpace(space.to_string()))?
            .reserve_own(self.agent, last);
        self.own_unflushed.sealed(space, first, last);
        self.flush_with_run(RunJob {
            key: self.key.clone(),
            space: space.clone(),
            first,
            plan,
            restated: restated.space,
            tail,
            stamps,
        });
        Ok(Some((first, changes)))
    }

    /// The flush thread reports runs: stored and flushed, or failed (the node then refuses
    /// writes: its version vector holds sequence numbers its log may lack).
    pub(super) fn runs_sealed(&mut self, sealed: Vec<(SpaceName, Result<SealedRun, String>)>) {
        for (space, result) in sealed {
            self.metrics.checkpoint_runs_sealing.dec();
            let Some(mut run) = self.checkpoints.runs.remove(&space) else {
                continue;
            };
            let changes = match run.phase {
                Phase::Sealing { changes, .. } => changes,
                _ => 0,
            };
            match result {
                Ok(sealed) => {
                    // The run is not gossiped (688 envelopes of 256 KiB at 100k procedures,
                    // copied into every peer's queue): peers fetch it by anti-entropy.
                    self.checkpoints.own_bytes.insert(space.clone(), 0);
                    self.checkpoints
                        .last_run_bytes
                        .insert(space.clone(), sealed.bytes);
                    self.checkpoints
                        .compactable
                        .push((space.clone(), self.agent, sealed.first));
                    self.metrics.checkpoints.inc();
                    tracing::info!(
                        %space, first = sealed.first, last = sealed.last,
                        envelopes = sealed.envelopes, bytes = sealed.bytes, "checkpoint sealed"
                    );
                    let view = CheckpointView {
                        space: space.to_string(),
                        first_seq: sealed.first,
                        last_seq: sealed.last,
                        envelopes: sealed.envelopes,
                        changes,
                        bytes: sealed.bytes,
                    };
                    answer(std::mem::take(&mut run.replies), Ok(view));
                    run.phase = Phase::Settling { last: sealed.last };
                    self.checkpoints.runs.insert(space, run);
                }
                Err(e) => {
                    let message = format!(
                        "writing a checkpoint run failed ({e}); it refuses writes until restarted"
                    );
                    tracing::error!(%space, "{message}");
                    self.write_fault = Some(message.clone());
                    answer(
                        std::mem::take(&mut run.replies),
                        Err(NodeError::Store(StoreError::Write(message.clone()))),
                    );
                    answer(
                        std::mem::take(&mut run.next),
                        Err(NodeError::Store(StoreError::Write(message))),
                    );
                }
            }
        }
    }

    /// Once nothing handed to the flush thread is waiting (every own envelope sealed while a
    /// run was sealing is stored): the settled runs end, and what waited for them goes on.
    pub(super) fn settle_runs(&mut self) {
        if self.flushes_in_flight > 0 {
            return;
        }
        let settled: Vec<SpaceName> = self
            .checkpoints
            .runs
            .iter()
            .filter(|(_, run)| matches!(run.phase, Phase::Settling { .. }))
            .map(|(space, _)| space.clone())
            .collect();
        for space in settled {
            if let Some(run) = self.checkpoints.runs.remove(&space) {
                self.start_next(space, run);
            }
        }
    }

    /// After a run ended: installs the rebuild that waited for it, re-checks the membership
    /// and starts the run asked for meanwhile.
    fn start_next(&mut self, space: SpaceName, mut run: Run) {
        if let Some(rebuilt) = run.rebuilt.take() {
            self.install_rebuilt(space.clone(), Ok(rebuilt));
        } else {
            self.enforce_membership(&space);
        }
        // The first starts a run, the others join it.
        for reply in std::mem::take(&mut run.next) {
            self.checkpoint(space.clone(), Some(reply));
        }
    }

    /// Whether own envelopes of `space` must go through the flush thread (stored after its
    /// checkpoint run) instead of straight into the store.
    pub(super) fn own_appends_deferred(&self, space: &SpaceName) -> bool {
        self.checkpoints
            .runs
            .get(space)
            .is_some_and(|run| run.phase.reserved())
    }

    /// Whether some replica's version vector covers own sequence numbers the store may not
    /// hold yet (a run sealing or settling): no snapshot nor manifest may claim them.
    pub(super) fn runs_unsettled(&self) -> bool {
        self.checkpoints
            .runs
            .values()
            .any(|run| run.phase.reserved())
    }

    /// The highest own sequence number of `space` surely in the store while its run is
    /// sealing or settling (the replica's version vector is ahead of it), else `None`.
    pub(super) fn own_stored_upto(&self, space: &SpaceName) -> Option<u64> {
        match self.checkpoints.runs.get(space)?.phase {
            Phase::Restating { .. } => None,
            Phase::Sealing { first, .. } => Some(first - 1),
            Phase::Settling { last } => Some(last),
        }
    }

    /// Keeps a members-only rebuild of `space` that finished while its run is sealing, to be
    /// installed once it settled; gives it back when it may be installed now.
    pub(super) fn hold_rebuilt(
        &mut self,
        space: &SpaceName,
        rebuilt: Box<Rebuilt>,
    ) -> Option<Box<Rebuilt>> {
        match self.checkpoints.runs.get_mut(space) {
            Some(run) if run.phase.reserved() => {
                run.rebuilt = Some(rebuilt);
                None
            }
            _ => Some(rebuilt),
        }
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
                    && !self.checkpoints.runs.contains_key(*space)
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

/// Replays `author`'s stored envelopes of `space` into the scratch space `into`: the last
/// sequence number replayed.
fn replay_own(
    store: &dyn Store,
    space: &SpaceName,
    author: &AgentId,
    into: &mut Space,
) -> Result<u64, NodeError> {
    let mut known = 0;
    loop {
        let batch = store.envelopes_after(space, author, known, RESTATE_BATCH_BYTES)?;
        let mut progressed = false;
        for (key, bytes) in batch {
            if key.last_seq <= known {
                continue;
            }
            let envelope = crate::node::replica::decode_stored(&key, &bytes)?;
            if !envelope.follows(known) {
                return Err(NodeError::Store(StoreError::Corrupt(format!(
                    "gap in the own op log of {space} after {known}"
                ))));
            }
            for op in envelope.ops_after(known) {
                into.apply(&op.body);
            }
            known = envelope.last_seq();
            progressed = true;
        }
        if !progressed {
            return Ok(known);
        }
    }
}

/// Answers every caller of `replies` with `answer` (errors are not `Clone`: the first caller
/// gets the error itself, the others its message).
fn answer(replies: Vec<Reply<CheckpointView>>, answer: Result<CheckpointView, NodeError>) {
    let mut answer = Some(answer);
    let mut message = String::new();
    for reply in replies {
        let this = match answer.take() {
            Some(Ok(view)) => {
                answer = Some(Ok(view.clone()));
                Ok(view)
            }
            Some(Err(e)) => {
                message = e.to_string();
                Err(e)
            }
            None => Err(NodeError::Store(StoreError::Write(message.clone()))),
        };
        let _ = reply.send(this);
    }
}
