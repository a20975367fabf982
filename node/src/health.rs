//! Liveness and readiness of a node (`GET /healthz`, `GET /readyz`): what an orchestrator
//! needs to restart a broken node and to route to a ready one.

use serde::{Deserialize, Serialize};

/// What the node's actor reports about itself; [`Health::live_problems`] and
/// [`Health::ready_problems`] judge it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Whether the store answered a read just now.
    pub store_open: bool,
    /// Why the node refuses writes until restarted, if it does (a failed append or flush).
    pub write_fault: Option<String>,
    /// The joined spaces (all restored from the store before the node serves).
    pub spaces: Vec<String>,
    /// Spaces whose search index is still being built after the start.
    pub search_building: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Bootstrap addresses configured.
    pub bootstrap: usize,
    /// Peers in the peer book (known from earlier connections, redialed at start).
    pub peer_book: usize,
}

impl Health {
    /// Why the node is not healthy (empty: healthy): its store is unreadable, or it refuses
    /// writes until restarted. A restart is the cure for both.
    pub fn live_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.store_open {
            problems.push("the store does not answer".to_owned());
        }
        if let Some(fault) = &self.write_fault {
            problems.push(fault.clone());
        }
        problems
    }

    /// Why the node is not ready (empty: ready): not healthy, a search index still building,
    /// or no peer connected although bootstrap peers are configured.
    pub fn ready_problems(&self) -> Vec<String> {
        let mut problems = self.live_problems();
        if self.spaces.is_empty() {
            problems.push("no space loaded".to_owned());
        }
        if !self.search_building.is_empty() {
            problems.push(format!(
                "search index still building for {}",
                self.search_building.join(", ")
            ));
        }
        if self.bootstrap > 0 && self.peers == 0 {
            problems.push(format!(
                "no peer connected ({} bootstrap address(es) configured)",
                self.bootstrap
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Health {
        Health {
            store_open: true,
            write_fault: None,
            spaces: vec!["default".into()],
            search_building: Vec::new(),
            peers: 1,
            bootstrap: 1,
            peer_book: 0,
        }
    }

    #[test]
    fn a_healthy_connected_node_is_ready() {
        assert!(ready().live_problems().is_empty());
        assert!(ready().ready_problems().is_empty());
    }

    #[test]
    fn a_lone_node_without_bootstrap_is_ready() {
        let lone = Health {
            peers: 0,
            bootstrap: 0,
            ..ready()
        };
        assert!(lone.ready_problems().is_empty());
    }

    #[test]
    fn each_cause_is_reported() {
        let no_peer = Health {
            peers: 0,
            ..ready()
        };
        assert!(no_peer.live_problems().is_empty());
        assert!(no_peer.ready_problems()[0].contains("no peer connected"));

        let building = Health {
            search_building: vec!["ops".into()],
            ..ready()
        };
        assert!(building.ready_problems()[0].contains("search index still building for ops"));

        let faulty = Health {
            write_fault: Some("flush failed".into()),
            ..ready()
        };
        assert_eq!(faulty.live_problems(), ["flush failed"]);
        assert_eq!(faulty.ready_problems(), ["flush failed"]);

        let closed = Health {
            store_open: false,
            ..ready()
        };
        assert_eq!(closed.live_problems().len(), 1);
    }
}
