//! The peer book: the addresses of peers this node has been connected to, kept in the store
//! (metadata key [`META_KEY`]) so that a node restarted without `--bootstrap` redials them
//! and rejoins the mesh.
//!
//! Bounded: at most [`MAX_PEERS`] peers (the least recently seen go first) and
//! [`MAX_ADDRS_PER_PEER`] addresses each (the most recently learned first); a peer not seen for
//! [`MAX_AGE_MS`] is aged out. Pure bookkeeping: the actor decides when to record, save and
//! dial (`node/src/node/actor/peer_book.rs`).

use std::collections::BTreeMap;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The store's metadata key of the peer book.
pub const META_KEY: &str = "peer_book";
/// Most peers kept.
pub const MAX_PEERS: usize = 256;
/// Most addresses kept per peer.
pub const MAX_ADDRS_PER_PEER: usize = 8;
/// A peer not seen for this long (7 days) is forgotten.
pub const MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;

/// A stored peer book that does not decode.
#[derive(Debug, Error)]
#[error("peer book does not decode: {0}")]
pub struct PeerBookError(String);

/// One known peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// Dialable addresses (without `/p2p/...`), most recently learned first.
    addrs: Vec<String>,
    /// Wall-clock milliseconds when it was last connected.
    last_seen_ms: u64,
}

/// Known peers by peer id (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerBook {
    peers: BTreeMap<String, Entry>,
}

impl PeerBook {
    /// Decodes a stored peer book.
    pub fn decode(bytes: &[u8]) -> Result<PeerBook, PeerBookError> {
        serde_json::from_slice(bytes).map_err(|e| PeerBookError(e.to_string()))
    }

    /// The bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        // A map of strings always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Peers known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Records that `peer` was seen at `now_ms` reachable at `addrs` (any `/p2p/...` suffix is
    /// dropped; unspecified addresses such as `0.0.0.0` are not dialable and are skipped).
    /// Returns whether the book changed.
    pub fn record<'a>(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = &'a Multiaddr>,
        now_ms: u64,
    ) -> bool {
        let key = peer.to_string();
        let before = self.peers.get(&key).cloned();
        let entry = self.peers.entry(key.clone()).or_default();
        for addr in addrs {
            let Some(addr) = dialable(addr) else {
                continue;
            };
            let addr = addr.to_string();
            entry.addrs.retain(|a| *a != addr);
            entry.addrs.insert(0, addr);
        }
        entry.addrs.truncate(MAX_ADDRS_PER_PEER);
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        if entry.addrs.is_empty() {
            // Nothing to dial it by (yet): not worth a slot.
            self.peers.remove(&key);
        }
        self.evict_over_bound();
        self.peers.get(&key) != before.as_ref()
    }

    /// Forgets peers not seen since `now_ms - MAX_AGE_MS`. Returns how many.
    pub fn age_out(&mut self, now_ms: u64) -> usize {
        let before = self.peers.len();
        let oldest = now_ms.saturating_sub(MAX_AGE_MS);
        self.peers.retain(|_, e| e.last_seen_ms >= oldest);
        before - self.peers.len()
    }

    /// At most `n` peers to dial, most recently seen first, skipping those `skip` rejects
    /// (the connected ones), each with its addresses.
    pub fn dial_targets(
        &self,
        n: usize,
        skip: impl Fn(&PeerId) -> bool,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut known: Vec<(PeerId, &Entry)> = self
            .peers
            .iter()
            .filter_map(|(id, e)| Some((id.parse::<PeerId>().ok()?, e)))
            .filter(|(id, _)| !skip(id))
            .collect();
        known.sort_by_key(|(_, e)| std::cmp::Reverse(e.last_seen_ms));
        known
            .into_iter()
            .take(n)
            .map(|(id, e)| (id, e.addrs.iter().filter_map(|a| a.parse().ok()).collect()))
            .collect()
    }

    /// Drops the least recently seen peers beyond [`MAX_PEERS`].
    fn evict_over_bound(&mut self) {
        while self.peers.len() > MAX_PEERS {
            let oldest = self
                .peers
                .iter()
                .min_by_key(|(_, e)| e.last_seen_ms)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.peers.remove(&id),
                None => break,
            };
        }
    }
}

/// `addr` without its `/p2p/...` suffix, if it can be dialed (not an unspecified IP, not an
/// in-memory or circuit address).
fn dialable(addr: &Multiaddr) -> Option<Multiaddr> {
    let mut out = Multiaddr::empty();
    for protocol in addr {
        match protocol {
            Protocol::P2p(_) => break,
            Protocol::Ip4(ip) if ip.is_unspecified() => return None,
            Protocol::Ip6(ip) if ip.is_unspecified() => return None,
            Protocol::Memory(_) | Protocol::P2pCircuit => return None,
            other => out.push(other),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn records_round_trip_and_order_by_recency() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut book = PeerBook::default();
        assert!(book.record(a, [&addr(1)], 10));
        assert!(book.record(b, [&addr(2)], 20));
        assert!(!book.record(b, [&addr(2)], 20), "nothing new");
        let with_id: Multiaddr = format!("/ip4/127.0.0.1/tcp/3/p2p/{a}").parse().unwrap();
        assert!(book.record(a, [&with_id], 30));
        let book = PeerBook::decode(&book.encode()).unwrap();
        let targets = book.dial_targets(10, |_| false);
        assert_eq!(targets[0], (a, vec![addr(3), addr(1)]));
        assert_eq!(targets[1], (b, vec![addr(2)]));
        assert_eq!(book.dial_targets(10, |p| *p == a), vec![(b, vec![addr(2)])]);
        assert_eq!(book.dial_targets(1, |_| false).len(), 1);
    }

    #[test]
    fn undialable_addresses_are_not_kept() {
        let mut book = PeerBook::default();
        let unspecified: Multiaddr = "/ip4/0.0.0.0/tcp/7300".parse().unwrap();
        assert!(!book.record(PeerId::random(), [&unspecified], 1));
        assert!(book.is_empty());
    }

    #[test]
    fn bounded_in_peers_and_addresses() {
        let mut book = PeerBook::default();
        let first = PeerId::random();
        book.record(first, (0..20).map(addr).collect::<Vec<_>>().iter(), 0);
        assert_eq!(
            book.dial_targets(1, |_| false)[0].1.len(),
            MAX_ADDRS_PER_PEER
        );
        for i in 0..MAX_PEERS as u64 + 10 {
            book.record(PeerId::random(), [&addr(7300)], 1 + i);
        }
        assert_eq!(book.len(), MAX_PEERS);
        assert!(
            book.dial_targets(MAX_PEERS, |_| false)
                .iter()
                .all(|(p, _)| *p != first),
            "the least recently seen peer went first"
        );
    }

    #[test]
    fn stale_peers_age_out() {
        let mut book = PeerBook::default();
        let (old, fresh) = (PeerId::random(), PeerId::random());
        book.record(old, [&addr(1)], 1_000);
        book.record(fresh, [&addr(2)], MAX_AGE_MS + 5_000);
        assert_eq!(book.age_out(MAX_AGE_MS + 2_000), 1);
        assert_eq!(book.dial_targets(10, |_| false)[0].0, fresh);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(PeerBook::decode(b"not json").is_err());
    }
}
