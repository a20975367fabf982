//! Keeping the peer book (`crate::peer_book`): record the peers this node connects to, save
//! the book in the store, and dial it at start and whenever the node is short of peers.

use std::time::{Duration, Instant};

use libp2p::core::ConnectedPoint;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};

use super::{Actor, wall_ms};
use crate::peer_book::{META_KEY, PeerBook};
use crate::store::Store;

/// Most book peers dialed at start.
const DIAL_AT_START: usize = 16;
/// With fewer connected peers than this, unconnected book peers are dialed again...
const MIN_PEERS: usize = 3;
/// ...this many at a time...
const DIAL_BATCH: usize = 8;
/// ...at most this often.
const BOOK_REDIAL_EVERY: Duration = Duration::from_secs(10);
/// A changed book is saved at most this often (and at a clean stop).
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// Connected peers' last-seen times are refreshed this often (so long connections never age
/// out).
const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// The peer book and when it was last saved, dialed and refreshed.
pub(crate) struct BookKeeper {
    book: PeerBook,
    dirty: bool,
    last_save: Instant,
    last_dial: Instant,
    last_refresh: Instant,
}

impl BookKeeper {
    /// The book stored in `store` (aged), or an empty one when there is none or it does not
    /// decode (it is only a hint: the node still works without it).
    pub(crate) fn load(store: &dyn Store) -> BookKeeper {
        let mut book = match store.meta(META_KEY) {
            Ok(Some(bytes)) => PeerBook::decode(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "peer book ignored");
                PeerBook::default()
            }),
            Ok(None) => PeerBook::default(),
            Err(e) => {
                tracing::warn!(error = %e, "peer book not read");
                PeerBook::default()
            }
        };
        let aged = book.age_out(wall_ms());
        let now = Instant::now();
        BookKeeper {
            book,
            dirty: aged > 0,
            last_save: now,
            last_dial: now,
            last_refresh: now,
        }
    }

    /// Peers in the book.
    pub(crate) fn len(&self) -> usize {
        self.book.len()
    }
}

impl Actor {
    /// Dials the most recently seen peers of the book (at start, next to the bootstrap list).
    pub(super) fn peer_book_dial_at_start(&mut self) {
        let targets = self.book.book.dial_targets(DIAL_AT_START, |_| false);
        if !targets.is_empty() {
            tracing::info!(peers = targets.len(), "dialing peers from the peer book");
        }
        self.peer_book_dial(targets);
        self.metrics.peer_book.set(self.book.len() as i64);
    }

    /// A connection was established: a dialed address is worth keeping.
    pub(super) fn peer_book_connected(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        // A listener only sees the dialer's ephemeral port; identify tells its listen addresses.
        let addrs: Vec<&Multiaddr> = match endpoint {
            ConnectedPoint::Dialer { address, .. } => vec![address],
            ConnectedPoint::Listener { .. } => Vec::new(),
        };
        if self.book.book.record(peer, addrs, wall_ms()) {
            self.book.dirty = true;
        }
    }

    /// Identify told a peer's listen addresses.
    pub(super) fn peer_book_identified(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if self.book.book.record(peer, addrs, wall_ms()) {
            self.book.dirty = true;
        }
    }

    /// `peer` was seen at `now_ms` (it just left).
    pub(super) fn peer_book_seen(&mut self, peer: PeerId, now_ms: u64) {
        self.book.dirty |= self.book.book.record(peer, [], now_ms);
    }

    /// Saves a changed book, refreshes connected peers, and redials when short of peers.
    pub(super) fn peer_book_on_tick(&mut self) {
        if self.book.last_refresh.elapsed() >= REFRESH_EVERY {
            self.book.last_refresh = Instant::now();
            let now = wall_ms();
            for peer in self.connected.keys() {
                self.book.dirty |= self.book.book.record(*peer, [], now);
            }
            self.book.dirty |= self.book.book.age_out(now) > 0;
        }
        if self.book.dirty && self.book.last_save.elapsed() >= SAVE_EVERY {
            self.peer_book_save();
        }
        if self.connected.len() < MIN_PEERS && self.book.last_dial.elapsed() >= BOOK_REDIAL_EVERY {
            self.book.last_dial = Instant::now();
            let connected = &self.connected;
            let targets = self
                .book
                .book
                .dial_targets(DIAL_BATCH, |p| connected.contains_key(p));
            self.peer_book_dial(targets);
        }
    }

    /// Writes the book to the store and flushes it (a node killed right after joining still
    /// finds its peers at the next start).
    pub(super) fn peer_book_save(&mut self) {
        self.book.last_save = Instant::now();
        let saved = self
            .store
            .put_meta(META_KEY, &self.book.book.encode())
            .and_then(|()| self.store.flush());
        match saved {
            Ok(()) => {
                self.book.dirty = false;
                self.metrics.peer_book.set(self.book.len() as i64);
            }
            Err(e) => tracing::warn!(error = %e, "peer book not saved"),
        }
    }

    fn peer_book_dial(&mut self, targets: Vec<(PeerId, Vec<Multiaddr>)>) {
        for (peer, addrs) in targets {
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "peer book dial failed");
            }
        }
    }
}
