//! The summary of a run: everything in it is a pure function of the scenario, the seed and the
//! build, so two runs compare byte for byte (machine figures go in `output::RunInfo`).

use serde::Serialize;

use crate::adversary::Adversaries;
use crate::convergence::{Final, Heal};
use crate::metrics::{Counters, Metrics};
use crate::network::US_PER_MS;
use crate::scenario::{Model, Scenario};
use crate::sim::Simulation;

/// Reach times of one update.
#[derive(Clone, Debug, Serialize)]
pub struct UpdateReach {
    /// Index.
    pub update: u32,
    /// Authoring node.
    pub author_node: u32,
    /// When it was authored (ms).
    pub created_ms: f64,
    /// Envelope size on the wire (bytes).
    pub envelope_bytes: u32,
    /// Honest agents that applied it.
    pub reached: u32,
    /// Time from authoring to 50 / 90 / 99 / 100 % of honest agents (ms).
    pub t50_ms: Option<f64>,
    /// 90 %.
    pub t90_ms: Option<f64>,
    /// 99 %.
    pub t99_ms: Option<f64>,
    /// 100 %.
    pub t100_ms: Option<f64>,
    /// Rounds to reach everyone (push and push-pull).
    pub rounds: Option<u64>,
    /// Mean hops of first deliveries by gossip.
    pub mean_hops: Option<f64>,
}

/// Mean, median and maximum of a figure over updates (those where it is defined).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stat {
    /// Updates where it is defined.
    pub n: usize,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
}

/// Traffic figures.
#[derive(Clone, Debug, Serialize)]
pub struct Traffic {
    /// Messages per node, payload.
    pub payload_msgs_per_node: f64,
    /// Messages per node, control.
    pub control_msgs_per_node: f64,
    /// Bytes per node, payload (envelopes).
    pub payload_bytes_per_node: f64,
    /// Bytes per node, control (framing, ids, version vectors, mesh management).
    pub control_bytes_per_node: f64,
    /// Most bytes sent by one node.
    pub max_bytes_one_node: u64,
    /// Gossip transmissions (publish messages) per update per honest agent.
    pub transmissions_per_update_per_node: f64,
    /// Duplicate gossip receptions per update per honest agent.
    pub duplicates_per_update_per_node: f64,
}

/// Delivery latency percentiles (author to apply, every honest agent and update), ms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: Option<u64>,
    /// 90th percentile.
    pub p90_ms: Option<u64>,
    /// 99th percentile.
    pub p99_ms: Option<u64>,
    /// Maximum.
    pub max_ms: Option<u64>,
}

/// Memory figures that do not depend on the machine (estimates of the simulator's own
/// structures; the measured peak is in the `run` object).
#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    /// Bytes of the topology.
    pub topology_bytes: usize,
    /// Bytes of the gossip model's per-node state.
    pub gossip_bytes: usize,
    /// Bytes of the anti-entropy engines (estimate).
    pub sync_bytes: usize,
    /// Bytes of the agents' bookkeeping outside their spaces.
    pub agents_bytes: usize,
    /// Bytes of the envelopes in the shared update table.
    pub envelope_bytes: usize,
    /// Bytes of the metrics.
    pub metrics_bytes: usize,
}

/// The deterministic summary of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The effective scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// Agents.
    pub nodes: u32,
    /// Honest agents (the 100 % of reach).
    pub honest: u32,
    /// Mean degree of the topology.
    pub mean_degree: f64,
    /// Mean gossipsub mesh size at the end.
    pub mean_mesh: Option<f64>,
    /// Virtual time at the end of the run (ms).
    pub end_ms: f64,
    /// Whether the run stopped at full reach.
    pub stopped_at_full_reach: bool,
    /// Events processed.
    pub events: u64,
    /// Updates authored.
    pub updates: u32,
    /// Reach time to 50 % of honest agents, over updates (ms).
    pub t50_ms: Stat,
    /// To 90 %.
    pub t90_ms: Stat,
    /// To 99 %.
    pub t99_ms: Stat,
    /// To 100 %.
    pub t100_ms: Stat,
    /// Rounds to reach everyone (push, push-pull).
    pub rounds: Stat,
    /// Mean hop count of first gossip deliveries, over updates.
    pub hops: Stat,
    /// Delivery latency.
    pub latency: Latency,
    /// Traffic.
    pub traffic: Traffic,
    /// Raw counters.
    pub counters: Counters,
    /// Convergence after each heal.
    pub heals: Vec<Heal>,
    /// Final convergence.
    pub convergence: Final,
    /// Adversaries and their effect.
    pub adversaries: AdversaryEffect,
    /// Memory estimates.
    pub memory: Memory,
    /// Per update.
    pub per_update: Vec<UpdateReach>,
}

/// Adversaries and what they did.
#[derive(Clone, Debug, Serialize)]
pub struct AdversaryEffect {
    /// Who.
    pub roles: Adversaries,
    /// Invalid envelopes received by honest and other nodes (all rejected, none forwarded).
    pub invalid_received: u64,
    /// Of those checked by the real verifier, rejected.
    pub invalid_verified_rejected: u64,
    /// Updates the eclipsed node applied (of all).
    pub victim_applied: Option<u32>,
}

fn stat(mut v: Vec<f64>) -> Stat {
    if v.is_empty() {
        return Stat::default();
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Stat {
        n,
        mean: Some(v.iter().sum::<f64>() / n as f64),
        median: Some(v[n / 2]),
        max: v.last().copied(),
    }
}

/// The `p`-th percentile of a latency histogram (1 ms bins), in ms.
fn percentile(hist: &[u64], p: f64) -> Option<u64> {
    knack_percentile::percentile_of_histogram(hist, p).map(|ms| ms as u64)
}

impl Summary {
    /// Summarises a finished simulation.
    pub fn of(sim: &Simulation) -> Summary {
        let w = &sim.world;
        let m: &Metrics = &w.metrics;
        let cfg = &w.cfg;
        let ms = |us: u64| us as f64 / US_PER_MS as f64;
        let round_us = cfg.gossip.round_ms * US_PER_MS;
        let rounds_model = matches!(cfg.gossip.model, Model::Push | Model::PushPull);
        let per_update: Vec<UpdateReach> = w
            .updates
            .list
            .iter()
            .zip(&m.reach)
            .enumerate()
            .map(|(i, (u, r))| {
                let after = |at: Option<u64>| at.map(|t| ms(t - u.created_us));
                let rounds = r.at[3].filter(|_| rounds_model).map(|t| {
                    // The first round after authoring pushes it (round ticks at k * round).
                    let first = (u.created_us / round_us + 1) * round_us;
                    (t.saturating_sub(first)) / round_us + 1
                });
                UpdateReach {
                    update: i as u32,
                    author_node: u.node,
                    created_ms: ms(u.created_us),
                    envelope_bytes: u.envelope.encoded_len() as u32,
                    reached: r.count,
                    t50_ms: after(r.at[0]),
                    t90_ms: after(r.at[1]),
                    t99_ms: after(r.at[2]),
                    t100_ms: after(r.at[3]),
                    rounds,
                    mean_hops: (r.hops_count > 0)
                        .then(|| r.hops_sum as f64 / f64::from(r.hops_count)),
                }
            })
            .collect();
        let collect = |f: fn(&UpdateReach) -> Option<f64>| -> Stat {
            stat(per_update.iter().filter_map(f).collect())
        };
        let n = f64::from(w.n());
        let honest = f64::from(m.honest.max(1));
        let updates = w.updates.list.len() as u32;
        let per = (f64::from(updates) * honest).max(1.0);
        let c = m.counters;
        Summary {
            scenario: cfg.clone(),
            seed: cfg.seed,
            nodes: w.n(),
            honest: m.honest,
            mean_degree: w.topo.mean_degree(),
            mean_mesh: sim.model.mean_mesh(),
            end_ms: ms(w.now()),
            stopped_at_full_reach: sim.stopped_early(),
            events: sim.events(),
            updates,
            t50_ms: collect(|u| u.t50_ms),
            t90_ms: collect(|u| u.t90_ms),
            t99_ms: collect(|u| u.t99_ms),
            t100_ms: collect(|u| u.t100_ms),
            rounds: collect(|u| u.rounds.map(|r| r as f64)),
            hops: collect(|u| u.mean_hops),
            latency: Latency {
                p50_ms: percentile(&m.latency_ms, 50.0),
                p90_ms: percentile(&m.latency_ms, 90.0),
                p99_ms: percentile(&m.latency_ms, 99.0),
                max_ms: percentile(&m.latency_ms, 100.0),
            },
            traffic: Traffic {
                payload_msgs_per_node: c.payload_msgs as f64 / n,
                control_msgs_per_node: c.control_msgs as f64 / n,
                payload_bytes_per_node: c.payload_bytes as f64 / n,
                control_bytes_per_node: c.control_bytes as f64 / n,
                max_bytes_one_node: m.sent_bytes.iter().copied().max().unwrap_or(0),
                transmissions_per_update_per_node: c.transmissions as f64 / per,
                duplicates_per_update_per_node: c.duplicates as f64 / per,
            },
            counters: c,
            heals: sim.convergence.heals.clone(),
            convergence: sim.convergence.final_.clone(),
            adversaries: AdversaryEffect {
                roles: sim.adversaries.clone(),
                invalid_received: c.invalid_received,
                invalid_verified_rejected: c.invalid_verified,
                victim_applied: sim.adversaries.victim.map(|v| w.agents[v as usize].applied),
            },
            memory: Memory {
                topology_bytes: w.topo.heap_bytes(),
                gossip_bytes: sim.model.heap_bytes(),
                sync_bytes: sim.sync.heap_bytes(),
                agents_bytes: w.ledger.heap_bytes()
                    + w.agents.len() * std::mem::size_of::<crate::agent::Agent>()
                    + w.replicas.held() * std::mem::size_of::<knack_crdt::Space>(),
                envelope_bytes: w
                    .updates
                    .list
                    .iter()
                    .map(|u| u.envelope.encoded_len())
                    .sum(),
                metrics_bytes: m.heap_bytes(),
            },
            per_update,
        }
    }
}
