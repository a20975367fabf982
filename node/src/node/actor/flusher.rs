//! Group commit off the actor's thread: the actor seals a batch of own ops into the store and
//! hands the batch's waiting replies here; a thread of its own makes the store durable
//! (`Store::flush`, an fsync), answers the writers, records the own high-water marks
//! (`own_seq.json`, another fsync) and hands the envelopes back to the actor to publish.
//!
//! So the actor applies the next writes while the previous batch is being synced, instead of
//! sitting idle through every fsync; it seals them as the next batch when the flush ends
//! (`Actor::commit`). Batches sealed early (by a caller that needs the log complete) share
//! the next flush. Nothing is answered
//! nor published before the flush that covers it; a failed flush fails the writers of every
//! batch it covered, as a synchronous one did.
//!
//! A batch may also bring an own checkpoint run to sign and store, and own envelopes the actor
//! left to this thread (sealed while that run is stored): this thread stores them in the order
//! the batches came, so no own envelope reaches the log before the run ahead of it.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use knack_crdt::SpaceName;
use knack_protocol::Envelope;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use super::checkpoint::{RunJob, SealedRun};
use super::{Completion, PendingReply};
use crate::error::NodeError;
use crate::node::own_seq::OwnSeqs;
use crate::node::replica::key_of;
use crate::store::{Store, StoreError};

/// Most sealed batches waiting for a flush: past it the actor waits for the disk (a slow
/// disk slows writers rather than growing a queue). A flush takes every waiting batch.
const WAITING_BATCHES: usize = 64;

/// One sealed batch waiting for durability.
pub(super) struct FlushJob {
    /// The writers to answer once it is durable.
    pub(super) replies: Vec<PendingReply>,
    /// The own envelopes it holds, to publish after.
    pub(super) envelopes: Vec<Envelope>,
    /// Own envelopes the actor did not store itself (sealed while their space's checkpoint
    /// run is being stored): stored here, after the run.
    pub(super) appends: Vec<Envelope>,
    /// A checkpoint run to sign and store first (see `checkpoint.rs`).
    pub(super) run: Option<Box<RunJob>>,
}

/// The flushing thread, and the way to it.
pub(super) struct Flusher {
    jobs: Option<std_mpsc::SyncSender<FlushJob>>,
    /// Gives the fault that stopped the thread storing (a run or an own envelope it could not
    /// store), if any.
    thread: Option<JoinHandle<Option<String>>>,
}

/// What one flush covered: the writers to answer, the envelopes to publish, the runs stored
/// (or not) and the own sequence numbers they reach.
#[derive(Default)]
struct Covered {
    replies: Vec<PendingReply>,
    envelopes: Vec<Envelope>,
    runs: Vec<(SpaceName, Result<SealedRun, String>)>,
    marks: Vec<(SpaceName, u64)>,
}

impl Flusher {
    /// Starts the thread (an error only if the OS refuses one). `done` takes each flushed batch's envelopes back to the actor;
    /// `agent`'s envelopes raise the marks in `own_seqs`.
    pub(super) fn start(
        store: Arc<dyn Store>,
        mut own_seqs: OwnSeqs,
        agent: knack_crdt::AgentId,
        flushes: Counter,
        done: mpsc::Sender<Completion>,
    ) -> std::io::Result<Flusher> {
        let (jobs, queue) = std_mpsc::sync_channel::<FlushJob>(WAITING_BATCHES);
        let thread = std::thread::Builder::new()
            .name("knack-flush".into())
            .spawn(move || {
                // Set when a run or an own envelope could not be stored: every later batch is
                // failed (the log would have a hole; the actor refuses writes from then on).
                let mut fault: Option<String> = None;
                while let Ok(first) = queue.recv() {
                    // Every batch sealed while the last flush ran: one flush covers them all.
                    let batches: Vec<FlushJob> =
                        std::iter::once(first).chain(queue.try_iter()).collect();
                    let count = batches.len();
                    let mut covered = Covered::default();
                    for batch in batches {
                        store_batch(store.as_ref(), batch, &mut fault, &mut covered);
                    }
                    let flushed = store.flush();
                    flushes.inc();
                    let Covered {
                        replies,
                        envelopes,
                        mut runs,
                        marks,
                    } = covered;
                    match flushed {
                        Ok(()) => {
                            // Durable: the writers may go on. The marks must cover the
                            // envelopes before any peer sees them (a mark behind the log is
                            // accepted at start), so they are written before the publish.
                            for reply in replies {
                                reply(Ok(()));
                            }
                            save_marks(&mut own_seqs, agent, &envelopes, &marks);
                            let _ = done.blocking_send(Completion::Flushed {
                                batches: count,
                                envelopes,
                                runs,
                                ok: true,
                            });
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "store flush failed: writes not acknowledged");
                            fail_writes(replies, &e.to_string());
                            for (_, run) in &mut runs {
                                if run.is_ok() {
                                    *run = Err(format!("flushing the run failed: {e}"));
                                }
                            }
                            let _ = done.blocking_send(Completion::Flushed {
                                batches: count,
                                envelopes: Vec::new(),
                                runs,
                                ok: false,
                            });
                        }
                    }
                }
                fault
            })?;
        Ok(Flusher {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues a sealed batch to be made durable (waiting while [`WAITING_BATCHES`] wait).
    pub(super) fn submit(&self, job: FlushJob) {
        if let Some(jobs) = &self.jobs {
            // The thread ends only when `jobs` is dropped, so the send cannot fail.
            let _ = jobs.send(job);
        }
    }

    /// Stores and flushes what is queued, answers its writers and ends the thread: the fault
    /// that stopped it storing, if any.
    pub(super) fn finish(&mut self) -> Option<String> {
        self.jobs = None;
        let thread = self.thread.take()?;
        match thread.join() {
            Ok(fault) => fault,
            Err(_) => {
                tracing::error!("the flush thread panicked");
                Some("the flush thread panicked".into())
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Stores what `batch` brings (its checkpoint run, then the own envelopes the actor left to
/// this thread) and adds it to what the next flush covers; after a fault nothing more is
/// stored and the batch's writers are failed.
fn store_batch(
    store: &dyn Store,
    batch: FlushJob,
    fault: &mut Option<String>,
    covered: &mut Covered,
) {
    if let Some(run) = batch.run {
        let space = run.space().clone();
        let sealed = match fault {
            Some(fault) => Err(fault.clone()),
            None => run.seal_into(store).map_err(|e| e.to_string()),
        };
        match &sealed {
            Ok(sealed) => covered.marks.push((space.clone(), sealed.last)),
            Err(e) => *fault = Some(format!("storing the checkpoint run of {space}: {e}")),
        }
        covered.runs.push((space, sealed));
    }
    if fault.is_none() {
        for envelope in &batch.appends {
            if let Err(e) = store.append_envelope(&key_of(envelope), envelope.as_bytes()) {
                *fault = Some(format!("storing an own envelope: {e}"));
                break;
            }
        }
    }
    match fault {
        Some(fault) => fail_writes(batch.replies, fault),
        None => {
            covered.replies.extend(batch.replies);
            covered.envelopes.extend(batch.envelopes);
        }
    }
}

/// Answers every writer of `replies` that its write is not durable (the store refused it).
pub(super) fn fail_writes(replies: Vec<PendingReply>, message: &str) {
    for reply in replies {
        reply(Err(NodeError::Store(StoreError::Write(message.to_owned()))));
    }
}

/// Raises the own high-water marks to the own envelopes just made durable and writes them.
fn save_marks(
    own_seqs: &mut OwnSeqs,
    agent: knack_crdt::AgentId,
    envelopes: &[Envelope],
    marks: &[(SpaceName, u64)],
) {
    for envelope in envelopes.iter().filter(|e| e.author() == agent) {
        own_seqs.raise(envelope.space(), envelope.last_seq());
    }
    for (space, seq) in marks {
        own_seqs.raise(space, *seq);
    }
    if let Err(e) = own_seqs.save() {
        tracing::warn!(error = %e, "own sequence high-water mark not written");
    }
}
