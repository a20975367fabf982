//! The comparison: one scenario in the simulator and on real swarms, figure by figure.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::RealError;
use super::harness::{self, Plan};
use super::sim_side;
use super::tally::{Side, Tally};
use crate::scenario::{Model, Scenario};

/// Most nodes the real side runs (every node is a full swarm in one process).
pub const MAX_NODES: u32 = 200;

/// Differences, real stack minus simulator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    /// Delivered pairs.
    pub delivered: i64,
    /// Duplicates per message per node.
    pub duplicates_per_message_per_node: f64,
    /// Real / simulator duplicates (`None` if the simulator had none).
    pub duplicates_ratio: Option<f64>,
    /// Transmissions per message per node.
    pub transmissions_per_message_per_node: f64,
    /// Real / simulator transmissions.
    pub transmissions_ratio: Option<f64>,
    /// Mean first-receipt latency, ms.
    pub mean_ms: Option<f64>,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Maximum, ms.
    pub max_ms: Option<f64>,
    /// Mean mesh size.
    pub mean_mesh: Option<f64>,
}

/// Both sides of one seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunComparison {
    /// The seed (topology, latencies, workload, keys, heartbeat phases).
    pub seed: u64,
    /// The simulator.
    pub sim: Side,
    /// The real stack.
    pub real: Side,
}

/// A scenario run in the simulator and on real libp2p gossipsub swarms, pooled over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The scenario's name.
    pub name: String,
    /// Nodes.
    pub nodes: u32,
    /// Messages per run.
    pub messages: u32,
    /// Seeds run (one run per seed on each side).
    pub seeds: Vec<u64>,
    /// The scenario as run (first seed), after the comparison's overrides.
    pub scenario: Scenario,
    /// The simulator, pooled over runs.
    pub sim: Side,
    /// The real stack, pooled over runs.
    pub real: Side,
    /// Real minus simulator.
    pub diff: Diff,
    /// Per seed.
    pub runs: Vec<RunComparison>,
    /// Wall time of the real side, all runs (machine-dependent).
    pub real_wall_s: f64,
}

/// The scenario as the comparison runs it, or why it cannot.
///
/// Refused (the real side has no loss, jitter, bandwidth limit, partition, churn or
/// adversary, and only gossipsub is compared): `gossip.model` other than gossipsub,
/// `network.loss`, `network.jitter_ms`, `network.upload_bytes_per_s`,
/// `network.download_bytes_per_s`, `network.partitions`, `network.churn.fraction`,
/// `adversary.*`, and more than [`MAX_NODES`] nodes. Overridden: `anti_entropy.interval_ms = 0`
/// (anti-entropy is knack's own protocol, not gossipsub: it would hide what gossip misses) and
/// `stop_at_full_reach = false` (duplicates in flight at full reach still count).
/// Any latency model works: both ends of a real link learn each other's node index and delay
/// by the simulator's base latency of the pair.
pub fn comparable(scenario: &Scenario) -> Result<Scenario, RealError> {
    let refuse = |field: &'static str, reason: &str| {
        Err(RealError::Unsupported {
            field,
            reason: reason.into(),
        })
    };
    let net = &scenario.network;
    let adv = &scenario.adversary;
    if scenario.gossip.model != Model::Gossipsub {
        return refuse("gossip.model", "only gossipsub runs on the real stack");
    }
    if scenario.nodes > MAX_NODES {
        return refuse("nodes", &format!("at most {MAX_NODES} real swarms"));
    }
    if net.loss > 0.0 {
        return refuse("network.loss", "must be 0 (the real links lose nothing)");
    }
    if net.jitter_ms > 0.0 {
        return refuse("network.jitter_ms", "must be 0 (the real links add none)");
    }
    if net.upload_bytes_per_s > 0 || net.download_bytes_per_s > 0 {
        return refuse(
            "network.upload_bytes_per_s",
            "bandwidth must be unlimited (0) up and down",
        );
    }
    if !net.partitions.is_empty() {
        return refuse("network.partitions", "must be empty");
    }
    if net.churn.fraction > 0.0 {
        return refuse("network.churn.fraction", "must be 0");
    }
    if adv.droppers > 0.0 || adv.flooders > 0.0 || adv.eclipse_attackers > 0 {
        return refuse("adversary", "no droppers, flooders or eclipse");
    }
    let mut s = scenario.clone();
    s.anti_entropy.interval_ms = 0;
    s.stop_at_full_reach = false;
    s.validate()?;
    Ok(s)
}

/// Runs `scenario` once (its seed) in the simulator and on real swarms.
pub fn compare(scenario: &Scenario) -> Result<Comparison, RealError> {
    compare_repeated(scenario, 1)
}

/// Runs `scenario` with seeds `seed, seed + 1, ...` (`repeats` of them, at least one) in the
/// simulator and on real swarms, and pools the figures of all runs.
pub fn compare_repeated(scenario: &Scenario, repeats: u32) -> Result<Comparison, RealError> {
    let base = comparable(scenario)?;
    let mut sim_all = Tally::default();
    let mut real_all = Tally::default();
    let mut runs = Vec::new();
    let mut seeds = Vec::new();
    let mut messages = 0;
    let mut real_wall = Duration::ZERO;
    for i in 0..repeats.max(1) {
        let mut s = base.clone();
        s.seed = base.seed.wrapping_add(u64::from(i));
        let sim = sim_side::run(&s)?;
        messages = sim.publishes.len() as u32;
        let plan = plan(&s, &sim);
        let t = Instant::now();
        let real = Tally::of_real(&harness::run(&plan)?);
        real_wall += t.elapsed();
        runs.push(RunComparison {
            seed: s.seed,
            sim: sim.tally.side(),
            real: real.side(),
        });
        seeds.push(s.seed);
        sim_all.merge(&sim.tally);
        real_all.merge(&real);
    }
    let sim = sim_all.side();
    let real = real_all.side();
    Ok(Comparison {
        name: base.name.clone(),
        nodes: base.nodes,
        messages,
        seeds,
        diff: diff(&sim, &real),
        scenario: base,
        sim,
        real,
        runs,
        real_wall_s: real_wall.as_secs_f64(),
    })
}

/// The real side's plan for a finished simulator run of `s`.
fn plan(s: &Scenario, sim: &sim_side::SimRun) -> Plan {
    let max_latency = sim
        .latency
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or_default();
    let heartbeat = Duration::from_millis(s.gossip.heartbeat_ms);
    // The simulator stops at duration_ms: the real side waits as long after the first publish.
    let window = (s.duration_ms * 1000).saturating_sub(sim.first_us);
    Plan {
        nodes: s.nodes,
        seed: s.seed,
        edges: sim.edges.clone(),
        latency: sim.latency.clone(),
        gossip: s.gossip.clone(),
        warmup: Duration::from_micros(sim.first_us),
        publishes: sim.publishes.clone(),
        deadline: Duration::from_micros(window).max(Duration::from_secs(1)),
        drain: (heartbeat * 3)
            .max(max_latency * 10)
            .max(Duration::from_millis(300)),
    }
}

fn diff(sim: &Side, real: &Side) -> Diff {
    let sub = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    Diff {
        delivered: real.delivered as i64 - sim.delivered as i64,
        duplicates_per_message_per_node: real.duplicates_per_message_per_node
            - sim.duplicates_per_message_per_node,
        duplicates_ratio: ratio(
            real.duplicates_per_message_per_node,
            sim.duplicates_per_message_per_node,
        ),
        transmissions_per_message_per_node: real.transmissions_per_message_per_node
            - sim.transmissions_per_message_per_node,
        transmissions_ratio: ratio(
            real.transmissions_per_message_per_node,
            sim.transmissions_per_message_per_node,
        ),
        mean_ms: sub(real.latency.mean_ms, sim.latency.mean_ms),
        p50_ms: sub(real.latency.p50_ms, sim.latency.p50_ms),
        p90_ms: sub(real.latency.p90_ms, sim.latency.p90_ms),
        p99_ms: sub(real.latency.p99_ms, sim.latency.p99_ms),
        max_ms: sub(real.latency.max_ms, sim.latency.max_ms),
        mean_mesh: sub(real.mean_mesh, sim.mean_mesh),
    }
}

/// A markdown table of comparisons: per node count, a row for the simulator, one for the
/// real stack and one for the difference.
pub fn markdown(comparisons: &[Comparison]) -> String {
    let f = |x: Option<f64>, p: usize| x.map_or("–".into(), |v| format!("{v:.p$}"));
    let mut out = String::from(
        "| nodes | runs × msgs | side | delivered / expected | dup / msg / node | \
         tx / msg / node | mean | p50 | p90 | p99 | max (ms) | mean hops | mean mesh | \
         IWANT ids / msg / node | IDONTWANT / msg / node |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in comparisons {
        let lead = format!("{} | {} × {}", c.nodes, c.seeds.len(), c.messages);
        for (label, s) in [("sim", &c.sim), ("real", &c.real)] {
            let l = &s.latency;
            out.push_str(&format!(
                "| {lead} | {label} | {} / {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} \
                 | {} | {} |\n",
                s.delivered,
                s.expected,
                s.duplicates_per_message_per_node,
                s.transmissions_per_message_per_node,
                f(l.mean_ms, 1),
                f(l.p50_ms, 1),
                f(l.p90_ms, 1),
                f(l.p99_ms, 1),
                f(l.max_ms, 1),
                f(s.mean_hops, 2),
                f(s.mean_mesh, 2),
                f(s.iwant_per_message_per_node, 2),
                f(s.idontwant_per_message_per_node, 2),
            ));
        }
        let d = &c.diff;
        let signed = |x: Option<f64>, p: usize| x.map_or("–".into(), |v| format!("{v:+.p$}"));
        out.push_str(&format!(
            "| {lead} | real − sim | {:+} | {:+.2} ({}) | {:+.2} ({}) | {} | {} | {} | {} | {} \
             | – | {} | – | – |\n",
            d.delivered,
            d.duplicates_per_message_per_node,
            d.duplicates_ratio
                .map_or("–".into(), |r| format!("×{r:.2}")),
            d.transmissions_per_message_per_node,
            d.transmissions_ratio
                .map_or("–".into(), |r| format!("×{r:.2}")),
            signed(d.mean_ms, 1),
            signed(d.p50_ms, 1),
            signed(d.p90_ms, 1),
            signed(d.p99_ms, 1),
            signed(d.max_ms, 1),
            signed(d.mean_mesh, 2),
        ));
    }
    out
}
