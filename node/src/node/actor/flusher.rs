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

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use knack_crdt::SpaceName;
use knack_protocol::Envelope;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use super::{Completion, PendingReply};
use crate::error::NodeError;
use crate::node::own_seq::OwnSeqs;
use crate::store::{Store, StoreError};

/// Most sealed batches waiting for a flush: past it the actor waits for the disk (a slow
/// disk slows writers rather than growing a queue). A flush takes every waiting batch.
const WAITING_BATCHES: usize = 64;

/// One sealed batch waiting for durability.
pub(super) struct FlushJob {
    /// The writers to answer once it is durable.
    pub(super) replies: Vec<PendingReply>,
    /// The envelopes it appended to the store (own ops), to publish after.
    pub(super) envelopes: Vec<Envelope>,
    /// Own sequence numbers it appended by envelopes not published (checkpoint runs), per
    /// space: the own-sequence marks rise to them too.
    pub(super) marks: Vec<(SpaceName, u64)>,
}

/// The flushing thread, and the way to it.
pub(super) struct Flusher {
    jobs: Option<std_mpsc::SyncSender<FlushJob>>,
    thread: Option<JoinHandle<()>>,
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
                while let Ok(first) = queue.recv() {
                    // Every batch sealed while the last flush ran: one flush covers them all.
                    let batches: Vec<FlushJob> =
                        std::iter::once(first).chain(queue.try_iter()).collect();
                    let count = batches.len();
                    let flushed = store.flush();
                    flushes.inc();
                    let mut envelopes = Vec::new();
                    let mut replies = Vec::new();
                    let mut marks = Vec::new();
                    for batch in batches {
                        envelopes.extend(batch.envelopes);
                        replies.extend(batch.replies);
                        marks.extend(batch.marks);
                    }
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
                                ok: true,
                            });
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "store flush failed: writes not acknowledged");
                            fail_writes(replies, &e.to_string());
                            let _ = done.blocking_send(Completion::Flushed {
                                batches: count,
                                envelopes: Vec::new(),
                                ok: false,
                            });
                        }
                    }
                }
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

    /// Flushes what is queued, answers its writers and ends the thread.
    pub(super) fn finish(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the flush thread panicked");
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.finish();
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
