//! Building the swarm: transports (TCP + QUIC, noise, yamux; in a private network TCP wrapped
//! in `pnet` under the swarm key, before noise, and no QUIC), gossipsub with validation by the
//! node, and the `/knack/sync/1` and `/knack/blob/1` behaviours.

use std::time::Duration;

use knack_crdt::SpaceName;
use libp2p::core::Transport;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::kad::store::MemoryStore;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, gossipsub, identify, kad, mdns, noise, ping, tcp, yamux,
};

use super::{Behaviour, blob, sync};
use crate::config::Config;
use crate::error::NodeError;
use crate::metrics::Metrics;

/// Connections stay open this long without traffic (gossip peers must not be dropped by the
/// default 10 s idle timeout).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest gossip message: an envelope at its limit plus gossipsub's framing.
const MAX_GOSSIP_BYTES: usize = knack_protocol::MAX_ENVELOPE_BYTES + 16 * 1024;
/// How often gossipsub runs its heartbeat (mesh upkeep, gossip of message ids).
const GOSSIP_HEARTBEAT: Duration = Duration::from_millis(500);
/// How often Kademlia (when on) bootstraps again.
const KAD_BOOTSTRAP_EVERY: Duration = Duration::from_secs(60);
/// How often connections are pinged.
const PING_INTERVAL: Duration = Duration::from_secs(2);
/// A ping unanswered this long fails and closes its connection.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The gossip topic of a space: `knack/1/<space>`.
pub(crate) fn topic(space: &SpaceName) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("knack/1/{space}"))
}

/// Builds the swarm for `key` with `config`, its protocols counting into `metrics`; with
/// `psk`, in the private network of that pre-shared key (TCP only: `config.quic` is ignored).
pub(crate) fn build_swarm(
    key: Keypair,
    config: &Config,
    psk: Option<PreSharedKey>,
    metrics: &Metrics,
    transport: super::Transport,
) -> Result<Swarm<Behaviour>, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let mdns_on = config.mdns;
    let kad_on = config.kademlia;
    let sync_interval_ms = config.sync_interval_ms;
    let behaviour = |key: &Keypair| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
        let peer_id = key.public().to_peer_id();
        let gossip_config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(GOSSIP_HEARTBEAT)
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .max_transmit_size(MAX_GOSSIP_BYTES)
            .message_id_fn(|m: &gossipsub::Message| {
                gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
            })
            .build()?;
        let gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
        )?;
        let sync = sync::Behaviour::new(sync_interval_ms, metrics.clone());
        let blob = blob::Behaviour::new(metrics.clone());
        let identify =
            identify::Behaviour::new(identify::Config::new("/knack/id/1".into(), key.public()));
        let kad = kad_on.then(|| {
            let mut cfg = kad::Config::new(StreamProtocol::new("/knack/kad/1"));
            cfg.set_periodic_bootstrap_interval(Some(KAD_BOOTSTRAP_EVERY));
            let mut k = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), cfg);
            k.set_mode(Some(kad::Mode::Server));
            k
        });
        let mdns = if mdns_on {
            Some(mdns::tokio::Behaviour::new(
                mdns::Config::default(),
                peer_id,
            )?)
        } else {
            None
        };
        Ok(Behaviour {
            gossipsub,
            sync,
            blob,
            identify,
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_INTERVAL)
                    .with_timeout(PING_TIMEOUT),
            ),
            kad: Toggle::from(kad),
            mdns: Toggle::from(mdns),
        })
    };
    if transport == super::Transport::Memory {
        return Ok(SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(
                |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                    Ok(MemoryTransport::default()
                        .upgrade(Version::V1Lazy)
                        .authenticate(noise::Config::new(key)?)
                        .multiplex(yamux::Config::default()))
                },
            )
            .map_err(|e| net(&e))?
            .with_behaviour(behaviour)
            .map_err(|e| net(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build());
    }
    if let Some(psk) = psk {
        return Ok(SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            // TCP in a private network: each connection first exchanges nonces and turns into
            // an XSalsa20 stream under `psk` (libp2p `pnet`), then upgrades as the plain TCP
            // transport does (multistream-select, noise, yamux). A peer without the key reads
            // noise's handshake as noise, so no connection completes.
            .with_other_transport(
                |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                    let noise = noise::Config::new(key)?;
                    let pnet = PnetConfig::new(psk);
                    Ok(
                        tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                            .and_then(move |socket, _| pnet.handshake(socket))
                            .upgrade(Version::V1Lazy)
                            .authenticate(noise)
                            .multiplex(yamux::Config::default()),
                    )
                },
            )
            .map_err(|e| net(&e))?
            .with_behaviour(behaviour)
            .map_err(|e| net(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build());
    }
    let builder = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| net(&e))?;
    let swarm = if config.quic {
        builder
            .with_quic()
            .with_behaviour(behaviour)
            .map_err(|e| net(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build()
    } else {
        builder
            .with_behaviour(behaviour)
            .map_err(|e| net(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build()
    };
    Ok(swarm)
}
