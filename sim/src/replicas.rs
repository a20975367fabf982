//! The agents' materialised replicas, applied on a worker thread.
//!
//! Applying a delta to a real `Space` (outcome slots, the contagion index, digest caches) is the
//! costliest thing a replica does, and nothing the event loop decides depends on it until
//! somebody reads a space: an author building its next op, or a convergence check comparing
//! digests. So applies are queued, in the event loop's order, to one worker thread; a read first
//! waits until the worker has applied everything queued before it. Each space sees exactly the
//! sequence of applies it would see inline, so runs stay byte-identical; the worker only moves
//! the work to another core.

use std::cell::Cell;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use knack_crdt::{Delta, Space};

/// Applies queued before the event loop waits for the replica thread (it blocks rather than
/// let the queue grow without bound when the thread falls behind).
const QUEUE_JOBS: usize = 1 << 16;

/// Work for the replica thread.
enum Job {
    /// Apply the delta to the replica of the agent.
    Apply(u32, Arc<Delta>),
    /// Answer once every job before this one is done.
    Flush(SyncSender<()>),
}

type Spaces = Arc<Vec<Option<Mutex<Space>>>>;

/// Every agent's replica (or none, for relay-only agents), and the thread that applies to them.
pub(crate) struct Replicas {
    spaces: Spaces,
    worker: Option<(SyncSender<Job>, JoinHandle<()>)>,
    /// Whether jobs were queued since the last flush.
    pending: Cell<bool>,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("held", &self.spaces.iter().filter(|s| s.is_some()).count())
            .field("threaded", &self.worker.is_some())
            .finish()
    }
}

impl Replicas {
    /// The replicas, `None` for agents that hold none; applies run on a worker thread when
    /// `threaded`, inline otherwise.
    pub(crate) fn new(spaces: Vec<Option<Space>>, threaded: bool) -> Self {
        let spaces: Spaces = Arc::new(spaces.into_iter().map(|s| s.map(Mutex::new)).collect());
        let worker = threaded.then(|| {
            let (tx, rx) = mpsc::sync_channel(QUEUE_JOBS);
            let shared = Arc::clone(&spaces);
            let handle = std::thread::Builder::new()
                .name("knack-sim-replicas".into())
                .spawn(move || work(&shared, &rx))
                .ok();
            handle.map(|h| (tx, h))
        });
        Replicas {
            spaces,
            worker: worker.flatten(),
            pending: Cell::new(false),
        }
    }

    /// Applies `delta` to `node`'s replica (if it holds one), after everything queued before.
    pub(crate) fn apply(&self, node: u32, delta: &Arc<Delta>) {
        let Some(space) = &self.spaces[node as usize] else {
            return;
        };
        if let Some((tx, _)) = &self.worker
            && tx.send(Job::Apply(node, Arc::clone(delta))).is_ok()
        {
            self.pending.set(true);
            return;
        }
        lock(space).apply(delta);
    }

    /// `node`'s replica with every queued apply done, if it holds one.
    pub(crate) fn get(&self, node: u32) -> Option<MutexGuard<'_, Space>> {
        let space = self.spaces[node as usize].as_ref()?;
        self.flush();
        Some(lock(space))
    }

    /// Number of agents holding a replica.
    pub(crate) fn held(&self) -> usize {
        self.spaces.iter().filter(|s| s.is_some()).count()
    }

    /// Waits until the worker has applied every queued delta.
    fn flush(&self) {
        if !self.pending.get() {
            return;
        }
        if let Some((tx, _)) = &self.worker {
            let (done_tx, done_rx) = mpsc::sync_channel(1);
            if tx.send(Job::Flush(done_tx)).is_ok() {
                // An error means the worker is gone (it panicked): reads then see what it
                // applied, and the panic resurfaces when the thread is joined.
                let _ = done_rx.recv();
            }
        }
        self.pending.set(false);
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            drop(tx);
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

fn lock(space: &Mutex<Space>) -> MutexGuard<'_, Space> {
    space.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The worker: applies jobs in order until the queue closes.
fn work(spaces: &Spaces, rx: &Receiver<Job>) {
    for job in rx {
        match job {
            Job::Apply(node, delta) => {
                if let Some(space) = &spaces[node as usize] {
                    lock(space).apply(&delta);
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use knack_crdt::{Change, Delta, Hlc, ProcedureId, Space, SpaceName};

    use super::Replicas;

    fn used(id: u8, at: u64) -> Arc<Delta> {
        Arc::new(Delta::new(vec![Change::Used {
            id: ProcedureId([id; 32]),
            at: Hlc::at(at),
        }]))
    }

    #[test]
    fn threaded_applies_match_inline_ones() {
        let name = SpaceName::new("sim").unwrap();
        let make = |threaded| {
            Replicas::new(
                vec![
                    Some(Space::new(name.clone())),
                    None,
                    Some(Space::new(name.clone())),
                ],
                threaded,
            )
        };
        let (inline, threaded) = (make(false), make(true));
        for r in [&inline, &threaded] {
            for k in 0..200u64 {
                r.apply((k % 3) as u32, &used((k % 7) as u8, k + 1));
            }
        }
        assert!(inline.get(1).is_none() && threaded.get(1).is_none());
        for node in [0, 2] {
            let a = inline.get(node).unwrap().digest();
            let b = threaded.get(node).unwrap().digest();
            assert_eq!(a, b);
        }
        assert_ne!(
            inline.get(0).unwrap().digest(),
            Space::new(name).digest(),
            "the applies changed something"
        );
        assert_eq!(threaded.held(), 2);
    }
}
