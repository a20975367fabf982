//! The report of a scenario run: JSON for machines (`report.json`) and a readable summary
//! (`report.txt`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use knack_percentile::Sorted;
use serde::Serialize;

use crate::error::{Result, TestnetError};
use crate::prometheus::Counters;
use crate::runner::WriteCounts;

/// Everything a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Nodes.
    pub nodes: usize,
    /// Whether the nodes ran in network namespaces.
    pub netns: bool,
    /// Whether every wait and assertion held.
    pub passed: bool,
    /// What failed.
    pub failures: Vec<String>,
    /// Wall time of the run, seconds.
    pub duration_s: f64,
    /// One entry per step.
    pub steps: Vec<StepReport>,
    /// Time to converge after each heal (measured by the next wait-until-converged).
    pub heals: Vec<HealReport>,
    /// Propagation latency of ops from their author to every other node.
    pub latency: Latency,
    /// The same for the ops written during each load step (steady state vs split vs churn).
    pub load_latency: Vec<LoadLatency>,
    /// Outcome writes of the load.
    pub outcome_writes: WriteCounts,
    /// Procedures created by the load.
    pub procedure_writes: WriteCounts,
    /// Outcomes (successes + failures of the load's procedures) present at the end, per
    /// running node.
    pub outcomes_present: BTreeMap<String, u64>,
    /// Whether every acknowledged write was present at the end on every running node.
    pub nothing_lost: Option<bool>,
    /// Counters from `/metrics`, per node, summed over restarts.
    pub per_node: BTreeMap<String, Counters>,
    /// Gossip bytes (in + out) per node per acknowledged write, averaged over nodes.
    pub gossip_bytes_per_node_per_write: f64,
    /// Memory and CPU per node (from `/proc`, sampled when its counters are scraped).
    pub resources: BTreeMap<String, crate::resources::Usage>,
}

/// Propagation latency of the ops written during one load step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadLatency {
    /// The load step (1-based).
    pub step: usize,
    /// Latency of the ops its writers wrote while it ran.
    pub latency: Latency,
}

/// Wall-clock milliseconds since the Unix epoch (the clock the nodes stamp `written_ms` with).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One step's record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepReport {
    /// 1-based.
    pub index: usize,
    /// The action.
    pub action: String,
    /// When it started, seconds after the run began.
    pub started_s: f64,
    /// How long it took, seconds.
    pub took_s: f64,
    /// Whether it held (waits and assertions) or worked.
    pub ok: bool,
    /// What happened.
    pub note: String,
}

/// Time to converge after a heal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HealReport {
    /// When the heal happened, seconds after the run began.
    pub healed_at_s: f64,
    /// Seconds from the heal until the nodes agreed (None: they did not).
    pub converged_after_s: Option<f64>,
}

/// Latency percentiles, ms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Ops measured (one per op per receiving node).
    pub samples: usize,
    /// Median.
    pub p50_ms: Option<u64>,
    /// 99th percentile.
    pub p99_ms: Option<u64>,
    /// Largest.
    pub max_ms: Option<u64>,
}

impl Latency {
    /// The percentiles of `samples`.
    pub fn of(samples: Vec<u64>) -> Latency {
        let samples = Sorted::new(samples);
        Latency {
            samples: samples.len(),
            p50_ms: samples.percentile(50.0),
            p99_ms: samples.percentile(99.0),
            max_ms: samples.max(),
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl Report {
    /// The readable summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            s,
            "scenario {}: {verdict} ({} nodes{}, {:.1} s)",
            self.scenario,
            self.nodes,
            if self.netns { ", netns" } else { ", loopback" },
            self.duration_s
        );
        for step in &self.steps {
            let _ = writeln!(
                s,
                "  {:>2}. {:>6.1}s {:<22} {:>6.2}s {} {}",
                step.index,
                step.started_s,
                step.action,
                step.took_s,
                if step.ok { "ok  " } else { "FAIL" },
                step.note
            );
        }
        for heal in &self.heals {
            let _ = writeln!(
                s,
                "time to converge after the heal at {:.1}s: {}",
                heal.healed_at_s,
                heal.converged_after_s
                    .map_or_else(|| "never".to_owned(), |t| format!("{t:.2} s"))
            );
        }
        let _ = writeln!(
            s,
            "propagation latency: p50 {} ms, p99 {} ms, max {} ms ({} samples)",
            opt(self.latency.p50_ms),
            opt(self.latency.p99_ms),
            opt(self.latency.max_ms),
            self.latency.samples
        );
        for load in &self.load_latency {
            let _ = writeln!(
                s,
                "  ops written during step {} (load): p50 {} ms, p99 {} ms, max {} ms ({} samples)",
                load.step,
                opt(load.latency.p50_ms),
                opt(load.latency.p99_ms),
                opt(load.latency.max_ms),
                load.latency.samples
            );
        }
        let w = &self.outcome_writes;
        let _ = writeln!(
            s,
            "outcome writes: {} acknowledged, {} rejected, {} unreachable, {} uncertain, {} skipped (node down)",
            w.acked, w.rejected, w.unreachable, w.uncertain, w.skipped
        );
        let present: Vec<String> = self
            .outcomes_present
            .iter()
            .map(|(n, c)| format!("{n}={c}"))
            .collect();
        let _ = writeln!(
            s,
            "outcomes present at the end: {} -> nothing lost: {}",
            present.join(" "),
            match self.nothing_lost {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "not checked",
            }
        );
        let _ = writeln!(
            s,
            "{:<6} {:>9} {:>9} {:>11} {:>11} {:>8} {:>7} {:>8} {:>8}",
            "node",
            "msgs in",
            "msgs out",
            "bytes in",
            "bytes out",
            "applied",
            "syncs",
            "replays",
            "rejected"
        );
        for (name, c) in &self.per_node {
            let _ = writeln!(
                s,
                "{:<6} {:>9} {:>9} {:>11} {:>11} {:>8} {:>7} {:>8} {:>8}",
                name,
                c.gossip_messages_in,
                c.gossip_messages_out,
                c.gossip_bytes_in,
                c.gossip_bytes_out,
                c.ops_applied,
                c.sync_rounds,
                c.envelopes_replayed,
                c.envelopes_rejected
            );
        }
        let _ = writeln!(
            s,
            "gossip bytes per node per acknowledged write: {:.0}",
            self.gossip_bytes_per_node_per_write
        );
        self.write_per_node_summary(&mut s);
        for failure in &self.failures {
            let _ = writeln!(s, "FAILED: {failure}");
        }
        s
    }

    /// Per-node distributions (mean, p50, p99, max over nodes) of messages, memory and CPU:
    /// the figures that matter with tens of nodes, where the per-node table is long.
    fn write_per_node_summary(&self, s: &mut String) {
        let counters: Vec<&Counters> = self.per_node.values().collect();
        let usage: Vec<&crate::resources::Usage> = self.resources.values().collect();
        let rows: [(&str, Vec<f64>); 6] = [
            (
                "gossip msgs in / node",
                counters.iter().map(|c| c.gossip_messages_in).collect(),
            ),
            (
                "gossip msgs out / node",
                counters.iter().map(|c| c.gossip_messages_out).collect(),
            ),
            (
                "sync rounds / node",
                counters.iter().map(|c| c.sync_rounds).collect(),
            ),
            ("RSS at end, MiB", usage.iter().map(|u| u.rss_mib).collect()),
            (
                "peak RSS, MiB",
                usage.iter().map(|u| u.peak_rss_mib).collect(),
            ),
            ("CPU s / node", usage.iter().map(|u| u.cpu_s).collect()),
        ];
        let _ = writeln!(
            s,
            "{:<24} {:>10} {:>10} {:>10} {:>10}",
            "over nodes", "mean", "p50", "p99", "max"
        );
        for (label, values) in rows {
            if let Some(d) = Spread::of(values) {
                let _ = writeln!(
                    s,
                    "{label:<24} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
                    d.mean, d.p50, d.p99, d.max
                );
            }
        }
        let cpu: f64 = usage.iter().map(|u| u.cpu_s).sum();
        if self.duration_s > 0.0 && !usage.is_empty() {
            let _ = writeln!(
                s,
                "CPU of all nodes: {cpu:.0} s over {:.0} s = {:.2} cores; {:.2} % of a core per node",
                self.duration_s,
                cpu / self.duration_s,
                100.0 * cpu / self.duration_s / usage.len() as f64
            );
        }
    }

    /// Writes `report.json` and `report.txt` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| TestnetError::State {
            path: dir.join("report.json"),
            reason: e.to_string(),
        })?;
        let path = dir.join("report.json");
        std::fs::write(&path, json).map_err(|e| TestnetError::io(&path, e))?;
        let path = dir.join("report.txt");
        std::fs::write(&path, self.summary()).map_err(|e| TestnetError::io(&path, e))
    }
}

/// Mean and nearest-rank percentiles of a set of per-node figures.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spread {
    mean: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Spread {
    fn of(values: Vec<f64>) -> Option<Spread> {
        let values = Sorted::of_f64(values);
        Some(Spread {
            mean: values.as_slice().iter().sum::<f64>() / values.len() as f64,
            p50: values.percentile(50.0)?,
            p99: values.percentile(99.0)?,
            max: values.max()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_over_nodes() {
        let d = Spread::of(vec![4.0, 1.0, 3.0, 2.0]).unwrap_or_else(|| unreachable!());
        assert_eq!((d.mean, d.p50, d.p99, d.max), (2.5, 2.0, 4.0, 4.0));
        assert_eq!(Spread::of(Vec::new()), None);
    }

    #[test]
    fn latency_percentiles_of_unsorted_samples() {
        let l = Latency::of(vec![5, 1, 3]);
        assert_eq!((l.p50_ms, l.max_ms, l.samples), (Some(3), Some(5), 3));
        let l = Latency::of((1..=100).rev().collect());
        assert_eq!((l.p50_ms, l.p99_ms), (Some(50), Some(99)));
        let none = Latency::of(Vec::new());
        assert_eq!((none.p50_ms, none.max_ms, none.samples), (None, None, 0));
    }
}
