//! Outputs of a run, built in memory (so a determinism check can compare them) and then
//! written: `summary.json`, `timeseries.csv`, `latency_cdf.csv`, `updates.csv` and the plots.

use std::path::Path;

use serde::Serialize;

use crate::error::SimError;
use crate::plot;
use crate::report::Summary;
use crate::sim::Simulation;

/// Machine-dependent figures of a run: the only part of `summary.json` that differs between
/// two runs of the same scenario, seed and build.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    /// Wall-clock seconds of the simulation (not of writing outputs).
    pub wall_s: f64,
    /// Events per wall-clock second.
    pub events_per_s: f64,
    /// Message deliveries per wall-clock second.
    pub deliveries_per_s: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Peak resident memory divided by the number of agents.
    pub peak_rss_per_agent: Option<f64>,
    /// The build: crate version and profile.
    pub build: String,
}

/// The files of one run, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// `(file name, bytes)`, in a fixed order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// The build string: crate version and profile.
pub fn build() -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!("knack-sim {} ({profile})", env!("CARGO_PKG_VERSION"))
}

/// Peak resident memory of this process, from `/proc/self/status` (Linux only).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Outputs {
    /// The deterministic outputs of a finished simulation (`summary.json` without `run`).
    pub fn of(sim: &Simulation, summary: &Summary) -> Result<Outputs, SimError> {
        let mut files = Vec::new();
        let json = serde_json::to_vec_pretty(summary).map_err(|e| err("summary.json", e))?;
        files.push(("summary.json".to_owned(), json));
        files.push(("timeseries.csv".to_owned(), timeseries(sim)?));
        files.push(("latency_cdf.csv".to_owned(), latency_cdf(sim)?));
        files.push(("updates.csv".to_owned(), updates(summary)?));
        for (name, svg) in plot::all(sim, summary) {
            files.push((name, svg.into_bytes()));
        }
        Ok(Outputs { files })
    }

    /// Adds the `run` object to `summary.json`.
    pub fn with_run(mut self, run: &RunInfo) -> Result<Outputs, SimError> {
        if let Some((_, bytes)) = self.files.iter_mut().find(|(n, _)| n == "summary.json") {
            let mut value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| err("summary.json", e))?;
            if let serde_json::Value::Object(map) = &mut value {
                map.insert(
                    "run".into(),
                    serde_json::to_value(run).map_err(|e| err("summary.json", e))?,
                );
            }
            *bytes = serde_json::to_vec_pretty(&value).map_err(|e| err("summary.json", e))?;
        }
        Ok(self)
    }

    /// Writes every file into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<(), SimError> {
        std::fs::create_dir_all(dir).map_err(|e| err(&dir.display().to_string(), e))?;
        for (name, bytes) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| err(&path.display().to_string(), e))?;
        }
        Ok(())
    }

    /// The names of files that differ between two runs.
    pub fn diff(&self, other: &Outputs) -> Vec<String> {
        let mut names: Vec<String> = self
            .files
            .iter()
            .filter(|(n, b)| other.files.iter().find(|(m, _)| m == n).map(|(_, c)| c) != Some(b))
            .map(|(n, _)| n.clone())
            .collect();
        if self.files.len() != other.files.len() {
            names.push("(file count)".into());
        }
        names
    }
}

fn err(path: &str, e: impl std::fmt::Display) -> SimError {
    SimError::Output {
        path: path.into(),
        reason: e.to_string(),
    }
}

/// One row of `timeseries.csv`.
#[derive(Serialize)]
struct Row {
    time_ms: u64,
    reach: f64,
    deliveries: u64,
    payload_msgs: u64,
    control_msgs: u64,
    payload_bytes: u64,
    control_bytes: u64,
    duplicates: u64,
}

/// The time series, one row per bucket: reach is the fraction of (honest agent, update) pairs
/// applied among updates authored so far.
pub(crate) fn rows(sim: &Simulation) -> Vec<(u64, f64, crate::metrics::Bucket)> {
    let w = &sim.world;
    let m = &w.metrics;
    let sample_us = w.cfg.sample_ms * crate::network::US_PER_MS;
    let mut applied = 0u64;
    let mut out = Vec::with_capacity(m.buckets.len());
    for (i, b) in m.buckets.iter().enumerate() {
        applied += b.deliveries;
        let end = (i as u64 + 1) * sample_us;
        let authored = w.updates.list.iter().filter(|u| u.created_us < end).count() as f64;
        let possible = authored * f64::from(m.honest);
        let reach = if possible > 0.0 {
            applied as f64 / possible
        } else {
            0.0
        };
        out.push(((i as u64 + 1) * w.cfg.sample_ms, reach, *b));
    }
    out
}

fn timeseries(sim: &Simulation) -> Result<Vec<u8>, SimError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    for (time_ms, reach, b) in rows(sim) {
        csv.serialize(Row {
            time_ms,
            reach,
            deliveries: b.deliveries,
            payload_msgs: b.payload_msgs,
            control_msgs: b.control_msgs,
            payload_bytes: b.payload_bytes,
            control_bytes: b.control_bytes,
            duplicates: b.duplicates,
        })
        .map_err(|e| err("timeseries.csv", e))?;
    }
    csv.into_inner().map_err(|e| err("timeseries.csv", e))
}

/// `(latency ms, cumulative fraction)` of deliveries.
pub(crate) fn cdf(sim: &Simulation) -> Vec<(u64, f64)> {
    let hist = &sim.world.metrics.latency_ms;
    let total: u64 = hist.iter().sum();
    let mut acc = 0;
    hist.iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(ms, c)| {
            acc += c;
            (ms as u64, acc as f64 / total.max(1) as f64)
        })
        .collect()
}

fn latency_cdf(sim: &Simulation) -> Result<Vec<u8>, SimError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["latency_ms", "fraction"])
        .map_err(|e| err("latency_cdf.csv", e))?;
    for (ms, f) in cdf(sim) {
        csv.write_record([ms.to_string(), f.to_string()])
            .map_err(|e| err("latency_cdf.csv", e))?;
    }
    csv.into_inner().map_err(|e| err("latency_cdf.csv", e))
}

fn updates(summary: &Summary) -> Result<Vec<u8>, SimError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    for u in &summary.per_update {
        csv.serialize(u).map_err(|e| err("updates.csv", e))?;
    }
    csv.into_inner().map_err(|e| err("updates.csv", e))
}
