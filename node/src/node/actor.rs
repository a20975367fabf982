//! The actor: owns the swarm, the store, the spaces and the clock, and serves commands.

mod blob_gc;
mod blobs;
mod checkpoint;
mod cold_tier;
mod commands;
mod completion;
mod contagion;
mod discovery;
mod disk_space;
mod flusher;
mod forks;
mod health;
mod ingest;
mod members;
mod peer_book;
mod peers;
mod settings;
mod swarm_events;
mod sync;
mod unflushed;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use knack_crdt::{AgentId, SpaceName};
use knack_protocol::{Envelope, HybridClock, Inbox, VersionVector};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot};

pub(crate) use blobs::{BlobState, BlobWaiter};
pub(crate) use completion::Completion;

use super::command::Command;
use super::replica::Replica;
use crate::config::Config;
use crate::error::NodeError;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::net::{Behaviour, topic};
use crate::store::Store;

/// Work finished off the actor and not yet taken in (blob chunks read, downloads stored).
const COMPLETIONS: usize = 1024;
/// Most commands taken from the queue into one group commit.
const MAX_BATCH: usize = 256;
/// How often the actor runs its timers (anti-entropy, redials, gauges).
const TICK: Duration = Duration::from_millis(200);
/// How often unconnected bootstrap peers are dialed again.
const REDIAL_EVERY: Duration = Duration::from_secs(3);

/// A writer's reply, sent once the flush covering its write is done (or failed).
pub(crate) type PendingReply = Box<dyn FnOnce(Result<(), NodeError>) + Send>;

/// Everything the actor is made of.
pub(crate) struct Parts {
    pub(crate) key: Keypair,
    pub(crate) agent: AgentId,
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) spaces: BTreeMap<SpaceName, Replica>,
    pub(crate) clock: HybridClock,
    pub(crate) metrics: Metrics,
    pub(crate) p2p_metrics: libp2p::metrics::Metrics,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) stop: oneshot::Receiver<()>,
    pub(crate) config: Config,
    pub(crate) blob_store: Arc<crate::content::BlobStore>,
    pub(crate) ipfs_status: Option<tokio::sync::watch::Receiver<crate::status::IpfsStatus>>,
    pub(crate) pins: Option<crate::content::PinQueue>,
    /// The own high-water marks (see `node/own_seq.rs`).
    pub(crate) own_seqs: super::own_seq::OwnSeqs,
    /// Per space, the own sequence number this node's log must reach before it authors there
    /// (set at start when the log is behind the high-water mark).
    pub(crate) own_floor: BTreeMap<SpaceName, u64>,
    /// What the store holds, recorded outside it after flushes (see `store/integrity.rs`).
    pub(crate) manifest: crate::store::integrity::Manifest,
    /// The data directory (for its disk's free space).
    pub(crate) dir: std::path::PathBuf,
    /// The private network the node runs in, if any (its key's fingerprint).
    pub(crate) private_network: Option<crate::status::PrivateNetworkStatus>,
    /// The spaces joined at runtime (`spaces.json`).
    pub(crate) joined: super::joined::JoinedSpaces,
    /// Bytes of the snapshots the spaces were restored from (paces the next snapshot).
    pub(crate) snapshot_bytes: u64,
}

/// The node's actor. See the module docs of `node`.
pub(crate) struct Actor {
    key: Keypair,
    agent: AgentId,
    swarm: Swarm<Behaviour>,
    store: Arc<dyn Store>,
    spaces: BTreeMap<SpaceName, Replica>,
    inbox: Inbox,
    clock: HybridClock,
    metrics: Metrics,
    /// libp2p's own metrics (connections, gossipsub, identify, kad, ping), in the same registry.
    p2p_metrics: libp2p::metrics::Metrics,
    events: broadcast::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    stop: oneshot::Receiver<()>,
    config: Config,
    api_addr: Option<SocketAddr>,
    listen_addrs: Vec<Multiaddr>,
    connected: BTreeMap<PeerId, Vec<Multiaddr>>,
    last_redial: std::time::Instant,
    /// Envelopes written since the last flush, published once it completes.
    unpublished: Vec<Envelope>,
    /// Own envelopes sealed while their space's checkpoint run is being stored by the flush
    /// thread: that thread stores them after the run (see `checkpoint.rs`).
    deferred: Vec<Envelope>,
    /// This node's own ops applied since the last commit, per space, sealed into one
    /// envelope per space at the commit (see `commands::write_delta`).
    unsealed: BTreeMap<SpaceName, Unsealed>,
    /// Set when sealing or storing this node's own ops failed: memory is then ahead of the
    /// log, so every later write is refused until a restart (which reloads from the log; the
    /// lost ops were never acknowledged nor sent to anyone).
    write_fault: Option<String>,
    /// Replies waiting for the flush that makes their writes durable.
    unacknowledged: Vec<PendingReply>,
    /// Remote peers' addresses learned by identify (for Kademlia).
    identified: HashMap<PeerId, Vec<Multiaddr>>,
    /// Whether ops received from peers were stored since the last flush.
    unflushed_remote: bool,
    /// Ops applied since the last snapshot.
    ops_since_snapshot: u64,
    /// Bytes of the last snapshots written (all spaces).
    snapshot_bytes: u64,
    /// Whether periodic snapshots are being encoded and written off the actor.
    snapshot_in_flight: bool,
    /// Own sequence numbers sealed and not yet durable: not served to peers.
    own_unflushed: unflushed::OwnUnflushed,
    /// Whether the next snapshot is due whatever the ops count (a members-only rebuild
    /// dropped ops the stored snapshot holds).
    snapshot_forced: bool,
    /// To hand work finished off the actor back to it.
    completions_tx: mpsc::Sender<Completion>,
    /// Blob serving and downloads.
    blobs: BlobState,
    /// Work finished off the actor (blob reads, stored downloads).
    completions: mpsc::Receiver<Completion>,
    /// The IPFS tier's state, kept by its pin worker (when an endpoint is configured).
    ipfs_status: Option<tokio::sync::watch::Receiver<crate::status::IpfsStatus>>,
    /// The cold tier's bookkeeping (pin queue, eviction).
    cold: cold_tier::ColdTier,
    /// The search index of every space.
    discovery: crate::discovery::Discovery,
    /// Peers this node was connected to, kept in the store and redialed at start.
    book: peer_book::BookKeeper,
    /// Own checkpoints in progress and op-log compaction.
    checkpoints: checkpoint::Checkpoints,
    /// Makes sealed batches durable off this thread, then answers their writers.
    flusher: flusher::Flusher,
    /// Batches handed to the flusher and not yet reported back flushed.
    flushes_in_flight: usize,
    /// Per space, the own sequence number the log must reach before this node authors there.
    own_floor: BTreeMap<SpaceName, u64>,
    /// Forked authors, per space, with the first sequence number seen signed twice.
    forks: BTreeMap<(SpaceName, AgentId), u64>,
    /// What the store holds, recorded outside it after flushes.
    manifest: crate::store::integrity::Manifest,
    /// Whether a write was flushed since the manifest was last recorded (it is recorded on the
    /// next tick, not on every commit: one file sync per tick rather than per write batch).
    manifest_stale: bool,
    /// The private network the node runs in, if any (shown in the status).
    private_network: Option<crate::status::PrivateNetworkStatus>,
    /// Collection of unreferenced uploads.
    blob_gc: blob_gc::BlobGc,
    /// The free-space guard.
    disk: disk_space::DiskGuard,
    /// The spaces joined at runtime (`spaces.json`).
    joined: super::joined::JoinedSpaces,
    /// Members-only spaces being rebuilt off the actor after a late removal.
    rebuilding: std::collections::BTreeSet<SpaceName>,
}

impl Actor {
    pub(crate) fn new(mut parts: Parts) -> Result<Actor, NodeError> {
        for name in parts.spaces.keys() {
            parts.swarm.behaviour_mut().sync.add_space(name.clone());
        }
        let (completions_tx, completions) = mpsc::channel(COMPLETIONS);
        let mut discovery =
            crate::discovery::Discovery::new(&parts.config.search, completions_tx.clone())
                .map_err(|e| NodeError::io(std::path::Path::new("the search thread"), e))?;
        for (name, replica) in &parts.spaces {
            discovery::index_space(
                &mut discovery,
                name,
                &replica.space,
                parts.config.search.build_inline_max,
                &completions_tx,
            );
        }
        let book = peer_book::BookKeeper::load(parts.store.as_ref());
        let flusher = flusher::Flusher::start(
            parts.store.clone(),
            parts.own_seqs,
            parts.agent,
            parts.metrics.store_flushes.clone(),
            completions_tx.clone(),
        )
        .map_err(|e| NodeError::io(std::path::Path::new("the flush thread"), e))?;
        Ok(Actor {
            book,
            key: parts.key,
            agent: parts.agent,
            swarm: parts.swarm,
            store: parts.store,
            spaces: parts.spaces,
            inbox: Inbox::new(),
            clock: parts.clock,
            metrics: parts.metrics,
            p2p_metrics: parts.p2p_metrics,
            events: parts.events,
            commands: parts.commands,
            stop: parts.stop,
            config: parts.config,
            api_addr: None,
            listen_addrs: Vec::new(),
            connected: BTreeMap::new(),
            last_redial: std::time::Instant::now(),
            unpublished: Vec::new(),
            deferred: Vec::new(),
            unsealed: BTreeMap::new(),
            write_fault: None,
            unacknowledged: Vec::new(),
            identified: HashMap::new(),
            unflushed_remote: false,
            ops_since_snapshot: 0,
            snapshot_bytes: parts.snapshot_bytes,
            snapshot_in_flight: false,
            own_unflushed: unflushed::OwnUnflushed::default(),
            snapshot_forced: false,
            completions_tx: completions_tx.clone(),
            blobs: BlobState::new(parts.blob_store, completions_tx),
            completions,
            ipfs_status: parts.ipfs_status,
            cold: cold_tier::ColdTier::new(parts.pins),
            discovery,
            checkpoints: checkpoint::Checkpoints::default(),
            flusher,
            flushes_in_flight: 0,
            own_floor: parts.own_floor,
            forks: BTreeMap::new(),
            manifest: parts.manifest,
            manifest_stale: false,
            blob_gc: blob_gc::BlobGc::default(),
            disk: disk_space::DiskGuard::new(parts.dir),
            private_network: parts.private_network,
            joined: parts.joined,
            rebuilding: std::collections::BTreeSet::new(),
        })
    }

    /// Listens, subscribes to every space's topic and dials the bootstrap peers.
    pub(crate) fn start(&mut self) -> Result<(), NodeError> {
        self.load_forks();
        for addr in self.config.listen.clone() {
            let is_quic = addr
                .iter()
                .any(|p| matches!(p, libp2p::multiaddr::Protocol::QuicV1));
            if is_quic && !self.config.quic {
                continue;
            }
            self.swarm
                .listen_on(addr.clone())
                .map_err(|e| NodeError::Network(format!("cannot listen on {addr}: {e}")))?;
        }
        // Members-only spaces are not gossiped (see `publish`).
        let names: Vec<SpaceName> = self
            .spaces
            .iter()
            .filter(|(_, r)| r.space.membership().is_none())
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&topic(&name))
                .map_err(|e| NodeError::Network(e.to_string()))?;
        }
        self.dial_bootstrap();
        self.peer_book_dial_at_start();
        // A store written before a removal arrived, or by an older build, may hold ops the
        // membership no longer accepts.
        let members_only: Vec<SpaceName> = self
            .spaces
            .iter()
            .filter(|(_, r)| r.space.membership().is_some())
            .map(|(name, _)| name.clone())
            .collect();
        for name in members_only {
            self.enforce_membership(&name);
        }
        Ok(())
    }

    /// Serves until stopped, then flushes and snapshots.
    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let turn = tokio::select! {
                biased;
                _ = &mut self.stop => break,
                command = self.commands.recv() => match command {
                    Some(command) => Turn::Commands(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => Turn::Swarm(event),
                Some(done) = self.completions.recv() => Turn::Completion(done),
                _ = tick.tick() => Turn::Tick,
            };
            // Timed from when the turn's work starts (not while the actor waits for it):
            // `knack_actor_turn_seconds{work}` shows whether anything holds the actor up.
            let started = std::time::Instant::now();
            let work = match turn {
                Turn::Commands(command) => {
                    self.on_commands(command);
                    "command"
                }
                Turn::Swarm(event) => {
                    self.on_swarm_event(event);
                    "swarm"
                }
                Turn::Completion(done) => {
                    self.on_completion(done);
                    "completion"
                }
                Turn::Tick => {
                    self.on_tick();
                    "tick"
                }
            };
            self.metrics.observe_actor_turn(work, started.elapsed());
        }
        self.commit_now();
        // Writes sealed but not yet durable are flushed and answered before the thread ends
        // (their envelopes are not published: peers get them by anti-entropy), and a
        // checkpoint run handed to the flush thread is stored.
        self.completions.close();
        if let Some(fault) = self.flusher.finish() {
            self.write_fault = Some(fault);
        }
        self.peer_book_save();
        if self.write_fault.is_none() {
            // (With a write fault, memory is ahead of the log: a snapshot would claim ops the
            // log lacks. The log is the truth; the next start replays it.)
            self.save_snapshots();
        }
        match self.store.flush() {
            Ok(()) => self.record_manifest(),
            Err(e) => tracing::error!(error = %e, "final flush failed"),
        }
        tracing::info!("node stopped");
    }

    /// Writes a snapshot of every space, so the next start replays only later ops. Taken after
    /// the last commit, so a snapshot never covers an op the log does not hold; a crash later
    /// leaves it behind the log, and the restore replays the difference.
    fn save_snapshots(&mut self) {
        let (bytes, failed) = write_snapshots(
            self.store.as_ref(),
            self.pending_snapshots(),
            &self.metrics.snapshots_written,
        );
        if let Some(e) = failed {
            tracing::warn!(error = %e, "snapshot not written");
        }
        self.snapshot_bytes = bytes;
    }

    /// The parts of a snapshot of every space, taken now (O(1) per space: persistent maps).
    fn pending_snapshots(&self) -> Vec<(SpaceName, super::replica::PendingSnapshot)> {
        let latest = self.clock.last();
        self.spaces
            .iter()
            .map(|(name, r)| (name.clone(), super::replica::PendingSnapshot::of(r, latest)))
            .collect()
    }

    /// Whether enough ops were applied since the last snapshot to take the next one.
    fn snapshot_due(&self) -> bool {
        let every = self
            .config
            .snapshot_every_ops
            .max(self.snapshot_bytes / crate::config::SNAPSHOT_BYTES_PER_OP);
        self.snapshot_forced || self.ops_since_snapshot >= every
    }

    /// Runs timers: anti-entropy rounds, redials, gauges.
    fn on_tick(&mut self) {
        self.poll_sync();
        self.swarm.behaviour_mut().blob.on_tick();
        self.cold_tier_on_tick();
        self.collect_unreferenced_blobs();
        if self.last_redial.elapsed() >= REDIAL_EVERY {
            self.last_redial = std::time::Instant::now();
            self.dial_bootstrap();
        }
        self.peer_book_on_tick();
        self.metrics
            .store_bytes
            .set(self.store.size_on_disk() as i64);
        self.commit();
        if self.unflushed_remote || self.snapshot_due() {
            self.flush_remote_and_snapshot();
        }
        if self.manifest_stale && !self.unflushed_remote && self.flushes_in_flight == 0 {
            self.record_manifest();
        }
        self.checkpoints_on_tick();
        self.settle_quiet_spaces();
    }

    /// Makes ops received from peers durable (they need no acknowledgement, so they wait for a
    /// tick rather than costing a flush each), and every `snapshot_every_ops` applied ops
    /// snapshots the spaces between two flushes, so a snapshot never covers an op the log lacks.
    fn flush_remote_and_snapshot(&mut self) {
        // Own writes applied while a flush runs are in memory only: into the log with them,
        // so the flush below covers every op a snapshot taken after it may hold.
        self.commit_now();
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "store flush failed");
            return;
        }
        self.metrics.store_flushes.inc();
        self.unflushed_remote = false;
        self.record_manifest();
        self.start_compaction();
        // (Not while a checkpoint run is stored: the version vectors cover its reserved
        // sequence numbers before the log holds them.)
        if self.snapshot_due()
            && !self.snapshot_in_flight
            && !self.runs_unsettled()
            && self.check_disk().is_ok()
        {
            self.snapshot_in_background();
            self.ops_since_snapshot = 0;
            self.snapshot_forced = false;
        }
    }

    /// Takes the spaces' state now (O(1) per space; the log is flushed, so it covers
    /// no op the log lacks) and encodes and writes the snapshots on a blocking thread: a large
    /// space's snapshot (tens of MB) never stalls the actor.
    fn snapshot_in_background(&mut self) {
        let pending = self.pending_snapshots();
        let (store, done) = (self.store.clone(), self.completions_tx.clone());
        let written = self.metrics.snapshots_written.clone();
        self.snapshot_in_flight = true;
        tokio::task::spawn_blocking(move || {
            let result = match write_snapshots(store.as_ref(), pending, &written) {
                (_, Some(e)) => Err(e),
                (bytes, None) => store.flush().map(|()| bytes).map_err(|e| e.to_string()),
            };
            let _ = done.blocking_send(Completion::Snapshotted(result));
        });
    }

    /// Every joined space, frozen now (O(1) each): what a read of whole spaces takes to another
    /// thread (blob collection, the cold tier, the relay check).
    fn frozen_spaces(&mut self) -> Vec<(SpaceName, knack_crdt::FrozenSpace)> {
        let names: Vec<SpaceName> = self.spaces.keys().cloned().collect();
        names
            .into_iter()
            .filter_map(|name| Some((name.clone(), self.freeze(&name)?)))
            .collect()
    }

    /// A background snapshot finished.
    pub(super) fn snapshotted(&mut self, result: Result<u64, String>) {
        self.snapshot_in_flight = false;
        match result {
            Ok(bytes) => self.snapshot_bytes = bytes,
            Err(e) => tracing::warn!(error = %e, "snapshot not written"),
        }
    }

    /// Dials every bootstrap address whose peer is not connected.
    fn dial_bootstrap(&mut self) {
        for addr in self.config.bootstrap.clone() {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            if peer.is_some_and(|p| self.connected.contains_key(&p)) {
                continue;
            }
            if peer.is_none() && self.connected.values().flatten().any(|a| *a == addr) {
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "dial failed");
            }
        }
    }

    /// Group commit: seals every write so far into the store and hands the batch to the
    /// flusher, which makes it durable and answers the writers off this thread
    /// ([`Actor::flushed`] then publishes the new envelopes). While a flush runs, writes keep
    /// being applied and wait for it to end: the next batch is sealed then, as one envelope
    /// (so batches stay as large as when the actor itself waited for the disk, and the actor
    /// serves the writes meanwhile).
    fn commit(&mut self) {
        if self.flushes_in_flight == 0 {
            self.commit_now();
        }
    }

    /// Seals every write so far into the store and hands the batch to the flusher now, even
    /// while a flush runs: for callers that read the log next and need every own op in it.
    /// A failed seal fails every waiting write at once (nothing of the batch is published).
    fn commit_now(&mut self) {
        if self.unacknowledged.is_empty() && self.unpublished.is_empty() && self.unsealed.is_empty()
        {
            return;
        }
        self.flush_now();
    }

    /// Seals every write so far and hands a flush to the flusher even with nothing new to
    /// seal: for what the store took by another path (a checkpoint run), whose durability a
    /// flush then proves (and compaction follows).
    fn flush_now(&mut self) {
        let sealed = self.seal_all();
        let replies = std::mem::take(&mut self.unacknowledged);
        let envelopes = std::mem::take(&mut self.unpublished);
        let appends = std::mem::take(&mut self.deferred);
        if let Err(e) = sealed {
            flusher::fail_writes(replies, &e.to_string());
            return;
        }
        self.flushes_in_flight += 1;
        self.flusher.submit(flusher::FlushJob {
            replies,
            envelopes,
            appends,
            run: None,
        });
    }

    /// Hands a checkpoint run to the flush thread, which stores it ahead of every batch
    /// handed over later (see `checkpoint.rs`).
    fn flush_with_run(&mut self, run: checkpoint::RunJob) {
        self.flushes_in_flight += 1;
        self.flusher.submit(flusher::FlushJob {
            replies: Vec::new(),
            envelopes: Vec::new(),
            appends: Vec::new(),
            run: Some(Box::new(run)),
        });
    }

    /// The flusher made `batches` batches durable (`ok`) and answered their writers: their
    /// envelopes go to the peers, and the checkpoint runs among them may compact the log.
    pub(super) fn flushed(
        &mut self,
        batches: usize,
        envelopes: Vec<Envelope>,
        runs: Vec<(SpaceName, Result<checkpoint::SealedRun, String>)>,
        ok: bool,
    ) {
        self.flushes_in_flight = self.flushes_in_flight.saturating_sub(batches);
        if ok {
            self.own_made_durable(&envelopes, &runs);
        }
        self.runs_sealed(runs);
        if ok {
            self.manifest_stale = true;
            for envelope in envelopes {
                self.publish(&envelope);
            }
            self.start_compaction();
        }
        self.settle_runs();
        // The writes applied while the flush ran.
        self.commit();
    }

    /// Seals every space's unsealed own ops into one envelope each and appends it to the
    /// store (durable at the next flush). On failure the node stops taking writes (see
    /// `write_fault`).
    fn seal_all(&mut self) -> Result<(), NodeError> {
        let unsealed = std::mem::take(&mut self.unsealed);
        for (space, batch) in unsealed {
            if let Err(e) = self.seal(space, batch) {
                let message = format!(
                    "writing this node's own ops failed ({e}); it refuses writes until restarted"
                );
                tracing::error!("{message}");
                self.write_fault = Some(message);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Seals one batch of own ops and appends it to the store.
    fn seal(&mut self, space: SpaceName, batch: Unsealed) -> Result<(), NodeError> {
        let envelope = Envelope::seal(&self.key, space, batch.first_seq, batch.ops)?;
        self.own_unflushed
            .sealed(envelope.space(), envelope.first_seq(), envelope.last_seq());
        if self.own_appends_deferred(envelope.space()) {
            self.deferred.push(envelope.clone());
        } else {
            self.store
                .append_envelope(&super::replica::key_of(&envelope), envelope.as_bytes())?;
        }
        self.note_own_envelope(envelope.space(), envelope.encoded_len());
        self.unpublished.push(envelope);
        Ok(())
    }

    /// Records what the store holds after a flush (`store/integrity.rs`); a failure is logged
    /// (the manifest is then behind the store, which a start accepts).
    fn record_manifest(&mut self) {
        if self.write_fault.is_some() {
            return; // memory is ahead of the log: the manifest must not claim those ops
        }
        self.manifest_stale = false;
        // While a checkpoint run is stored, a space's own entry claims only what is stored.
        let recorded: Vec<(&SpaceName, std::borrow::Cow<'_, VersionVector>)> = self
            .spaces
            .iter()
            .map(|(name, r)| match self.own_stored_upto(name) {
                Some(upto) => (
                    name,
                    std::borrow::Cow::Owned(r.vv_with_own_upto(self.agent, upto)),
                ),
                None => (name, std::borrow::Cow::Borrowed(&r.vv)),
            })
            .collect();
        let spaces = recorded.iter().map(|(name, vv)| (*name, vv.as_ref()));
        if let Err(e) = self.manifest.record(spaces) {
            tracing::warn!(error = %e, "store manifest not written");
        }
    }

    /// Sends an envelope on its space's gossip topic. A members-only space's envelopes are
    /// not gossiped (anyone may subscribe to a topic): a round of anti-entropy with every
    /// peer is made due instead, and only members are synced with.
    fn publish(&mut self, envelope: &Envelope) {
        if self.is_members_only(envelope.space()) {
            self.swarm.behaviour_mut().sync.sync_now(envelope.space());
            self.poll_sync();
            return;
        }
        let bytes = envelope.as_bytes().to_vec();
        let len = bytes.len() as u64;
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic(envelope.space()), bytes)
        {
            Ok(_) => {
                self.metrics.gossip_messages.get_or_create(&out()).inc();
                self.metrics.gossip_bytes.get_or_create(&out()).inc_by(len);
            }
            // No peer yet, or none subscribed: anti-entropy delivers it later.
            Err(e) => tracing::debug!(error = %e, "gossip publish skipped"),
        }
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// Encodes and stores snapshots, each as it is encoded: the bytes written, and the last
/// failure if any (the other spaces are still written).
fn write_snapshots(
    store: &dyn Store,
    pending: Vec<(SpaceName, super::replica::PendingSnapshot)>,
    written_total: &prometheus_client::metrics::counter::Counter,
) -> (u64, Option<String>) {
    let mut total = 0;
    let mut failed = None;
    for (name, snapshot) in pending {
        let written = store.put_snapshot_with(&name, &mut |out| snapshot.write_to(out));
        match written {
            Ok(bytes) => {
                total += bytes;
                written_total.inc();
            }
            Err(e) => failed = Some(format!("snapshot of {name}: {e}")),
        }
    }
    (total, failed)
}

/// What woke the actor for one turn of its loop. (One lives on the stack for a turn: boxing
/// the large swarm event would allocate for every event instead.)
#[allow(clippy::large_enum_variant)]
enum Turn {
    Commands(Command),
    Swarm(libp2p::swarm::SwarmEvent<crate::net::BehaviourEvent>),
    Completion(Completion),
    Tick,
}

/// Own ops applied in memory and not yet sealed: consecutive sequence numbers from
/// `first_seq`.
#[derive(Debug)]
pub(crate) struct Unsealed {
    pub(crate) first_seq: u64,
    pub(crate) ops: Vec<(knack_crdt::Hlc, knack_crdt::Delta)>,
    /// Encoded size of the ops so far, roughly.
    pub(crate) bytes: usize,
}

/// The `out` direction label.
fn out() -> crate::metrics::DirectionLabel {
    crate::metrics::DirectionLabel { direction: "out" }
}

/// The `in` direction label.
fn inbound() -> crate::metrics::DirectionLabel {
    crate::metrics::DirectionLabel { direction: "in" }
}

/// Wall-clock milliseconds since the Unix epoch (the node is where time enters knack).
pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
