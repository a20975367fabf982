//! Collecting unreferenced uploads: a blob that no body version of any joined space references
//! (an upload whose `add` never came) is deleted once it is older than
//! `unreferenced_blob_grace_secs`, so uploads cannot fill the disk. Counted as
//! `knack_integrity_faults_total{reason="unreferenced_blob_collected"}`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use knack_crdt::ContentHash;

use super::Actor;

/// How often a pass may run at most.
const MAX_EVERY: Duration = Duration::from_secs(60);

/// The collector's state.
#[derive(Debug)]
pub(crate) struct BlobGc {
    last: Instant,
    running: Arc<AtomicBool>,
}

impl Default for BlobGc {
    fn default() -> Self {
        BlobGc {
            last: Instant::now(),
            running: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Actor {
    /// Starts a collection pass off the actor when one is due: every half grace period (at
    /// most every minute).
    pub(super) fn collect_unreferenced_blobs(&mut self) {
        let grace = Duration::from_secs(self.config.unreferenced_blob_grace_secs);
        let every = (grace / 2).clamp(Duration::from_millis(500), MAX_EVERY);
        if self.blob_gc.last.elapsed() < every || self.blob_gc.running.load(Ordering::Acquire) {
            return;
        }
        self.blob_gc.last = Instant::now();
        // The pins here; every body version of every procedure read off the actor, from the
        // spaces frozen now.
        let mut referenced: HashSet<ContentHash> = self
            .spaces
            .values()
            .flat_map(|replica| replica.space.pinned().copied())
            .collect();
        let frozen = self.frozen_spaces();
        let store = self.blobs.store().clone();
        let metrics = self.metrics.clone();
        let running = self.blob_gc.running.clone();
        running.store(true, Ordering::Release);
        tokio::task::spawn_blocking(move || {
            for (_, space) in &frozen {
                for p in space.procedures() {
                    referenced.extend(p.versions().map(|(_, content)| content.hash));
                }
            }
            let now = SystemTime::now();
            for blob in store.list().unwrap_or_default() {
                let age = now.duration_since(blob.last_used).unwrap_or_default();
                if age < grace || referenced.contains(&blob.hash) {
                    continue;
                }
                match store.remove(&blob.hash) {
                    Ok(()) => {
                        crate::metrics::Metrics::count(
                            &metrics.integrity_faults,
                            "unreferenced_blob_collected",
                        );
                        tracing::info!(hash = %blob.hash, size = blob.size, "unreferenced upload collected");
                    }
                    Err(e) => tracing::warn!(error = %e, "unreferenced upload not removed"),
                }
            }
            running.store(false, Ordering::Release);
        });
    }
}
