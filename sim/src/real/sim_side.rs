//! The simulator's side of a comparison: run the scenario, then read from the finished
//! simulation what the real stack must reproduce (topology, link latencies, the envelopes and
//! when and where they were published) and what the simulator measured.
//!
//! This is the only file of the comparison that reads the simulator's internals.

use std::time::Duration;

use super::harness::Publish;
use super::tally::Tally;
use crate::error::SimError;
use crate::report::Summary;
use crate::scenario::Scenario;
use crate::sim::Simulation;

/// A finished simulator run, as the comparison needs it.
#[derive(Debug)]
pub(crate) struct SimRun {
    /// Links `(a, b)`, `a < b`.
    pub(crate) edges: Vec<(u32, u32)>,
    /// One-way base latency of every pair, row by row.
    pub(crate) latency: Vec<Vec<Duration>>,
    /// The envelopes, their authors' nodes and times after the first one.
    pub(crate) publishes: Vec<Publish>,
    /// When the first update was authored (µs of virtual time).
    pub(crate) first_us: u64,
    /// What the simulator measured.
    pub(crate) tally: Tally,
}

/// Runs `scenario` (already made comparable) in the simulator.
pub(crate) fn run(scenario: &Scenario) -> Result<SimRun, SimError> {
    let mut sim = Simulation::new(scenario)?;
    sim.run(None)?;
    let summary = Summary::of(&sim);
    let w = &sim.world;
    let n = w.n();
    let edges = (0..n)
        .flat_map(|a| {
            w.topo
                .neighbors(a)
                .iter()
                .filter(move |&&b| b > a)
                .map(move |&b| (a, b))
        })
        .collect();
    let latency = (0..n)
        .map(|a| {
            (0..n)
                .map(|b| Duration::from_micros(w.net.base_latency_us(a, b)))
                .collect()
        })
        .collect();
    let list = &w.updates.list;
    let first_us = list.first().map_or(0, |u| u.created_us);
    let publishes = list
        .iter()
        .map(|u| Publish {
            at: Duration::from_micros(u.created_us - first_us),
            node: u.node,
            data: u.envelope.as_bytes().to_vec(),
        })
        .collect();
    let m = &w.metrics;
    let updates = list.len() as u64;
    // First receipts: the latency histogram (author to apply, 1 ms bins) less the authors'
    // own applications, which are all in the 0 ms bin.
    let mut hist = m.latency_ms.clone();
    if let Some(zero) = hist.first_mut() {
        *zero = zero.saturating_sub(updates);
    }
    let latencies_ms = hist
        .iter()
        .enumerate()
        .flat_map(|(ms, &count)| std::iter::repeat_n(ms as f64, count as usize))
        .collect();
    let tally = Tally {
        delivered: m
            .reach
            .iter()
            .map(|r| u64::from(r.count.saturating_sub(1)))
            .sum(),
        expected: updates * u64::from(n - 1),
        message_nodes: updates * u64::from(n),
        duplicates: summary.counters.duplicates,
        transmissions: summary.counters.transmissions,
        latencies_ms,
        hops: Some((
            m.reach.iter().map(|r| r.hops_sum).sum(),
            m.reach.iter().map(|r| u64::from(r.hops_count)).sum(),
        )),
        mesh: summary
            .mean_mesh
            .map(|mean| (mean * f64::from(n), u64::from(n))),
        iwant: None,
        idontwant: None,
    };
    Ok(SimRun {
        edges,
        latency,
        publishes,
        first_us,
        tally,
    })
}
