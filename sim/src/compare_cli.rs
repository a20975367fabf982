//! `knack-sim compare` (feature `real-stack`): a scenario in the simulator and on real libp2p
//! gossipsub swarms, for one or more node counts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use knack_sim::Scenario;
use knack_sim::real::{self, Comparison};

/// Runs the comparison for each node count, writes `out/compare.json` and `out/compare.md`, and
/// prints the table.
pub(crate) fn run(
    scenario: &Path,
    nodes: &[u32],
    seed: Option<u64>,
    sets: &[String],
    repeat: u32,
    out: &PathBuf,
) -> anyhow::Result<()> {
    let mut comparisons: Vec<Comparison> = Vec::new();
    let counts: Vec<Option<u32>> = if nodes.is_empty() {
        vec![None]
    } else {
        nodes.iter().copied().map(Some).collect()
    };
    for n in counts {
        let mut sets = sets.to_vec();
        if let Some(n) = n {
            sets.push(format!("nodes={n}"));
        }
        if let Some(s) = seed {
            sets.push(format!("seed={s}"));
        }
        let s = Scenario::load(scenario, &sets)?;
        eprintln!(
            "{}: {} nodes, {} run(s) in the simulator and on real swarms...",
            s.name, s.nodes, repeat
        );
        let c = real::compare_repeated(&s, repeat)
            .with_context(|| format!("comparing {} with {} nodes", s.name, s.nodes))?;
        eprintln!("  real side: {:.1} s wall", c.real_wall_s);
        comparisons.push(c);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = serde_json::to_string_pretty(&comparisons)?;
    std::fs::write(out.join("compare.json"), json + "\n").context("writing compare.json")?;
    let table = real::markdown(&comparisons);
    std::fs::write(out.join("compare.md"), &table).context("writing compare.md")?;
    print!("{table}");
    Ok(())
}
