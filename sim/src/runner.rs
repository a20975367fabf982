//! Running scenarios: one run, a sweep over one parameter, a determinism check.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::SimError;
use crate::output::{Outputs, RunInfo, build, peak_rss};
use crate::report::Summary;
use crate::scenario::Scenario;
use crate::sim::Simulation;

/// A finished run: its summary, its deterministic outputs and its machine figures.
#[derive(Debug)]
pub struct Run {
    /// The summary.
    pub summary: Summary,
    /// The deterministic files (no `run` object yet).
    pub outputs: Outputs,
    /// Wall time, speed, memory.
    pub info: RunInfo,
}

/// Runs `scenario` once; shows a progress bar on stderr if `progress` and stderr is a terminal.
pub fn run(scenario: &Scenario, progress: bool) -> Result<Run, SimError> {
    let bar = progress.then(|| {
        let bar =
            ProgressBar::with_draw_target(Some(scenario.duration_ms), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} virtual ms ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.set_message(scenario.name.clone());
        bar
    });
    let started = Instant::now();
    let mut sim = Simulation::new(scenario)?;
    sim.run(bar.as_ref())?;
    let wall_s = started.elapsed().as_secs_f64();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = Summary::of(&sim);
    let outputs = Outputs::of(&sim, &summary)?;
    let peak = peak_rss();
    let info = RunInfo {
        wall_s,
        events_per_s: sim.events() as f64 / wall_s.max(1e-9),
        deliveries_per_s: sim.deliveries() as f64 / wall_s.max(1e-9),
        peak_rss_bytes: peak,
        peak_rss_per_agent: peak.map(|p| p as f64 / f64::from(scenario.nodes)),
        build: build(),
    };
    Ok(Run {
        summary,
        outputs,
        info,
    })
}

/// Runs `scenario` twice and returns the first run and the names of outputs that differ.
pub fn check_determinism(scenario: &Scenario) -> Result<(Run, Vec<String>), SimError> {
    let a = run(scenario, false)?;
    let b = run(scenario, false)?;
    let diff = a.outputs.diff(&b.outputs);
    Ok((a, diff))
}

/// The scenarios of a sweep of `key` over `values` (same seed: same topology and workload).
pub fn sweep(
    base: &Scenario,
    key: &str,
    values: &[toml::Value],
) -> Result<Vec<(String, Scenario)>, SimError> {
    values
        .iter()
        .map(|v| {
            let label = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut s = base.with(key, v.clone())?;
            s.name = format!("{} {key}={label}", base.name);
            s.sweep = None;
            Ok((format!("{key}={label}"), s))
        })
        .collect()
}
