//! Reacting to the swarm: connections, gossip, anti-entropy, blobs, identify, mDNS.

use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::metrics::Recorder;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, mdns};

use super::ingest::Ingested;
use super::peers::Departure;
use super::{Actor, inbound};
use crate::net::BehaviourEvent;

impl Actor {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.p2p_metrics.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => self.peer_connected(peer_id, &endpoint),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.peer_gone(&peer_id, Departure::Closed),
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match &event {
            BehaviourEvent::Gossipsub(e) => self.p2p_metrics.record(e),
            BehaviourEvent::Identify(e) => self.p2p_metrics.record(e),
            BehaviourEvent::Ping(e) => self.p2p_metrics.record(e),
            BehaviourEvent::Kad(e) => self.p2p_metrics.record(e),
            _ => {}
        }
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.metrics.gossip_messages.get_or_create(&inbound()).inc();
                self.metrics
                    .gossip_bytes
                    .get_or_create(&inbound())
                    .inc_by(message.data.len() as u64);
                let acceptance = match self.ingest(&message.data) {
                    Ok(Ingested::Applied) => MessageAcceptance::Accept,
                    Ok(Ingested::Buffered) => {
                        // Valid, but ops are missing before it: forward it, and ask the peer
                        // that sent it for the gap right away.
                        self.swarm
                            .behaviour_mut()
                            .sync
                            .sync_with(propagation_source);
                        MessageAcceptance::Accept
                    }
                    Ok(Ingested::OtherSpace) => MessageAcceptance::Ignore,
                    Err(e) if e.is_replay() => {
                        self.metrics.reject(e.reason());
                        MessageAcceptance::Ignore
                    }
                    Err(e) => {
                        self.metrics.reject(e.reason());
                        tracing::debug!(peer = %propagation_source, error = %e, "gossip envelope rejected");
                        MessageAcceptance::Reject
                    }
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                self.commit();
            }
            BehaviourEvent::Gossipsub(_) => {}
            BehaviourEvent::Sync(event) => self.on_sync_event(event),
            BehaviourEvent::Blob(event) => self.on_blob_event(event),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.peer_book_identified(peer_id, &info.listen_addrs);
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    for addr in &info.listen_addrs {
                        kad.add_address(&peer_id, addr.clone());
                    }
                }
                self.identified.insert(peer_id, info.listen_addrs);
            }
            BehaviourEvent::Ping(libp2p::ping::Event {
                peer,
                connection,
                result: Err(error @ libp2p::ping::Failure::Timeout),
            }) => {
                // A connection whose pings fail is dead (a partition, a frozen peer): close it,
                // so the peer is redialed and re-synced as soon as it is reachable, instead of
                // waiting for TCP to give up.
                tracing::debug!(%peer, %error, "ping failed: closing the connection");
                self.swarm.close_connection(connection);
            }
            BehaviourEvent::Identify(_) | BehaviourEvent::Ping(_) | BehaviourEvent::Kad(_) => {}
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if !self.connected.contains_key(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            BehaviourEvent::Mdns(_) => {}
        }
    }
}
