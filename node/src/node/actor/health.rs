//! The node's own report of its liveness and readiness (`GET /healthz`, `GET /readyz`).

use super::Actor;
use crate::health::Health;

impl Actor {
    /// What the node knows about its health now (reads one metadata key to check the store).
    pub(super) fn health(&self) -> Health {
        Health {
            store_open: self.store.meta(crate::peer_book::META_KEY).is_ok(),
            write_fault: self.write_fault.clone(),
            spaces: self.spaces.keys().map(ToString::to_string).collect(),
            search_building: self.discovery.building(),
            peers: self.connected.len(),
            bootstrap: self.config.bootstrap.len(),
            peer_book: self.book.len(),
        }
    }
}
