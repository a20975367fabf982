//! `knack-sim`: run a scenario of the knack network simulator and write its outputs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use knack_sim::{Scenario, learning, parse_value, runner, split_override};

#[cfg(feature = "real-stack")]
mod compare_cli;

/// The knack network simulator: simulated agents on the real CRDT and protocol code.
#[derive(Debug, Parser)]
#[command(name = "knack-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario (or a sweep of one parameter) and write its outputs into DIR.
    Run {
        /// The scenario file (TOML), e.g. sim/scenarios/baseline.toml.
        scenario: PathBuf,
        /// Number of agents (overrides the file).
        #[arg(long)]
        nodes: Option<u32>,
        /// Seed (overrides the file).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a parameter by dotted key, e.g. --set gossip.d=8 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Sweep one parameter over values, e.g. --sweep gossip.d=4,6,8: one run per value,
        /// each in DIR/KEY=VALUE/, with the same seed (same topology and workload).
        #[arg(long, value_name = "KEY=V1,V2,...")]
        sweep: Option<String>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Run twice and fail unless the outputs are byte-identical.
        #[arg(long)]
        check_determinism: bool,
        /// No progress bar (it is off anyway when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
    },
    /// Run a collective-learning experiment (a scenario with a `[learning]` table): every
    /// variant over `learning.runs` seeds; writes DIR/learning.csv, series.csv, summary.json,
    /// catalogue.csv and regret / best-share / false-crystallization plots.
    Learn {
        /// The scenario file (TOML), e.g. sim/scenarios/learning.toml.
        scenario: PathBuf,
        /// Seed of the first run (overrides the file); run k uses seed + k.
        #[arg(long)]
        seed: Option<u64>,
        /// Runs per variant (overrides `learning.runs`).
        #[arg(long)]
        runs: Option<u32>,
        /// Override a parameter by dotted key (repeatable), applied before the variants'.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Run twice and fail unless the outputs are byte-identical.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Run a scenario in the simulator and on real libp2p gossipsub swarms (same topology,
    /// latencies and messages) and compare deliveries, duplicates, transmissions and latency;
    /// writes DIR/compare.json and DIR/compare.md.
    #[cfg(feature = "real-stack")]
    Compare {
        /// The scenario file (TOML), e.g. sim/scenarios/real_compare.toml.
        scenario: PathBuf,
        /// Node counts, one comparison each (overrides the file), e.g. --nodes 5,20.
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<u32>,
        /// Seed of the first run (overrides the file); run k uses seed + k.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a parameter by dotted key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Runs per node count (seeds seed, seed + 1, ...), pooled.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("knack-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let Cli { command } = Cli::parse();
    #[cfg(feature = "real-stack")]
    if let Command::Compare {
        scenario,
        nodes,
        seed,
        sets,
        repeat,
        out,
    } = &command
    {
        compare_cli::run(scenario, nodes, *seed, sets, *repeat, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Learn {
        scenario,
        seed,
        runs,
        sets,
        out,
        check_determinism,
    } = &command
    {
        learn(scenario, *seed, *runs, sets, out, *check_determinism)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Command::Run {
        scenario,
        nodes,
        seed,
        mut sets,
        sweep,
        out,
        check_determinism,
        quiet,
    } = command
    else {
        bail!("unknown command");
    };
    if let Some(n) = nodes {
        sets.push(format!("nodes={n}"));
    }
    if let Some(s) = seed {
        sets.push(format!("seed={s}"));
    }
    let base = Scenario::load(&scenario, &sets)?;
    let progress = !quiet && std::io::stderr().is_terminal();
    let sweep = match sweep {
        Some(arg) => {
            let (key, values) = split_override(&arg)?;
            Some((
                key.to_owned(),
                values
                    .split(',')
                    .map(|v| parse_value(v.trim()))
                    .collect::<Vec<_>>(),
            ))
        }
        None => base.sweep.clone().map(|s| (s.key, s.values)),
    };
    let runs = match &sweep {
        Some((key, values)) => runner::sweep(&base, key, values)?
            .into_iter()
            .map(|(label, s)| (Some(label), s))
            .collect(),
        None => vec![(None, base.clone())],
    };
    let mut table = Vec::new();
    for (label, s) in runs {
        let dir = match &label {
            Some(l) => out.join(l),
            None => out.clone(),
        };
        let run = if check_determinism {
            let (run, diff) = runner::check_determinism(&s)?;
            if !diff.is_empty() {
                bail!(
                    "{}: outputs differ between two runs: {}",
                    s.name,
                    diff.join(", ")
                );
            }
            eprintln!(
                "{}: determinism check passed (two runs byte-identical)",
                s.name
            );
            run
        } else {
            runner::run(&s, progress)?
        };
        let sm = &run.summary;
        eprintln!(
            "{}: {} nodes, {} updates, t50/t90/t99/t100 mean {:?}/{:?}/{:?}/{:?} ms, \
             {:.1} payload KB/node, {:.2} dup/update/node, converged {:?} ms, {:.2} s wall, \
             {:.0} events/s",
            s.name,
            sm.nodes,
            sm.updates,
            sm.t50_ms.mean.map(|x| x.round()),
            sm.t90_ms.mean.map(|x| x.round()),
            sm.t99_ms.mean.map(|x| x.round()),
            sm.t100_ms.mean.map(|x| x.round()),
            sm.traffic.payload_bytes_per_node / 1024.0,
            sm.traffic.duplicates_per_update_per_node,
            sm.convergence.converged_ms,
            run.info.wall_s,
            run.info.events_per_s,
        );
        run.outputs
            .clone()
            .with_run(&run.info)?
            .write(&dir)
            .with_context(|| format!("writing {}", dir.display()))?;
        if let Some(l) = label {
            table.push((l, run.summary));
        }
    }
    if !table.is_empty() {
        let mut csv = String::from(
            "run,t50_ms,t90_ms,t99_ms,t100_ms,transmissions_per_update_per_node,\
             duplicates_per_update_per_node,payload_bytes_per_node,control_bytes_per_node,\
             converged_ms\n",
        );
        let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_default();
        for (l, s) in &table {
            csv.push_str(&format!(
                "{l},{},{},{},{},{:.3},{:.3},{:.1},{:.1},{}\n",
                f(s.t50_ms.mean),
                f(s.t90_ms.mean),
                f(s.t99_ms.mean),
                f(s.t100_ms.mean),
                s.traffic.transmissions_per_update_per_node,
                s.traffic.duplicates_per_update_per_node,
                s.traffic.payload_bytes_per_node,
                s.traffic.control_bytes_per_node,
                f(s.convergence.converged_ms),
            ));
        }
        std::fs::write(out.join("sweep.csv"), csv).context("writing sweep.csv")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `knack-sim learn`.
fn learn(
    scenario: &std::path::Path,
    seed: Option<u64>,
    runs: Option<u32>,
    sets: &[String],
    out: &std::path::Path,
    check_determinism: bool,
) -> anyhow::Result<()> {
    let mut sets = sets.to_vec();
    if let Some(s) = seed {
        sets.push(format!("seed={s}"));
    }
    if let Some(r) = runs {
        sets.push(format!("learning.runs={r}"));
    }
    let base = Scenario::load(scenario, &sets)?;
    let started = std::time::Instant::now();
    let progress = |name: &str, seed: u64| {
        eprintln!(
            "{}: {name} seed {seed} done ({:.1} s)",
            base.name,
            started.elapsed().as_secs_f64()
        );
    };
    let experiment = learning::experiment::experiment(&base, progress)?;
    let outputs = experiment.outputs()?;
    if check_determinism {
        let again = learning::experiment::experiment(&base, |_, _| {})?.outputs()?;
        let diff = outputs.diff(&again);
        if !diff.is_empty() {
            bail!(
                "{}: outputs differ between two runs: {}",
                base.name,
                diff.join(", ")
            );
        }
        eprintln!(
            "{}: determinism check passed (two runs byte-identical)",
            base.name
        );
    }
    for v in &experiment.variants {
        let r = &v.row;
        eprintln!(
            "{:<28} regret {:>7.2} ± {:<5.2} best picks {:>5.1} % greedy-best {:>5.1} % \
             90 %-best {}/{} median {:?} s, crystallized {:.1} (false {:.1}, not best {:.1})",
            v.name,
            r.regret,
            r.regret_sd,
            100.0 * r.best_pick_share,
            100.0 * r.final_best_share,
            r.best_reached,
            r.best_pairs,
            r.time_to_best_median_s,
            r.crystallized,
            r.false_crystallized,
            r.not_best_crystallized,
        );
    }
    outputs
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
