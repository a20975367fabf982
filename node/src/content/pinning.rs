//! The IPFS tier: a persisted queue of pin jobs, and the worker that runs them.
//!
//! A job says "add the body `hash` of space `space` to IPFS, pin it, and record its CID". Jobs
//! live in the store (sled), so a job queued while the IPFS node is down or restarting survives
//! a restart of knack too; the worker retries each with exponential backoff (1 s doubling to
//! 60 s) and checks the endpoint's health every few seconds, publishing what it sees for
//! `knack status`. Once a body is added, its CID is written as an ordinary replicated op
//! (`Change::Pin`), so every peer learns where to find it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use knack_crdt::{ContentHash, SpaceName};
use knack_ipfs::IpfsApi;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::BlobStore;
use crate::error::NodeError;
use crate::metrics::Metrics;
use crate::node::{Command, wall_ms};
use crate::status::IpfsStatus;
use crate::store::{Store, StoreError};

/// How often the worker looks at the queue and the endpoint's health when nothing wakes it.
const POLL: Duration = Duration::from_secs(2);
/// First retry delay of a failed job; doubled per failure.
const FIRST_RETRY_MS: u64 = 1_000;
/// Longest retry delay.
const MAX_RETRY_MS: u64 = 60_000;

/// One body to add and pin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PinJob {
    space: String,
    size: u64,
    attempts: u32,
    next_attempt_ms: u64,
    last_error: Option<String>,
}

/// The queue of pin jobs, shared by the node's handle, its actor and the worker.
#[derive(Clone)]
pub(crate) struct PinQueue {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for PinQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinQueue").finish_non_exhaustive()
    }
}

impl PinQueue {
    /// A queue persisted in `store`.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        PinQueue {
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues the body `hash` (of `size` bytes) of `space`, durably, unless it is queued
    /// already; wakes the worker.
    pub(crate) fn push(
        &self,
        space: &SpaceName,
        hash: ContentHash,
        size: u64,
    ) -> Result<(), StoreError> {
        if self.jobs()?.contains_key(&hash) {
            return Ok(());
        }
        let job = PinJob {
            space: space.to_string(),
            size,
            attempts: 0,
            next_attempt_ms: 0,
            last_error: None,
        };
        self.put(&hash, &job)?;
        self.store.flush()?;
        self.wake.notify_one();
        Ok(())
    }

    fn put(&self, hash: &ContentHash, job: &PinJob) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.put_pin_job(hash, &bytes)
    }

    fn jobs(&self) -> Result<BTreeMap<ContentHash, PinJob>, StoreError> {
        let mut out = BTreeMap::new();
        for (hash, bytes) in self.store.pin_jobs()? {
            match serde_json::from_slice(&bytes) {
                Ok(job) => {
                    out.insert(hash, job);
                }
                Err(e) => {
                    tracing::warn!(%hash, error = %e, "unreadable pin job dropped");
                    self.store.remove_pin_job(&hash)?;
                }
            }
        }
        Ok(out)
    }
}

/// Runs pin jobs against one IPFS endpoint until the node stops.
pub(crate) struct PinWorker {
    pub(crate) ipfs: Arc<dyn IpfsApi>,
    pub(crate) queue: PinQueue,
    pub(crate) blobs: Arc<BlobStore>,
    pub(crate) commands: mpsc::WeakSender<Command>,
    pub(crate) status: watch::Sender<IpfsStatus>,
    pub(crate) metrics: Metrics,
}

impl PinWorker {
    /// The worker's loop: health check, then every due job; sleeps until woken or [`POLL`].
    pub(crate) async fn run(self) {
        loop {
            self.check_health().await;
            if !self.run_due_jobs().await {
                return;
            }
            tokio::select! {
                _ = self.queue.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            if self.commands.upgrade().is_none() {
                return;
            }
        }
    }

    async fn check_health(&self) {
        let answer = self.ipfs.version().await;
        let pending = self.queue.jobs().map(|j| j.len()).unwrap_or(0);
        self.status.send_modify(|s| {
            s.pending_jobs = pending;
            match answer {
                Ok(version) => {
                    s.healthy = true;
                    s.version = Some(version);
                }
                Err(e) => {
                    s.healthy = false;
                    s.last_error = Some(e.to_string());
                }
            }
        });
    }

    /// Runs every job that is due; false when the node has stopped.
    async fn run_due_jobs(&self) -> bool {
        let jobs = match self.queue.jobs() {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "pin jobs unreadable");
                return true;
            }
        };
        for (hash, mut job) in jobs {
            if job.next_attempt_ms > wall_ms() {
                continue;
            }
            match self.pin(&hash, &job).await {
                Ok(cid) => {
                    tracing::info!(%hash, %cid, "body pinned to IPFS");
                    self.metrics.ipfs_pinned.inc();
                    if let Err(e) = self.queue.store.remove_pin_job(&hash) {
                        tracing::error!(error = %e, "pin job not removed");
                    }
                    self.status.send_modify(|s| {
                        s.pinned_by_this_node += 1;
                        s.pending_jobs = s.pending_jobs.saturating_sub(1);
                    });
                }
                Err(NodeError::Stopped) => return false,
                Err(e) => {
                    job.attempts += 1;
                    let delay = (FIRST_RETRY_MS << job.attempts.min(16)).min(MAX_RETRY_MS);
                    job.next_attempt_ms = wall_ms() + delay;
                    job.last_error = Some(e.to_string());
                    tracing::warn!(%hash, attempts = job.attempts, retry_in_ms = delay, error = %e, "pin job failed");
                    Metrics::count(&self.metrics.ipfs_errors, "pin");
                    self.status
                        .send_modify(|s| s.last_error = Some(e.to_string()));
                    if let Err(e) = self.queue.put(&hash, &job) {
                        tracing::error!(error = %e, "pin job not updated");
                    }
                }
            }
        }
        true
    }

    /// Adds the body to IPFS (fetching it from peers first if this node lacks it) and records
    /// its CID.
    async fn pin(&self, hash: &ContentHash, job: &PinJob) -> Result<String, NodeError> {
        let space = SpaceName::new(job.space.as_str())?;
        let commands = self.commands.upgrade().ok_or(NodeError::Stopped)?;
        if self.blobs.size_of(hash) != Some(job.size) {
            let (tx, rx) = oneshot::channel();
            commands
                .send(Command::FetchBlob {
                    hash: *hash,
                    size: job.size,
                    reply: tx,
                })
                .await
                .map_err(|_| NodeError::Stopped)?;
            rx.await.map_err(|_| NodeError::Stopped)??;
        }
        let cid = self
            .ipfs
            .add_file(&self.blobs.content_path(hash))
            .await
            .map_err(super::ContentError::from)?;
        let (tx, rx) = oneshot::channel();
        commands
            .send(Command::RecordPin {
                space,
                hash: *hash,
                cid: cid.to_string(),
                reply: tx,
            })
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)??;
        Ok(cid.to_string())
    }
}
