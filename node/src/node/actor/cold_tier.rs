//! The cold tier in the actor: queueing pins of large and crystallized bodies, and keeping the
//! blob store within its budget.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use knack_crdt::{ContentHash, ContentRef, SpaceName};

use super::Actor;
use crate::content::PinQueue;

/// How often crystallized bodies without a CID are looked for.
const CRYSTAL_SCAN_EVERY: Duration = Duration::from_secs(2);
/// How often the blob store is checked against its budget.
const EVICT_EVERY: Duration = Duration::from_secs(30);

/// What the actor keeps for the cold tier.
pub(crate) struct ColdTier {
    pins: Option<PinQueue>,
    /// Bodies queued since start (the queue itself is the durable record).
    queued: HashSet<ContentHash>,
    last_scan: Instant,
    last_evict: Instant,
    evicting: bool,
    /// A scan for crystallized bodies is running off the actor.
    scanning: bool,
}

impl ColdTier {
    pub(crate) fn new(pins: Option<PinQueue>) -> Self {
        ColdTier {
            pins,
            queued: HashSet::new(),
            last_scan: Instant::now(),
            last_evict: Instant::now(),
            evicting: false,
            scanning: false,
        }
    }
}

impl Actor {
    /// Queues a body just written as a blob for IPFS (when the node has an endpoint).
    pub(super) fn queue_external_pin(
        &mut self,
        space: &SpaceName,
        external: Option<(ContentHash, u64)>,
    ) {
        let Some((hash, size)) = external else { return };
        self.queue_pin(space, hash, size);
    }

    fn queue_pin(&mut self, space: &SpaceName, hash: ContentHash, size: u64) {
        let Some(pins) = &self.cold.pins else { return };
        if !self.cold.queued.insert(hash) {
            return;
        }
        if let Err(e) = pins.push(space, hash, size) {
            tracing::error!(%hash, error = %e, "pin job not queued");
            self.cold.queued.remove(&hash);
        }
    }

    /// Timers: crystallized bodies without a CID are queued for IPFS; the blob store is kept
    /// within its budget.
    pub(super) fn cold_tier_on_tick(&mut self) {
        if self.cold.pins.is_some() && self.cold.last_scan.elapsed() >= CRYSTAL_SCAN_EVERY {
            self.cold.last_scan = Instant::now();
            self.queue_crystallized();
        }
        if self.cold.last_evict.elapsed() >= EVICT_EVERY && !self.cold.evicting {
            self.cold.last_evict = Instant::now();
            self.evict_cold_blobs();
        }
    }

    /// Looks for crystallized bodies off the actor, in the spaces frozen now;
    /// [`Actor::queue_crystallized_bodies`] queues them when they come back.
    fn queue_crystallized(&mut self) {
        if self.cold.scanning {
            return;
        }
        let frozen = self.frozen_spaces();
        self.cold.scanning = true;
        let done = self.blobs.completions();
        tokio::task::spawn_blocking(move || {
            let mut bodies = Vec::new();
            for (name, space) in &frozen {
                for p in space.procedures().filter(|p| p.crystallized()) {
                    bodies.extend(p.body().map(|body| (name.clone(), body.clone())));
                }
            }
            let _ = done.blocking_send(super::Completion::Crystallized(bodies));
        });
    }

    /// Queues for IPFS the crystallized `bodies` a scan found that this node has not pinned
    /// or queued yet.
    pub(super) fn queue_crystallized_bodies(&mut self, bodies: Vec<(SpaceName, ContentRef)>) {
        self.cold.scanning = false;
        let due: Vec<(SpaceName, ContentRef)> = bodies
            .into_iter()
            .filter(|(space, body)| {
                self.spaces.get(space).is_some_and(|replica| {
                    replica.space.pin_by(&body.hash, &self.agent).is_none()
                        && !self.cold.queued.contains(&body.hash)
                })
            })
            .collect();
        for (space, body) in due {
            if let Some(bytes) = &body.inline
                && self.blobs.store().size_of(&body.hash).is_none()
                && let Err(e) = self.blobs.store().put(bytes)
            {
                tracing::warn!(hash = %body.hash, error = %e, "crystallized body not stored for pinning");
                continue;
            }
            tracing::info!(hash = %body.hash, %space, "crystallized body queued for IPFS");
            self.queue_pin(&space, body.hash, body.size);
        }
    }

    /// Evicts, least recently used first, blobs that IPFS holds (a CID is recorded) and that no
    /// crystallized procedure's current body is, until the store is within its budget.
    fn evict_cold_blobs(&mut self) {
        let budget = self.config.blob_cache_bytes;
        // Only what this node pinned itself: another agent's CID may be bogus.
        let pinned: HashSet<ContentHash> = self
            .spaces
            .values()
            .flat_map(|replica| {
                replica
                    .space
                    .pinned()
                    .filter(|h| replica.space.pin_by(h, &self.agent).is_some())
                    .copied()
            })
            .collect();
        let frozen = self.frozen_spaces();
        let store = self.blobs.store().clone();
        self.cold.evicting = true;
        let done = self.blobs.completions();
        tokio::task::spawn_blocking(move || {
            // Crystallized bodies stay: found in the frozen spaces, off the actor.
            let mut keep: HashSet<ContentHash> = HashSet::new();
            for (_, space) in &frozen {
                for p in space.procedures().filter(|p| p.crystallized()) {
                    keep.extend(p.body().map(|b| b.hash));
                }
            }
            let evictable = |h: &ContentHash| pinned.contains(h) && !keep.contains(h);
            match store.evict_to(budget, evictable) {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(
                        count = removed.len(),
                        "cold blobs evicted (they are in IPFS)"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "blob eviction failed"),
            }
            let _ = done.blocking_send(super::Completion::Evicted);
        });
    }
}

impl Actor {
    /// An eviction pass ended: the next may start.
    pub(super) fn cold_evicted(&mut self) {
        self.cold.evicting = false;
    }
}
