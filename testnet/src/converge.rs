//! Convergence: every node shows the same digest and op count of the `default` space.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{NodeClient, NodeStatus};

/// How often convergence is polled.
pub const POLL: Duration = Duration::from_millis(100);

/// One node's view at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// The node.
    pub name: String,
    /// Connected peers.
    pub peers: usize,
    /// Ops in the default space.
    pub ops: u64,
    /// Procedures in the default space.
    pub procedures: usize,
    /// The default space's digest.
    pub digest: String,
    /// The error, when the node did not answer.
    pub error: Option<String>,
}

impl NodeView {
    fn of(name: &str, status: crate::error::Result<NodeStatus>) -> NodeView {
        match status {
            Ok(status) => {
                let space = status.default_space();
                NodeView {
                    name: name.to_owned(),
                    peers: status.peers.len(),
                    ops: space.map_or(0, |s| s.ops),
                    procedures: space.map_or(0, |s| s.procedures),
                    digest: space.map(|s| s.digest.clone()).unwrap_or_default(),
                    error: None,
                }
            }
            Err(e) => NodeView {
                name: name.to_owned(),
                peers: 0,
                ops: 0,
                procedures: 0,
                digest: String::new(),
                error: Some(e.to_string()),
            },
        }
    }
}

/// The views of every client's node, asked all at once (one thread per node: with tens of
/// nodes on a busy machine, asking one after the other took longer than converging).
pub fn snapshot(clients: &[NodeClient]) -> Vec<NodeView> {
    std::thread::scope(|scope| {
        let asks: Vec<_> = clients
            .iter()
            .map(|c| scope.spawn(move || NodeView::of(c.name(), c.status())))
            .collect();
        asks.into_iter()
            .zip(clients)
            .map(|(ask, c)| {
                ask.join().unwrap_or_else(|_| {
                    NodeView::of(
                        c.name(),
                        Err(crate::error::TestnetError::api(
                            c.name(),
                            "status thread panicked",
                        )),
                    )
                })
            })
            .collect()
    })
}

/// Whether the views agree: every node answered, same digest, same op count.
pub fn converged(views: &[NodeView]) -> bool {
    let Some(first) = views.first() else {
        return true;
    };
    views.iter().all(|v| {
        v.error.is_none() && !v.digest.is_empty() && v.digest == first.digest && v.ops == first.ops
    })
}

/// Polls until the nodes converge (returns how long it took) or `timeout` passes (returns
/// the last views).
pub fn wait(clients: &[NodeClient], timeout: Duration) -> Result<Duration, Vec<NodeView>> {
    let started = Instant::now();
    loop {
        let views = snapshot(clients);
        if converged(&views) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            return Err(views);
        }
        std::thread::sleep(POLL);
    }
}

/// A table of views, one line per node.
pub fn table(views: &[NodeView]) -> String {
    let mut out = format!(
        "{:<6} {:>5} {:>8} {:>6}  {}\n",
        "node", "peers", "ops", "procs", "digest"
    );
    for v in views {
        match &v.error {
            Some(e) => out.push_str(&format!("{:<6} down: {e}\n", v.name)),
            None => out.push_str(&format!(
                "{:<6} {:>5} {:>8} {:>6}  {}\n",
                v.name,
                v.peers,
                v.ops,
                v.procedures,
                &v.digest[..v.digest.len().min(16)]
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, ops: u64, digest: &str) -> NodeView {
        NodeView {
            name: name.into(),
            peers: 1,
            ops,
            procedures: 1,
            digest: digest.into(),
            error: None,
        }
    }

    #[test]
    fn converged_needs_equal_digests_and_ops() {
        assert!(converged(&[view("a", 3, "d"), view("b", 3, "d")]));
        assert!(!converged(&[view("a", 3, "d"), view("b", 2, "d")]));
        assert!(!converged(&[view("a", 3, "d"), view("b", 3, "e")]));
        let mut down = view("b", 3, "d");
        down.error = Some("x".into());
        assert!(!converged(&[view("a", 3, "d"), down]));
    }
}
