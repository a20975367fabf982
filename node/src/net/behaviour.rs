//! The node's libp2p behaviour: gossip, anti-entropy, blobs, identify, ping, and optional
//! Kademlia and mDNS.

use libp2p::kad::store::MemoryStore;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{gossipsub, identify, kad, mdns, ping};

use super::{blob, sync};

/// Everything the swarm runs.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) sync: sync::Behaviour,
    pub(crate) blob: blob::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: Toggle<kad::Behaviour<MemoryStore>>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}
