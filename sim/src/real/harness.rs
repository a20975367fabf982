//! The swarm harness: N real gossipsub swarms in one tokio runtime, wired like the simulator's
//! topology, publishing the simulator's envelopes at the simulator's times.
//!
//! Each node runs in its own task and reports to the coordinator over a channel, stamping
//! every first receipt with the process clock, which all swarms share. The coordinator:
//! starts the swarms (listening on `/memory/0`, nothing else: no TCP, no mDNS, no Kademlia),
//! has the lower-numbered end of every topology edge dial the other, waits until every node
//! has seen each of its neighbours subscribe, lets the mesh form for the scenario's
//! `workload.start_ms` (the simulator's nodes have from time 0 to the first update), publishes,
//! waits until every node holds every message (or the deadline), drains in-flight traffic,
//! then reads each node's mesh size and counters.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::counters::NodeCounters;
use super::error::RealError;
use super::latency::LatencyRow;
use super::swarm::{self, TOPIC};
use crate::scenario::GossipConfig;

/// How long the swarms may take to listen, connect and exchange subscriptions.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Reports queued from the nodes to the coordinator. A run produces about
/// nodes × (messages + degree) of them; a node waits only if this many are unread.
const NOTE_CAPACITY: usize = 1 << 16;
/// Commands queued to one node. The coordinator waits for each publish to be answered, so a
/// node holds at most its dials, one publish and the finish.
const COMMAND_CAPACITY: usize = 1024;

/// One message to publish.
#[derive(Clone, Debug)]
pub(crate) struct Publish {
    /// When, after the first publish.
    pub(crate) at: Duration,
    /// The publishing node.
    pub(crate) node: u32,
    /// The gossipsub data: the envelope bytes.
    pub(crate) data: Vec<u8>,
}

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Nodes.
    pub(crate) nodes: u32,
    /// Seed (keys and heartbeat phases).
    pub(crate) seed: u64,
    /// Links `(a, b)` with `a < b`: `a` dials `b`.
    pub(crate) edges: Vec<(u32, u32)>,
    /// One-way latency between every pair, row by row.
    pub(crate) latency: Vec<Vec<Duration>>,
    /// gossipsub parameters.
    pub(crate) gossip: GossipConfig,
    /// Time for the mesh to form after every subscription is known.
    pub(crate) warmup: Duration,
    /// Messages, in publishing order.
    pub(crate) publishes: Vec<Publish>,
    /// Give up waiting for full delivery this long after the first publish.
    pub(crate) deadline: Duration,
    /// After full delivery, wait this long for in-flight duplicates.
    pub(crate) drain: Duration,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub(crate) struct RealRun {
    /// Per message, per node: first receipt after its publish instant, in µs (`None`: never;
    /// the publisher's own entry is `None`).
    pub(crate) first_receipt_us: Vec<Vec<Option<u64>>>,
    /// Per node: its counters.
    pub(crate) counters: Vec<NodeCounters>,
    /// Per node: its mesh size at the end.
    pub(crate) mesh: Vec<usize>,
}

enum Command {
    Dial(Multiaddr),
    Publish(Vec<u8>, oneshot::Sender<Result<Instant, String>>),
    Finish(oneshot::Sender<Result<(usize, NodeCounters), RealError>>),
}

enum Note {
    Listening(u32, Multiaddr),
    Subscribed(u32, PeerId),
    Message(u32, gossipsub::MessageId, Instant),
    Failed(u32, String),
}

/// Runs `plan` in a fresh multi-threaded tokio runtime.
pub(crate) fn run(plan: &Plan) -> Result<RealRun, RealError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RealError::Runtime)?;
    runtime.block_on(coordinate(plan))
}

/// Drives one node until the coordinator finishes it or goes away.
async fn node_task(
    me: u32,
    mut swarm: Swarm<gossipsub::Behaviour>,
    registry: Registry,
    mut commands: mpsc::Receiver<Command>,
    notes: mpsc::Sender<Note>,
) {
    let topic = IdentTopic::new(TOPIC);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Dial(addr)) => {
                    if let Err(e) = swarm.dial(addr) {
                        let _ = notes.send(Note::Failed(me, format!("dial: {e}"))).await;
                    }
                }
                Some(Command::Publish(data, reply)) => {
                    let at = Instant::now();
                    let result = swarm
                        .behaviour_mut()
                        .publish(topic.clone(), data)
                        .map(|_| at)
                        .map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
                Some(Command::Finish(reply)) => {
                    let mesh = swarm.behaviour().mesh_peers(&topic.hash()).count();
                    let _ = reply.send(NodeCounters::read(&registry).map(|c| (mesh, c)));
                }
                None => return,
            },
            event = swarm.select_next_some() => {
                let note = match event {
                    SwarmEvent::NewListenAddr { address, .. } => Note::Listening(me, address),
                    SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. }) => {
                        Note::Subscribed(me, peer_id)
                    }
                    SwarmEvent::Behaviour(gossipsub::Event::Message { message_id, .. }) => {
                        Note::Message(me, message_id, Instant::now())
                    }
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        Note::Failed(me, format!("outgoing connection: {error}"))
                    }
                    SwarmEvent::ListenerError { error, .. } => {
                        Note::Failed(me, format!("listener: {error}"))
                    }
                    _ => continue,
                };
                if notes.send(note).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn coordinate(plan: &Plan) -> Result<RealRun, RealError> {
    let n = plan.nodes as usize;
    let max_data = plan
        .publishes
        .iter()
        .map(|p| p.data.len())
        .max()
        .unwrap_or(0);
    let (note_tx, mut notes) = mpsc::channel(NOTE_CAPACITY);
    let mut commands = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    let mut peer_ids = Vec::with_capacity(n);
    for me in 0..plan.nodes {
        let key = swarm::keypair(plan.seed, me)?;
        peer_ids.push(PeerId::from(key.public()));
        let config = swarm::gossip_config(&plan.gossip, plan.seed, me, max_data)?;
        let row = LatencyRow {
            me,
            to: plan.latency[me as usize].clone().into(),
        };
        let (mut swarm, registry) = swarm::build(key, config, row)?;
        let memory: Multiaddr = Multiaddr::empty().with(Protocol::Memory(0));
        swarm
            .listen_on(memory)
            .map_err(|e| RealError::Libp2p(e.to_string()))?;
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        commands.push(tx);
        tasks.push(tokio::spawn(node_task(
            me,
            swarm,
            registry,
            rx,
            note_tx.clone(),
        )));
    }
    drop(note_tx);
    let result = drive(plan, &commands, &peer_ids, &mut notes).await;
    for task in &tasks {
        task.abort();
    }
    result
}

fn send(commands: &[mpsc::Sender<Command>], node: u32, c: Command) -> Result<(), RealError> {
    commands[node as usize]
        .try_send(c)
        .map_err(|_| RealError::SwarmGone { node })
}

/// Waits for the next note, failing on a node's failure report or at `until`.
async fn next_note(
    notes: &mut mpsc::Receiver<Note>,
    until: Instant,
    what: &str,
) -> Result<Option<Note>, RealError> {
    match tokio::time::timeout_at(until, notes.recv()).await {
        Ok(Some(Note::Failed(node, reason))) => Err(RealError::Node { node, reason }),
        Ok(Some(note)) => Ok(Some(note)),
        Ok(None) => Err(RealError::SwarmGone { node: u32::MAX }),
        Err(_) => Err(RealError::Timeout {
            what: what.into(),
            secs: SETUP_TIMEOUT.as_secs(),
        }),
    }
}

async fn drive(
    plan: &Plan,
    commands: &[mpsc::Sender<Command>],
    peer_ids: &[PeerId],
    notes: &mut mpsc::Receiver<Note>,
) -> Result<RealRun, RealError> {
    let n = plan.nodes as usize;
    let index: HashMap<PeerId, u32> = peer_ids
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i as u32))
        .collect();
    // 1. Listen addresses.
    let setup_until = Instant::now() + SETUP_TIMEOUT;
    let mut addrs: Vec<Option<Multiaddr>> = vec![None; n];
    let mut pending: Vec<Note> = Vec::new();
    while addrs.iter().any(Option::is_none) {
        match next_note(notes, setup_until, "the swarms to listen").await? {
            Some(Note::Listening(node, addr)) => addrs[node as usize] = Some(addr),
            Some(other) => pending.push(other),
            None => {}
        }
    }
    // 2. Dial the topology's edges.
    let mut neighbours: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
    for &(a, b) in &plan.edges {
        neighbours[a as usize].insert(b);
        neighbours[b as usize].insert(a);
        let Some(addr) = addrs[b as usize].clone() else {
            return Err(RealError::SwarmGone { node: b });
        };
        let addr = addr.with(Protocol::P2p(peer_ids[b as usize]));
        send(commands, a, Command::Dial(addr))?;
    }
    // 3. Every node has seen every neighbour subscribe.
    let mut subscribed: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
    let mut early: Vec<(u32, gossipsub::MessageId, Instant)> = Vec::new();
    let mut take = |note: Note, subscribed: &mut Vec<BTreeSet<u32>>| match note {
        Note::Subscribed(node, peer) => {
            if let Some(&p) = index.get(&peer) {
                subscribed[node as usize].insert(p);
            }
        }
        Note::Message(node, id, at) => early.push((node, id, at)),
        _ => {}
    };
    for note in pending {
        take(note, &mut subscribed);
    }
    while subscribed
        .iter()
        .zip(&neighbours)
        .any(|(s, nb)| !nb.is_subset(s))
    {
        if let Some(note) =
            next_note(notes, setup_until, "the nodes to connect and subscribe").await?
        {
            take(note, &mut subscribed);
        }
    }
    if !early.is_empty() {
        return Err(RealError::Node {
            node: early[0].0,
            reason: "received a message before anything was published".into(),
        });
    }
    // 4. Let the mesh form.
    tokio::time::sleep(plan.warmup).await;
    // 5. Publish at the simulator's relative times.
    let ids: HashMap<Vec<u8>, usize> = plan
        .publishes
        .iter()
        .enumerate()
        .map(|(k, p)| (blake3::hash(&p.data).as_bytes().to_vec(), k))
        .collect();
    let mut published: Vec<Instant> = Vec::with_capacity(plan.publishes.len());
    let start = Instant::now();
    for p in &plan.publishes {
        tokio::time::sleep_until(start + p.at).await;
        let (tx, rx) = oneshot::channel();
        send(commands, p.node, Command::Publish(p.data.clone(), tx))?;
        let at = rx
            .await
            .map_err(|_| RealError::SwarmGone { node: p.node })?
            .map_err(|reason| RealError::Publish {
                node: p.node,
                reason,
            })?;
        published.push(at);
    }
    // 6. Wait for every (node, message) pair, then drain.
    let mut first: Vec<Vec<Option<Instant>>> = vec![vec![None; n]; plan.publishes.len()];
    let expected = plan.publishes.len() * (n - 1);
    let mut got = 0;
    let deadline = start + plan.deadline;
    let mut record = |note: Note, got: &mut usize| {
        if let Note::Message(node, id, at) = note
            && let Some(&k) = ids.get(&id.0)
        {
            let slot = &mut first[k][node as usize];
            if slot.is_none() && plan.publishes[k].node != node {
                *slot = Some(at);
                *got += 1;
            }
        }
    };
    while got < expected {
        match tokio::time::timeout_at(deadline, notes.recv()).await {
            Ok(Some(Note::Failed(node, reason))) => return Err(RealError::Node { node, reason }),
            Ok(Some(note)) => record(note, &mut got),
            Ok(None) => return Err(RealError::SwarmGone { node: u32::MAX }),
            // Incomplete delivery is a result, not an error: it is reported.
            Err(_) => break,
        }
    }
    let drain_until = Instant::now() + plan.drain;
    while let Ok(Some(note)) = tokio::time::timeout_at(drain_until, notes.recv()).await {
        record(note, &mut got);
    }
    // 7. Mesh sizes and counters.
    let mut mesh = Vec::with_capacity(n);
    let mut counters = Vec::with_capacity(n);
    for node in 0..plan.nodes {
        let (tx, rx) = oneshot::channel();
        send(commands, node, Command::Finish(tx))?;
        let (m, c) = rx.await.map_err(|_| RealError::SwarmGone { node })??;
        mesh.push(m);
        counters.push(c);
    }
    let first_receipt_us = first
        .iter()
        .zip(&published)
        .map(|(row, &at)| {
            row.iter()
                .map(|r| r.map(|t| t.saturating_duration_since(at).as_micros() as u64))
                .collect()
        })
        .collect();
    Ok(RealRun {
        first_receipt_us,
        counters,
        mesh,
    })
}
