//! A peer's arrival and departure: the one place where every part of the node that keeps
//! per-peer state learns of them (anti-entropy, blob downloads, the peer book, the peer gauge,
//! `PeerConnected` / `PeerDisconnected`).

use libp2p::PeerId;
use libp2p::core::ConnectedPoint;

use super::{Actor, wall_ms};
use crate::event::Event;

/// Why a peer is torn down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Departure {
    /// Its last connection closed.
    Closed,
    /// A sync round with it went unanswered: its connections are being closed (by the sync
    /// behaviour), and it is forgotten now rather than when the stalled close ends, so the
    /// next redial opens a fresh connection.
    Stalled,
}

impl Actor {
    /// A connection to `peer` was established: recorded, and on its first connection the peer
    /// is synced with and asked by the downloads in progress.
    pub(super) fn peer_connected(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        self.peer_book_connected(peer, endpoint);
        let addr = endpoint.get_remote_address().clone();
        let fresh = !self.connected.contains_key(&peer);
        let addrs = self.connected.entry(peer).or_default();
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
        if !fresh {
            return;
        }
        self.metrics.peers.set(self.connected.len() as i64);
        let behaviour = self.swarm.behaviour_mut();
        behaviour.sync.sync_with(peer);
        let spaces = &self.spaces;
        behaviour.blob.peer_connected(peer, |hash| {
            super::members::may_serve_blob(spaces, &peer, hash)
        });
        self.emit(Event::PeerConnected {
            peer: peer.to_string(),
        });
    }

    /// The one teardown of a peer, whatever ended it: anti-entropy and blob downloads forget
    /// it, the peer book records when it was last seen, the peer gauge drops, and
    /// `PeerDisconnected` is emitted, once (a later `ConnectionClosed` of a dropped connection
    /// finds it gone).
    pub(super) fn peer_gone(&mut self, peer: &PeerId, why: Departure) {
        if self.connected.remove(peer).is_none() {
            return;
        }
        tracing::debug!(%peer, ?why, "peer gone");
        self.metrics.peers.set(self.connected.len() as i64);
        let behaviour = self.swarm.behaviour_mut();
        behaviour.sync.peer_gone(peer);
        behaviour.blob.peer_gone(peer);
        self.peer_book_seen(*peer, wall_ms());
        self.emit(Event::PeerDisconnected {
            peer: peer.to_string(),
        });
    }
}
