//! Raw sums of one side of a comparison, pooled over runs, and the figures derived from them.

use knack_percentile::Sorted;
use serde::Serialize;

use super::counters::NodeCounters;
use super::harness::RealRun;

/// Sums over one or more runs of one side.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// (node, message) pairs reached, the publisher excluded.
    pub(crate) delivered: u64,
    /// (node, message) pairs possible: messages × (nodes − 1).
    pub(crate) expected: u64,
    /// messages × nodes (the denominator of per-message-per-node figures).
    pub(crate) message_nodes: u64,
    /// Duplicate receipts.
    pub(crate) duplicates: u64,
    /// Message transmissions (publish, forward, IWANT answers).
    pub(crate) transmissions: u64,
    /// First-receipt latency of every reached pair, ms.
    pub(crate) latencies_ms: Vec<f64>,
    /// Sum and count of first-delivery hop counts (simulator only).
    pub(crate) hops: Option<(u64, u64)>,
    /// Sum and count of mesh sizes at the end.
    pub(crate) mesh: Option<(f64, u64)>,
    /// Message ids asked for with IWANT (real stack only).
    pub(crate) iwant: Option<u64>,
    /// IDONTWANT messages received (real stack only).
    pub(crate) idontwant: Option<u64>,
}

/// First-receipt latency percentiles (nearest rank), publish to first receipt, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples: reached (node, message) pairs.
    pub samples: u64,
    /// Mean.
    pub mean_ms: Option<f64>,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Maximum.
    pub max_ms: Option<f64>,
}

/// The figures of one side (simulator or real stack), over all its runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    /// (node, message) pairs reached, the publisher excluded.
    pub delivered: u64,
    /// (node, message) pairs possible: messages × (nodes − 1).
    pub expected: u64,
    /// Duplicate receipts per message per node (all nodes, the publisher included).
    pub duplicates_per_message_per_node: f64,
    /// Transmissions (full messages sent) per message per node.
    pub transmissions_per_message_per_node: f64,
    /// First-receipt latency.
    pub latency: Percentiles,
    /// Mean hop count of first deliveries (simulator only: the real messages carry none).
    pub mean_hops: Option<f64>,
    /// Mean mesh size at the end of the run.
    pub mean_mesh: Option<f64>,
    /// Message ids asked for with IWANT, per message per node (real stack only).
    pub iwant_per_message_per_node: Option<f64>,
    /// IDONTWANT messages received, per message per node (real stack only).
    pub idontwant_per_message_per_node: Option<f64>,
}

fn add_opt<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, None) => a,
        (None, b) => b,
    }
}

fn add_pair<A: std::ops::Add<Output = A>, B: std::ops::Add<Output = B>>(
    a: Option<(A, B)>,
    b: Option<(A, B)>,
) -> Option<(A, B)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Tally {
    /// The tally of a real run.
    pub(crate) fn of_real(run: &RealRun) -> Tally {
        let messages = run.first_receipt_us.len() as u64;
        let n = run.counters.len() as u64;
        let latencies_ms: Vec<f64> = run
            .first_receipt_us
            .iter()
            .flatten()
            .flatten()
            .map(|&us| us as f64 / 1000.0)
            .collect();
        let sum = |f: fn(&NodeCounters) -> u64| run.counters.iter().map(f).sum::<u64>();
        Tally {
            delivered: latencies_ms.len() as u64,
            expected: messages * n.saturating_sub(1),
            message_nodes: messages * n,
            duplicates: sum(NodeCounters::duplicates),
            transmissions: sum(NodeCounters::transmissions),
            latencies_ms,
            hops: None,
            mesh: Some((run.mesh.iter().sum::<usize>() as f64, run.mesh.len() as u64)),
            iwant: Some(sum(|c| c.iwant)),
            idontwant: Some(sum(|c| c.idontwant)),
        }
    }

    /// Pools `other` into this tally.
    pub(crate) fn merge(&mut self, other: &Tally) {
        self.delivered += other.delivered;
        self.expected += other.expected;
        self.message_nodes += other.message_nodes;
        self.duplicates += other.duplicates;
        self.transmissions += other.transmissions;
        self.latencies_ms.extend_from_slice(&other.latencies_ms);
        self.hops = add_pair(self.hops, other.hops);
        self.mesh = add_pair(self.mesh, other.mesh);
        self.iwant = add_opt(self.iwant, other.iwant);
        self.idontwant = add_opt(self.idontwant, other.idontwant);
    }

    /// The figures.
    pub(crate) fn side(&self) -> Side {
        let per = |x: u64| x as f64 / self.message_nodes.max(1) as f64;
        let v = Sorted::of_f64(self.latencies_ms.clone());
        let mean = (!v.is_empty()).then(|| v.as_slice().iter().sum::<f64>() / v.len() as f64);
        Side {
            delivered: self.delivered,
            expected: self.expected,
            duplicates_per_message_per_node: per(self.duplicates),
            transmissions_per_message_per_node: per(self.transmissions),
            latency: Percentiles {
                samples: v.len() as u64,
                mean_ms: mean,
                p50_ms: v.percentile(50.0),
                p90_ms: v.percentile(90.0),
                p99_ms: v.percentile(99.0),
                max_ms: v.max(),
            },
            mean_hops: self
                .hops
                .filter(|&(_, c)| c > 0)
                .map(|(s, c)| s as f64 / c as f64),
            mean_mesh: self.mesh.filter(|&(_, c)| c > 0).map(|(s, c)| s / c as f64),
            iwant_per_message_per_node: self.iwant.map(per),
            idontwant_per_message_per_node: self.idontwant.map(per),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_tallies_pool_their_sums() {
        let mut a = Tally {
            message_nodes: 10,
            duplicates: 5,
            latencies_ms: vec![1.0],
            mesh: Some((6.0, 2)),
            ..Tally::default()
        };
        let b = Tally {
            message_nodes: 10,
            duplicates: 15,
            latencies_ms: vec![3.0],
            iwant: Some(4),
            ..Tally::default()
        };
        a.merge(&b);
        let s = a.side();
        assert_eq!(s.duplicates_per_message_per_node, 1.0);
        assert_eq!(s.latency.mean_ms, Some(2.0));
        assert_eq!(s.mean_mesh, Some(3.0));
        assert_eq!(s.iwant_per_message_per_node, Some(0.2));
    }
}
