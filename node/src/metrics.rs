//! Prometheus metrics of a node (`/metrics`), in one registry shared with libp2p's own.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A `reason` label (why an envelope was rejected).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: String,
}

/// A `direction` label: `in` or `out`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `in` or `out`.
    pub direction: &'static str,
}

/// A `work` label: what an actor turn did (`command`, `swarm`, `completion`, `tick`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkLabel {
    /// The kind of work.
    pub work: &'static str,
}

/// An `on` label: which thread did the work (`actor`, `background`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OnLabel {
    /// The thread.
    pub on: &'static str,
}

/// A `result` label: how a piece of work ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// How it ended.
    pub result: &'static str,
}

/// A `route` label (API latency).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// The route pattern.
    pub route: String,
}

/// Every metric the node keeps.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Ops applied to a space (own and peers').
    pub ops_applied: Counter,
    /// Envelopes rejected, by reason.
    pub envelopes_rejected: Family<ReasonLabel, Counter>,
    /// Gossip messages, by direction.
    pub gossip_messages: Family<DirectionLabel, Counter>,
    /// Gossip payload bytes, by direction.
    pub gossip_bytes: Family<DirectionLabel, Counter>,
    /// Anti-entropy rounds completed.
    pub sync_rounds: Counter,
    /// Envelopes received by anti-entropy.
    pub sync_envelopes_in: Counter,
    /// Connected peers.
    pub peers: Gauge,
    /// Peers in the saved peer book (redialed at start).
    pub peer_book: Gauge,
    /// 1 when the node runs in a private network (a swarm key: TCP wrapped in `pnet`, no
    /// QUIC), else 0.
    pub private_network: Gauge,
    /// Bytes the store uses on disk.
    pub store_bytes: Gauge,
    /// Durable flushes of the store (each may cover many writes: group commit).
    pub store_flushes: Counter,
    /// Snapshots of a space written (periodic, at a clean stop, after a rebuild).
    pub snapshots_written: Counter,
    /// Checkpoint runs this node sealed of its own ops.
    pub checkpoints: Counter,
    /// Own checkpoint runs being sealed and stored by the flush thread now (at most one per
    /// space): the own writes made meanwhile wait for the run to be stored.
    pub checkpoint_runs_sealing: Gauge,
    /// Envelopes deleted from the op log because a checkpoint run restates them.
    pub envelopes_compacted: Counter,
    /// API requests refused as malformed, unauthorised or too large.
    pub api_errors: Family<ReasonLabel, Counter>,
    /// API latency in seconds, by route.
    pub api_latency: Family<RouteLabel, Histogram>,
    /// Time the node's actor spent on one turn (a batch of commands, a swarm event, work
    /// handed back from another thread, a tick), in seconds, by kind: every write and every
    /// answer that goes through the actor waits behind its turns.
    pub actor_turn: Family<WorkLabel, Histogram>,
    /// Contagion neighbourhoods summed, by where (`actor`: a few stale ones, summed before a
    /// read; `background`: many, summed by a settle job and installed).
    pub contagion_sums: Family<OnLabel, Counter>,
    /// Contagion settle jobs ended, by result (`installed`; `dropped`: the space changed
    /// too much meanwhile, or was rebuilt).
    pub contagion_settle_jobs: Family<ResultLabel, Counter>,
    /// `/knack/blob/1` chunk bytes, by direction (`in`: verified bytes fetched; `out`: served).
    pub blob_bytes: Family<DirectionLabel, Counter>,
    /// Peers dropped from a blob download, by reason (`corrupt`, `unreliable`).
    pub blob_peers_penalised: Family<ReasonLabel, Counter>,
    /// Blob downloads ended, by result (`done`, `failed`).
    pub blob_fetches: Family<ReasonLabel, Counter>,
    /// Bodies added and pinned to IPFS by this node.
    pub ipfs_pinned: Counter,
    /// IPFS calls that failed (pin jobs retried later, reads falling back), by reason.
    pub ipfs_errors: Family<ReasonLabel, Counter>,
    /// Faults this node detected and contained, by reason: `blob_corrupt` (a stored blob that
    /// no longer matches its hash, quarantined), `forked_author` (an author that signed two
    /// different envelopes for one sequence number), `api_connections_refused` (over the API's
    /// connection limit), `blob_quota` (uploads refused over the blob-store quota),
    /// `unreferenced_blob_collected` (uploads no op referenced within the grace period).
    pub integrity_faults: Family<ReasonLabel, Counter>,
    /// Requests of peers this node did not serve, by reason: `sync_not_member` and
    /// `blob_not_member` (a peer that is no member of a members-only space asked for its ops
    /// or one of its blobs).
    pub requests_refused: Family<ReasonLabel, Counter>,
    /// Envelopes of a members-only space deleted from the store after a removal that arrived
    /// late made them unacceptable (the removed member's ops past its cutoff).
    pub envelopes_dropped: Counter,
}

impl Metrics {
    /// Counts one turn of the actor that did `work` in `took`.
    pub fn observe_actor_turn(&self, work: &'static str, took: std::time::Duration) {
        self.actor_turn
            .get_or_create(&WorkLabel { work })
            .observe(took.as_secs_f64());
    }

    /// Creates the metrics and registers them under the `knack` prefix.
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            ops_applied: Counter::default(),
            envelopes_rejected: Family::default(),
            gossip_messages: Family::default(),
            gossip_bytes: Family::default(),
            sync_rounds: Counter::default(),
            sync_envelopes_in: Counter::default(),
            peers: Gauge::default(),
            peer_book: Gauge::default(),
            private_network: Gauge::default(),
            store_bytes: Gauge::default(),
            store_flushes: Counter::default(),
            snapshots_written: Counter::default(),
            checkpoints: Counter::default(),
            checkpoint_runs_sealing: Gauge::default(),
            envelopes_compacted: Counter::default(),
            api_errors: Family::default(),
            api_latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
            }),
            actor_turn: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_01, 2.0, 20))
            }),
            contagion_sums: Family::default(),
            contagion_settle_jobs: Family::default(),
            blob_bytes: Family::default(),
            blob_peers_penalised: Family::default(),
            blob_fetches: Family::default(),
            ipfs_pinned: Counter::default(),
            ipfs_errors: Family::default(),
            integrity_faults: Family::default(),
            requests_refused: Family::default(),
            envelopes_dropped: Counter::default(),
        };
        // Every series of the contagion counters exists from the start (at 0), so a rate
        // over the first settle job sees it.
        for on in ["actor", "background"] {
            drop(metrics.contagion_sums.get_or_create(&OnLabel { on }));
        }
        for result in ["installed", "dropped"] {
            drop(
                metrics
                    .contagion_settle_jobs
                    .get_or_create(&ResultLabel { result }),
            );
        }
        let r = registry.sub_registry_with_prefix("knack");
        r.register(
            "ops_applied",
            "Ops applied to a space",
            metrics.ops_applied.clone(),
        );
        r.register(
            "envelopes_rejected",
            "Envelopes rejected, by reason",
            metrics.envelopes_rejected.clone(),
        );
        r.register(
            "gossip_messages",
            "Gossip messages, by direction",
            metrics.gossip_messages.clone(),
        );
        r.register(
            "gossip_bytes",
            "Gossip payload bytes, by direction",
            metrics.gossip_bytes.clone(),
        );
        r.register(
            "contagion_sums",
            "Contagion neighbourhoods summed, by thread (actor, background)",
            metrics.contagion_sums.clone(),
        );
        r.register(
            "contagion_settle_jobs",
            "Contagion settle jobs ended, by result (installed, dropped)",
            metrics.contagion_settle_jobs.clone(),
        );
        r.register(
            "sync_rounds",
            "Anti-entropy rounds completed",
            metrics.sync_rounds.clone(),
        );
        r.register(
            "sync_envelopes_in",
            "Envelopes received by anti-entropy",
            metrics.sync_envelopes_in.clone(),
        );
        r.register("peers", "Connected peers", metrics.peers.clone());
        r.register(
            "peer_book_peers",
            "Peers in the saved peer book (redialed at start)",
            metrics.peer_book.clone(),
        );
        r.register(
            "private_network",
            "1 when the node runs in a private network (swarm key, TCP only), else 0",
            metrics.private_network.clone(),
        );
        r.register(
            "store_bytes",
            "Bytes the store uses on disk",
            metrics.store_bytes.clone(),
        );
        r.register(
            "store_flushes",
            "Durable flushes of the store",
            metrics.store_flushes.clone(),
        );
        r.register(
            "snapshots_written",
            "Snapshots of a space written (periodic, at a clean stop, after a rebuild)",
            metrics.snapshots_written.clone(),
        );
        r.register(
            "checkpoints",
            "Checkpoint runs sealed of this node's own ops",
            metrics.checkpoints.clone(),
        );
        r.register(
            "checkpoint_runs_sealing",
            "Own checkpoint runs being sealed and stored by the flush thread now",
            metrics.checkpoint_runs_sealing.clone(),
        );
        r.register(
            "envelopes_compacted",
            "Envelopes deleted from the op log, restated by a checkpoint run",
            metrics.envelopes_compacted.clone(),
        );
        r.register(
            "api_errors",
            "API requests refused, by reason",
            metrics.api_errors.clone(),
        );
        r.register(
            "api_latency_seconds",
            "API latency, by route",
            metrics.api_latency.clone(),
        );
        r.register(
            "actor_turn_seconds",
            "Time the node's actor spent on one turn, by kind of work",
            metrics.actor_turn.clone(),
        );
        r.register(
            "blob_bytes",
            "Blob chunk bytes over /knack/blob/1, by direction",
            metrics.blob_bytes.clone(),
        );
        r.register(
            "blob_peers_penalised",
            "Peers dropped from a blob download, by reason",
            metrics.blob_peers_penalised.clone(),
        );
        r.register(
            "blob_fetches",
            "Blob downloads ended, by result",
            metrics.blob_fetches.clone(),
        );
        r.register(
            "ipfs_pinned",
            "Bodies added and pinned to IPFS by this node",
            metrics.ipfs_pinned.clone(),
        );
        r.register(
            "ipfs_errors",
            "Failed IPFS calls, by reason",
            metrics.ipfs_errors.clone(),
        );
        r.register(
            "integrity_faults",
            "Faults detected and contained (corrupt blobs, forked authors, refused connections \
             and uploads), by reason",
            metrics.integrity_faults.clone(),
        );
        r.register(
            "requests_refused",
            "Peers' sync and blob requests not served (not a member of a members-only space), \
             by reason",
            metrics.requests_refused.clone(),
        );
        r.register(
            "envelopes_dropped",
            "Envelopes deleted because a late removal made them unacceptable",
            metrics.envelopes_dropped.clone(),
        );
        metrics
    }

    /// Counts one under `reason` in `family`.
    pub fn count(family: &Family<ReasonLabel, Counter>, reason: &str) {
        family
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a rejected envelope.
    pub fn reject(&self, reason: &str) {
        self.envelopes_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }
}
