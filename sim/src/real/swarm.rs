//! One real node: a libp2p swarm running gossipsub over the delayed in-memory transport,
//! configured from the scenario's `[gossip]` section.

use std::time::Duration;

use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MetricsConfig, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::{PeerId, Swarm, Transport, noise, yamux};
use prometheus_client::registry::Registry;

use super::error::RealError;
use super::latency::{self, LatencyRow};
use crate::rng;
use crate::scenario::GossipConfig;

/// The topic every node joins (the node's naming: `knack/1/<space>`).
pub(crate) const TOPIC: &str = "knack/1/sim";

/// Connections stay open this long without traffic (libp2p's default is 10 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Room for gossipsub's framing around the largest envelope.
const FRAMING_BYTES: usize = 64 * 1024;

/// The deterministic ed25519 key of node `node` for `seed`.
pub(crate) fn keypair(seed: u64, node: u32) -> Result<Keypair, RealError> {
    let mut secret = [0u8; 32];
    for (k, chunk) in secret.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&rng::hash(seed, &[0x2ea1, u64::from(node), k as u64]).to_le_bytes());
    }
    Keypair::ed25519_from_bytes(secret).map_err(|e| RealError::Libp2p(e.to_string()))
}

/// gossipsub's configuration for the scenario's `[gossip]` section, node `node`, largest
/// message `max_data` bytes.
///
/// - mesh_n / mesh_n_low / mesh_n_high / gossip_lazy / gossip_factor, heartbeat, history
///   windows and flood_publish: the scenario's (libp2p's flood_publish default is true, the
///   simulator's false: the scenario decides);
/// - the heartbeat's first tick at a per-node phase in `0..heartbeat` (the simulator draws one
///   too), so heartbeats are not synchronised;
/// - prune backoff: `prune_backoff_heartbeats` heartbeats, as in the simulator;
/// - mesh_outbound_min = 0: the simulator has no notion of outbound peers, so no quota of
///   them is kept in the mesh;
/// - IDONTWANT for messages larger than `idontwant_threshold` (0: never), not on publish
///   (neither does the simulator). libp2p compares the protobuf size (envelope plus ~150 bytes
///   of topic, source, sequence number and signature); the simulator compares the envelope;
/// - message id = blake3 of the data (content addressing, as the node does), signed messages
///   with strict validation (as the node), no application validation step (messages are
///   forwarded as soon as they are received), no peer scoring (not modelled).
pub(crate) fn gossip_config(
    g: &GossipConfig,
    seed: u64,
    node: u32,
    max_data: usize,
) -> Result<gossipsub::Config, RealError> {
    let heartbeat = Duration::from_millis(g.heartbeat_ms);
    let heartbeat_us = (g.heartbeat_ms * 1000).max(1);
    let phase = rng::hash(seed, &[0x4ea7, u64::from(node)]) % heartbeat_us;
    let idontwant = match g.idontwant_threshold {
        0 => usize::MAX,
        t => t as usize,
    };
    gossipsub::ConfigBuilder::default()
        .mesh_n(g.d as usize)
        .mesh_n_low(g.d_lo() as usize)
        .mesh_n_high(g.d_hi() as usize)
        .mesh_outbound_min(0)
        .gossip_lazy(g.d_lazy() as usize)
        .gossip_factor(g.gossip_factor)
        .heartbeat_interval(heartbeat)
        .heartbeat_initial_delay(Duration::from_micros(phase.max(1)))
        .history_length(g.history_length as usize)
        .history_gossip(g.history_gossip as usize)
        .flood_publish(g.flood_publish)
        .prune_backoff(heartbeat * g.prune_backoff_heartbeats)
        .idontwant_message_size_threshold(idontwant)
        .idontwant_on_publish(false)
        .max_transmit_size(max_data + FRAMING_BYTES)
        .validation_mode(ValidationMode::Strict)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
        })
        .build()
        .map_err(|e| RealError::Libp2p(format!("gossipsub config: {e}")))
}

/// A node's swarm (subscribed to [`TOPIC`], not yet listening) and its metrics registry.
pub(crate) fn build(
    key: Keypair,
    config: gossipsub::Config,
    row: LatencyRow,
) -> Result<(Swarm<gossipsub::Behaviour>, Registry), RealError> {
    let peer_id = PeerId::from(key.public());
    let noise = noise::Config::new(&key).map_err(|e| RealError::Libp2p(e.to_string()))?;
    let transport = MemoryTransport::default()
        .and_then(move |conn, _endpoint| latency::delay(conn, row))
        .upgrade(Version::V1)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .timeout(Duration::from_secs(30))
        .boxed();
    let mut registry = Registry::default();
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key), config)
        .map_err(|e| RealError::Libp2p(e.to_string()))?
        .with_metrics(&mut registry, MetricsConfig::default());
    behaviour
        .subscribe(&IdentTopic::new(TOPIC))
        .map_err(|e| RealError::Libp2p(e.to_string()))?;
    let config =
        libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_TIMEOUT);
    Ok((Swarm::new(transport, behaviour, peer_id, config), registry))
}
