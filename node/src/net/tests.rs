//! The protocol behaviours in process: two swarms over libp2p's memory transport (noise,
//! yamux), each with a `sync::Behaviour` or a `blob::Behaviour`, driven the way the actor
//! drives them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap: a panic is a failure

use std::time::Duration;

use futures::StreamExt;
use knack_crdt::{AgentId, Body, ContentHash, NewProcedure, ProcedureKind, Space, SpaceName};
use knack_protocol::blob::{extract_chunk, write_outboard};
use knack_protocol::sync::Batch;
use knack_protocol::{BlobResponse, Envelope, HybridClock, MemoryLog, OpLog, VersionVector};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, Transport, noise, yamux};
use prometheus_client::registry::Registry;

use super::{blob, sync};
use crate::metrics::{Metrics, ReasonLabel};

/// Longest a test waits for the swarms.
const PATIENCE: Duration = Duration::from_secs(20);

fn metrics() -> Metrics {
    Metrics::register(&mut Registry::default())
}

fn space() -> SpaceName {
    SpaceName::new("team").unwrap()
}

fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    let key = Keypair::generate_ed25519();
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(&key).unwrap())
        .multiplex(yamux::Config::default())
        .boxed();
    let config = libp2p::swarm::Config::with_tokio_executor()
        .with_idle_connection_timeout(Duration::from_secs(60));
    Swarm::new(transport, behaviour, key.public().to_peer_id(), config)
}

/// Two swarms, `b` listening and `a` dialing it; returns once both are connected.
async fn connected<B: NetworkBehaviour>(a: B, b: B) -> (Swarm<B>, Swarm<B>) {
    let (mut a, mut b) = (swarm(a), swarm(b));
    b.listen_on("/memory/0".parse().unwrap()).unwrap();
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
            break address;
        }
    };
    a.dial(addr).unwrap();
    let (mut a_up, mut b_up) = (false, false);
    while !(a_up && b_up) {
        tokio::select! {
            e = a.select_next_some() => a_up |= matches!(e, SwarmEvent::ConnectionEstablished { .. }),
            e = b.select_next_some() => b_up |= matches!(e, SwarmEvent::ConnectionEstablished { .. }),
        }
    }
    (a, b)
}

/// A node's op log in memory, and the peers it refuses to sync with.
struct TestHost {
    log: MemoryLog,
    refused: Vec<PeerId>,
}

impl TestHost {
    fn new() -> Self {
        let mut log = MemoryLog::new();
        log.add_space(space());
        TestHost {
            log,
            refused: Vec::new(),
        }
    }

    fn take(&mut self, ops: Option<sync::Ops>) {
        for bytes in ops.map(|o| o.envelopes).unwrap_or_default() {
            self.log.insert(&Envelope::decode(&bytes).unwrap()).unwrap();
        }
    }
}

impl OpLog for TestHost {
    fn version_vector(&self, space: &SpaceName) -> VersionVector {
        self.log.version_vector(space)
    }

    fn envelopes_after(
        &self,
        space: &SpaceName,
        author: &AgentId,
        after_seq: u64,
        budget_bytes: usize,
    ) -> Batch {
        self.log
            .envelopes_after(space, author, after_seq, budget_bytes)
    }
}

impl sync::Host for TestHost {
    fn may_read(&self, _space: &SpaceName, peer: &PeerId) -> bool {
        !self.refused.contains(peer)
    }
}

/// An envelope of one new procedure, signed by a fresh author.
fn envelope() -> Envelope {
    let key = Keypair::generate_ed25519();
    let agent = knack_protocol::agent_id(&key).unwrap();
    let hlc = HybridClock::new().now(1_000_000);
    let new = NewProcedure {
        nonce: 7,
        name: "restart the pod".into(),
        description: "when it is stuck".into(),
        kind: ProcedureKind::Steps,
        tags: vec![],
        body: Body::Inline(b"kubectl rollout restart".to_vec()),
    };
    let (_, delta) = Space::new(space()).add_procedure(agent, hlc, new).unwrap();
    Envelope::seal(&key, space(), 1, vec![(hlc, delta)]).unwrap()
}

fn sync_behaviour(metrics: &Metrics) -> sync::Behaviour {
    let mut behaviour = sync::Behaviour::new(60_000, metrics.clone());
    assert!(behaviour.add_space(space()));
    behaviour
}

/// Runs both sync swarms, answering as the actor does, until `done` holds or patience ends.
async fn run_sync(
    a: &mut Swarm<sync::Behaviour>,
    b: &mut Swarm<sync::Behaviour>,
    hosts: &mut (TestHost, TestHost),
    done: impl Fn(&(TestHost, TestHost)) -> bool,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done(hosts) {
        let (event, on_a) = tokio::select! {
            e = a.select_next_some() => (e, true),
            e = b.select_next_some() => (e, false),
            () = tokio::time::sleep_until(deadline) => panic!("the swarms did not get there"),
        };
        let (swarm, host) = if on_a {
            (&mut *a, &mut hosts.0)
        } else {
            (&mut *b, &mut hosts.1)
        };
        let SwarmEvent::Behaviour(event) = event else {
            continue;
        };
        let sync = swarm.behaviour_mut();
        match event {
            sync::Event::Request(request) => {
                let ops = sync.answer(request, host);
                host.take(ops);
            }
            sync::Event::Response(response) => {
                let ops = sync.take_response(response, host);
                host.take(ops);
            }
            sync::Event::Stalled { peer } => panic!("{peer} stalled"),
        }
        sync.send_due_rounds(host);
    }
}

#[tokio::test]
async fn a_sync_round_over_the_behaviours_brings_the_ops_each_side_lacks() {
    let (ma, mb) = (metrics(), metrics());
    let (mut a, mut b) = connected(sync_behaviour(&ma), sync_behaviour(&mb)).await;
    let mut hosts = (TestHost::new(), TestHost::new());
    let (only_a, only_b) = (envelope(), envelope());
    hosts.0.log.insert(&only_a).unwrap();
    hosts.1.log.insert(&only_b).unwrap();
    // What the actor does on a new connection: a round with the peer now.
    let (pa, pb) = (*a.local_peer_id(), *b.local_peer_id());
    a.behaviour_mut().sync_with(pb);
    b.behaviour_mut().sync_with(pa);
    a.behaviour_mut().send_due_rounds(&hosts.0);
    b.behaviour_mut().send_due_rounds(&hosts.1);
    run_sync(&mut a, &mut b, &mut hosts, |(ha, hb)| {
        ha.log.envelope_count(&space()) == 2 && hb.log.envelope_count(&space()) == 2
    })
    .await;
    assert_eq!(
        hosts.0.log.version_vector(&space()),
        hosts.1.log.version_vector(&space())
    );
    assert!(ma.sync_rounds.get() >= 1 && mb.sync_rounds.get() >= 1);
}

#[tokio::test]
async fn a_peer_that_may_not_read_the_space_is_answered_as_if_it_were_unknown() {
    let (ma, mb) = (metrics(), metrics());
    let (mut a, mut b) = connected(sync_behaviour(&ma), sync_behaviour(&mb)).await;
    let mut hosts = (TestHost::new(), TestHost::new());
    hosts.0.log.insert(&envelope()).unwrap();
    hosts.0.refused.push(*b.local_peer_id());
    let pa = *a.local_peer_id();
    b.behaviour_mut().sync_with(pa);
    b.behaviour_mut().send_due_rounds(&hosts.1);
    let refused = ReasonLabel {
        reason: "sync_not_member".into(),
    };
    run_sync(&mut a, &mut b, &mut hosts, |_| {
        ma.requests_refused.get_or_create(&refused).get() == 1 && mb.sync_rounds.get() == 1
    })
    .await;
    assert_eq!(hosts.1.log.envelope_count(&space()), 0);
}

/// A blob and its outboard, in memory.
struct HeldBlob {
    content: Vec<u8>,
    outboard: Vec<u8>,
    hash: ContentHash,
}

impl HeldBlob {
    fn new(size: usize) -> Self {
        let content: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let mut outboard = std::io::Cursor::new(Vec::new());
        let hash = write_outboard(&content[..], &mut outboard).unwrap();
        HeldBlob {
            content,
            outboard: outboard.into_inner(),
            hash,
        }
    }

    fn answer(&self, request: &knack_protocol::BlobRequest) -> BlobResponse {
        extract_chunk(
            std::io::Cursor::new(&self.content),
            std::io::Cursor::new(&self.outboard),
            self.content.len() as u64,
            request,
        )
        .unwrap()
    }
}

/// Runs both blob swarms until `a`'s download of `blob` ends: its bytes, and whether it
/// completed. `b` answers with `serve`.
async fn run_blob(
    a: &mut Swarm<blob::Behaviour>,
    b: &mut Swarm<blob::Behaviour>,
    serve: impl Fn(&knack_protocol::BlobRequest) -> BlobResponse,
) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut bytes = Vec::new();
    loop {
        tokio::select! {
            e = a.select_next_some() => match e {
                SwarmEvent::Behaviour(blob::Event::Bytes { offset, data, .. }) => {
                    assert_eq!(offset, bytes.len() as u64);
                    bytes.extend(data);
                }
                SwarmEvent::Behaviour(blob::Event::Complete { hash }) => {
                    a.behaviour_mut().finish(&hash, true);
                    return (bytes, true);
                }
                SwarmEvent::Behaviour(blob::Event::Failed { .. }) => return (bytes, false),
                _ => {}
            },
            e = b.select_next_some() => {
                if let SwarmEvent::Behaviour(blob::Event::Request(request)) = e {
                    let response = serve(&request.request);
                    b.behaviour_mut().respond(request.responder, &response);
                }
            }
            () = tokio::time::sleep_until(deadline) => panic!("the download did not end"),
        }
    }
}

#[tokio::test]
async fn a_download_over_the_behaviours_delivers_every_verified_byte_in_order() {
    let (ma, mb) = (metrics(), metrics());
    let (mut a, mut b) =
        connected(blob::Behaviour::new(ma.clone()), blob::Behaviour::new(mb)).await;
    let held = HeldBlob::new(3 * knack_protocol::blob::MAX_BLOB_CHUNK_BYTES + 1000);
    let pb = *b.local_peer_id();
    let size = held.content.len() as u64;
    a.behaviour_mut().fetch(held.hash, size, 0, vec![pb], None);
    let (bytes, complete) = run_blob(&mut a, &mut b, |r| held.answer(r)).await;
    assert!(complete);
    assert_eq!(bytes, held.content);
    let done = ReasonLabel {
        reason: "done".into(),
    };
    assert_eq!(ma.blob_fetches.get_or_create(&done).get(), 1);
    assert_eq!(a.behaviour().active(), 0);
}

#[tokio::test]
async fn a_peer_sending_a_bad_chunk_is_penalised_and_the_download_fails_without_it() {
    let (ma, mb) = (metrics(), metrics());
    let (mut a, mut b) =
        connected(blob::Behaviour::new(ma.clone()), blob::Behaviour::new(mb)).await;
    let held = HeldBlob::new(2 * knack_protocol::blob::MAX_BLOB_CHUNK_BYTES);
    let other = HeldBlob::new(2 * knack_protocol::blob::MAX_BLOB_CHUNK_BYTES + 1);
    let pb = *b.local_peer_id();
    let size = held.content.len() as u64;
    a.behaviour_mut().fetch(held.hash, size, 0, vec![pb], None);
    // `b` answers with the chunks of another blob under the right hash: they do not verify.
    let (bytes, complete) = run_blob(&mut a, &mut b, |r| match other.answer(r) {
        BlobResponse::Chunk { offset, slice, .. } => BlobResponse::Chunk {
            hash: r.hash,
            offset,
            slice,
        },
        response => response,
    })
    .await;
    assert!(!complete);
    assert!(bytes.is_empty());
    let corrupt = ReasonLabel {
        reason: "corrupt".into(),
    };
    assert_eq!(ma.blob_peers_penalised.get_or_create(&corrupt).get(), 1);
    // A miss is remembered: the blob is not relayed again for a while.
    assert!(!a.behaviour().may_relay(&held.hash, 2));
}

#[test]
fn a_download_with_nobody_to_ask_fails_at_once_and_ends_once() {
    let m = metrics();
    let mut behaviour = blob::Behaviour::new(m.clone());
    let held = HeldBlob::new(10);
    behaviour.fetch(held.hash, 10, 0, Vec::new(), None);
    assert!(!behaviour.is_fetching(&held.hash));
    behaviour.finish(&held.hash, false);
    let failed = ReasonLabel {
        reason: "failed".into(),
    };
    assert_eq!(m.blob_fetches.get_or_create(&failed).get(), 1);
}

#[tokio::test]
async fn a_round_left_unanswered_reports_the_peer_stalled_and_closes_its_connections() {
    let behaviour = |timeout| {
        let mut behaviour = sync::Behaviour::with_timeout(60_000, metrics(), timeout);
        assert!(behaviour.add_space(space()));
        behaviour
    };
    // Only `a` times out: were `b`'s own wait for the response as short, it could give up on
    // the stream first, and `a` would see it closed rather than timed out (a stalled
    // connection delivers nothing).
    let (mut a, mut b) = connected(
        behaviour(Duration::from_millis(500)),
        behaviour(Duration::from_secs(60)),
    )
    .await;
    let host = TestHost::new();
    let pb = *b.local_peer_id();
    a.behaviour_mut().sync_with(pb);
    a.behaviour_mut().send_due_rounds(&host);
    let deadline =
        tokio::time::Instant::now() + super::request_response::REQUEST_TIMEOUT + PATIENCE;
    // `b` takes the request and never answers (a stalled connection).
    let mut unanswered = Vec::new();
    let (mut stalled, mut closed) = (false, false);
    while !(stalled && closed) {
        tokio::select! {
            e = a.select_next_some() => match e {
                SwarmEvent::Behaviour(sync::Event::Stalled { peer }) => {
                    assert_eq!(peer, pb);
                    stalled = true;
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    assert_eq!(peer_id, pb);
                    closed = true;
                }
                _ => {}
            },
            e = b.select_next_some() => {
                if let SwarmEvent::Behaviour(sync::Event::Request(request)) = e {
                    unanswered.push(request);
                }
            }
            () = tokio::time::sleep_until(deadline) => panic!("no stall reported"),
        }
    }
    assert_eq!(unanswered.len(), 1);
}
