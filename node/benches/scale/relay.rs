//! The other agents of the scale bench: 49 ed25519 identities whose outcomes are authored by
//! the real `knack-crdt` code (`Space::record_outcome`, contagion included) on a replica pulled
//! from the measured node, sealed by the real `knack-protocol` code (one signed envelope per
//! op, as a node writes them), and delivered to the measured node over its real
//! `/knack/sync/1` protocol by a raw libp2p peer (TCP, noise, yamux) that relays them, as any
//! peer relays the envelopes of others in anti-entropy.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use knack_crdt::{AgentId, Delta, Outcome, ProcedureId, Space, SpaceName};
use knack_protocol::sync::RefuseReason;
use knack_protocol::{Envelope, HybridClock, SyncRequest, SyncResponse, VersionVector};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};

use super::dataset::Rng;

/// Most changes in one op, as the node splits a large contagion (node/src/node/actor/commands.rs).
const MAX_CHANGES_PER_OP: usize = 512;
/// Bytes of envelopes per push (the sync message limit is 4 MiB).
const PUSH_BYTES: usize = 3 << 20;
/// Envelopes per push (the protocol's limit).
const PUSH_ENVELOPES: usize = knack_protocol::sync::MAX_ENVELOPES_PER_MESSAGE;
/// How long one request may wait for its answer before the bench gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A raw libp2p peer speaking `/knack/sync/1` to one node.
pub(crate) struct Relay {
    swarm: Swarm<request_response::Behaviour<knack_node::FrameCodec>>,
    node: PeerId,
    space: SpaceName,
}

/// What a full pull brought.
pub(crate) struct Pulled {
    /// The replica built from it.
    pub(crate) space: Space,
    /// Envelopes received.
    pub(crate) envelopes: u64,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// How long it took.
    pub(crate) elapsed: Duration,
}

impl Relay {
    /// Connects to the node at `addr` (with its `/p2p/` id) with a fresh identity.
    pub(crate) async fn connect(addr: Multiaddr, node: PeerId, space: SpaceName) -> Relay {
        let key = Keypair::generate_ed25519();
        let mut swarm = crate::common::raw_peer(key, knack_node::SYNC_PROTOCOL);
        swarm.dial(addr).expect("dialing the node");
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let event = tokio::time::timeout_at(deadline.into(), swarm.select_next_some())
                .await
                .expect("connected to the node within the timeout");
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } = event
                && peer_id == node
            {
                break;
            }
        }
        Relay { swarm, node, space }
    }

    /// Sends one request and waits for its answer, answering the node's own rounds meanwhile
    /// with `Busy` (this peer only relays; the node would otherwise push its whole log to it).
    async fn request(&mut self, request: &SyncRequest) -> SyncResponse {
        let bytes = request.encode();
        let mut id: OutboundRequestId = self
            .swarm
            .behaviour_mut()
            .send_request(&self.node, bytes.clone());
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let mut retries = 0;
        loop {
            let event = tokio::time::timeout_at(deadline.into(), self.swarm.select_next_some())
                .await
                .expect("the node answered a sync request within the timeout");
            match event {
                SwarmEvent::Behaviour(request_response::Event::Message { message, .. }) => {
                    match message {
                        request_response::Message::Request { channel, .. } => {
                            let busy = SyncResponse::Refused {
                                space: self.space.clone(),
                                reason: RefuseReason::Busy,
                            };
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .send_response(channel, busy.encode());
                        }
                        request_response::Message::Response {
                            request_id,
                            response,
                        } if request_id == id => {
                            return SyncResponse::decode(&response).expect("a valid response");
                        }
                        request_response::Message::Response { .. } => {}
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    error,
                    ..
                }) if request_id == id => {
                    // Resent as is: envelopes the node already took are replays it skips.
                    retries += 1;
                    assert!(retries <= 5, "sync request failed 5 times: {error}");
                    id = self
                        .swarm
                        .behaviour_mut()
                        .send_request(&self.node, bytes.clone());
                }
                _ => {}
            }
        }
    }

    /// Pulls the node's whole op log of the space and applies it to a fresh replica.
    pub(crate) async fn pull_all(&mut self) -> Pulled {
        let started = Instant::now();
        let mut space = Space::new(self.space.clone());
        let mut have = VersionVector::new();
        let (mut envelopes, mut bytes) = (0u64, 0u64);
        loop {
            let request = SyncRequest::Pull {
                space: self.space.clone(),
                have: have.clone(),
            };
            match self.request(&request).await {
                SyncResponse::Envelopes {
                    envelopes: got,
                    more,
                    ..
                } => {
                    for raw in &got {
                        // From the node we measure: decoded, not verified again.
                        let envelope = Envelope::decode(raw).expect("a valid envelope");
                        for (_, delta) in envelope.entries() {
                            space.apply(delta);
                        }
                        have.observe(envelope.author(), envelope.last_seq());
                        envelopes += 1;
                        bytes += raw.len() as u64;
                    }
                    if !more {
                        break;
                    }
                }
                other => panic!("unexpected answer to a pull: {other:?}"),
            }
        }
        Pulled {
            space,
            envelopes,
            bytes,
            elapsed: started.elapsed(),
        }
    }

    /// Pushes batches of encoded envelopes from `batches` until it closes, one push in flight
    /// (the node answers a push before ingesting it, and takes the next one only after, so
    /// this keeps its actor busy without queueing without bound). Returns the pushes made.
    pub(crate) async fn push_all(&mut self, batches: tokio::sync::mpsc::Receiver<Batch>) -> u64 {
        let mut batches = batches;
        let mut pushes = 0;
        let (mut sent, mut last_report) = (0usize, Instant::now());
        while let Some(envelopes) = batches.recv().await {
            sent += envelopes.len();
            if last_report.elapsed() > Duration::from_secs(30) {
                eprintln!("    ... {sent} envelopes pushed");
                last_report = Instant::now();
            }
            let request = SyncRequest::Push {
                space: self.space.clone(),
                have: VersionVector::new(),
                envelopes,
            };
            match self.request(&request).await {
                SyncResponse::Ack { .. } => pushes += 1,
                other => panic!("unexpected answer to a push: {other:?}"),
            }
        }
        pushes
    }
}

/// What the authoring of the other agents' outcomes produced.
#[derive(Debug, Default)]
pub(crate) struct Authored {
    /// Outcomes recorded.
    pub(crate) outcomes: u64,
    /// Ops written (a contagion over 512 changes takes several).
    pub(crate) ops: u64,
    /// Changes in them.
    pub(crate) changes: u64,
    /// Envelope bytes.
    pub(crate) bytes: u64,
    /// Per author (hex agent id), the last sequence number written.
    pub(crate) last_seq: BTreeMap<String, u64>,
    /// Envelopes of the authors' checkpoint runs (sealed after their outcomes).
    pub(crate) checkpoint_envelopes: u64,
    /// Their bytes.
    pub(crate) checkpoint_bytes: u64,
    /// Time spent authoring and sealing (not waiting for the pusher).
    pub(crate) busy: Duration,
}

/// One of the other agents.
struct Author {
    key: Keypair,
    agent: AgentId,
    clock: HybridClock,
    seq: u64,
    /// Its own ops alone, applied: what its checkpoint restates.
    own: Space,
}

/// Groups sealed envelopes into push-sized batches for the sending peer, timing the authoring
/// between sends.
struct Pusher<'a> {
    out: &'a tokio::sync::mpsc::Sender<Batch>,
    batch: Batch,
    bytes: usize,
    busy_since: Instant,
}

impl<'a> Pusher<'a> {
    fn new(out: &'a tokio::sync::mpsc::Sender<Batch>) -> Self {
        Pusher {
            out,
            batch: Vec::new(),
            bytes: 0,
            busy_since: Instant::now(),
        }
    }

    /// Adds one envelope, sending the batch first when it is full; false once the receiver is
    /// gone.
    fn push(&mut self, envelope: Vec<u8>, done: &mut Authored) -> bool {
        if self.bytes + envelope.len() > PUSH_BYTES || self.batch.len() >= PUSH_ENVELOPES {
            done.busy += self.busy_since.elapsed();
            if self
                .out
                .blocking_send(std::mem::take(&mut self.batch))
                .is_err()
            {
                return false;
            }
            self.busy_since = Instant::now();
            self.bytes = 0;
        }
        self.bytes += envelope.len();
        self.batch.push(envelope);
        true
    }

    /// Sends what is left.
    fn finish(self, done: &mut Authored) {
        done.busy += self.busy_since.elapsed();
        if !self.batch.is_empty() {
            let _ = self.out.blocking_send(self.batch);
        }
    }
}

/// What the other agents write: outcomes, their contexts, and whether they checkpoint.
pub(crate) struct Workload {
    /// Agents writing (round robin).
    pub authors: usize,
    /// Outcomes in all.
    pub count: u64,
    /// The context tags (one per outcome).
    pub contexts: Vec<String>,
    /// Seed of the agents' keys and choices.
    pub seed: u64,
    /// Whether each agent seals a checkpoint run of its ops at the end.
    pub checkpoint: bool,
}

/// Authors `count` outcomes by `authors` agents (round robin) on `space`: random procedures
/// among `ids`, 70 % successes, one context of `contexts` each; seals each op as its author's
/// next envelope and sends them in push-sized batches to `out`. Run on its own thread: it owns
/// the replica, applying its own deltas so each author's slots rise as a node's would. With
/// `checkpoint`, each author then seals a checkpoint run of its ops (as a node does past
/// `checkpoint_after_bytes`), sent after them.
#[allow(clippy::too_many_arguments)] // The scenario's knobs, passed once by the bench's main.
pub(crate) fn author_outcomes(
    mut space: Space,
    ids: &[ProcedureId],
    workload: &Workload,
    out: &tokio::sync::mpsc::Sender<Batch>,
) -> Authored {
    let Workload {
        authors,
        count,
        ref contexts,
        seed,
        checkpoint,
    } = *workload;
    let mut rng = Rng::new(seed);
    let mut agents: Vec<Author> = (0..authors)
        .map(|_| {
            let mut secret = [0u8; 32];
            for chunk in secret.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            let key = Keypair::ed25519_from_bytes(secret).expect("a valid ed25519 secret");
            let agent = knack_protocol::agent_id(&key).expect("an ed25519 key");
            Author {
                key,
                agent,
                clock: HybridClock::new(),
                seq: 0,
                own: Space::new(space.name().clone()),
            }
        })
        .collect();
    let name = space.name().clone();
    let mut done = Authored::default();
    let mut pusher = Pusher::new(out);
    for i in 0..count {
        let a = &mut agents[(i % authors as u64) as usize];
        let id = *rng.pick(ids);
        let outcome = Outcome {
            success: rng.chance(0.7),
            duration_ms: rng.between(200, 30_000) as u64,
            contexts: vec![rng.pick(contexts).clone()],
        };
        let at = a.clock.now(super::wall_ms());
        let delta = space
            .record_outcome(a.agent, at, id, &outcome)
            .expect("an outcome of a known procedure");
        space.apply(&delta);
        if checkpoint {
            a.own.apply(&delta);
        }
        done.outcomes += 1;
        done.changes += delta.changes.len() as u64;
        let mut first = Some(at);
        let mut changes = delta.changes.into_iter().peekable();
        while changes.peek().is_some() {
            let chunk: Vec<_> = changes.by_ref().take(MAX_CHANGES_PER_OP).collect();
            let hlc = first
                .take()
                .unwrap_or_else(|| a.clock.now(super::wall_ms()));
            a.seq += 1;
            let envelope =
                Envelope::seal(&a.key, name.clone(), a.seq, vec![(hlc, Delta::new(chunk))])
                    .expect("a sealed envelope");
            let bytes = envelope.into_bytes();
            done.ops += 1;
            done.bytes += bytes.len() as u64;
            if !pusher.push(bytes, &mut done) {
                return done;
            }
        }
    }
    if checkpoint {
        for a in &mut agents {
            let changes = a.own.restatement();
            let clock = &mut a.clock;
            let run = knack_protocol::checkpoint::seal_checkpoint(
                &a.key,
                &name,
                a.seq + 1,
                changes,
                || clock.now(super::wall_ms()),
            )
            .expect("a sealed checkpoint run");
            a.seq += run.len() as u64;
            for envelope in run {
                let bytes = envelope.into_bytes();
                done.checkpoint_envelopes += 1;
                done.checkpoint_bytes += bytes.len() as u64;
                if !pusher.push(bytes, &mut done) {
                    return done;
                }
            }
        }
    }
    pusher.finish(&mut done);
    for a in &agents {
        done.last_seq.insert(a.agent.to_hex(), a.seq);
    }
    done
}

/// A batch of encoded envelopes: one push.
pub(crate) type Batch = Vec<Vec<u8>>;

/// A bounded channel of push batches (two in waiting keep the author and the node both busy).
pub(crate) fn batches() -> (
    tokio::sync::mpsc::Sender<Batch>,
    tokio::sync::mpsc::Receiver<Batch>,
) {
    tokio::sync::mpsc::channel(2)
}
