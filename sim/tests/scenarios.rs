//! The shipped scenarios, shrunk with overrides so they run in debug: each parses, runs, and
//! shows what it is about (convergence by real digests after a heal, after churn, despite
//! loss; the effect of adversaries; a sweep on one topology).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use knack_sim::{Scenario, Summary, runner};

fn shipped(name: &str, overrides: &[&str]) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    // ed25519 in a debug build is slow: verify a small sample only.
    let mut overrides: Vec<String> = overrides.iter().map(|s| (*s).to_owned()).collect();
    overrides.insert(0, "verify.sample=0.01".into());
    Scenario::load(&path, &overrides).unwrap()
}

fn run(s: &Scenario) -> Summary {
    runner::run(s, false).unwrap().summary
}

fn converged(s: &Summary) {
    let c = &s.convergence;
    assert!(c.converged_ms.is_some(), "not converged: {c:?}");
    assert_eq!(c.distinct_digests, 1, "{c:?}");
    assert_eq!(c.agents, c.agents_at_reference, "{c:?}");
    assert_eq!(c.digest_mismatches, 0);
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.iter().any(|p| p.ends_with("baseline.toml")));
    for path in names {
        Scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn baseline_converges_by_digest() {
    let s = run(&shipped(
        "baseline",
        &["nodes=200", "workload.updates=20", "duration_ms=10000"],
    ));
    converged(&s);
    assert_eq!(s.t100_ms.n, 20);
    assert!(s.traffic.payload_bytes_per_node > 0.0 && s.traffic.control_bytes_per_node > 0.0);
}

#[test]
fn lossy_converges() {
    let s = run(&shipped(
        "lossy",
        &["nodes=200", "workload.updates=20", "duration_ms=20000"],
    ));
    assert!(s.counters.lost > 0);
    converged(&s);
}

#[test]
fn partition_heals_and_converges() {
    let s = run(&shipped(
        "partition",
        &["nodes=200", "workload.updates=60", "duration_ms=40000"],
    ));
    assert!(s.counters.cut > 0, "the partition cut messages");
    assert_eq!(s.heals.len(), 1);
    let heal = &s.heals[0];
    assert!(heal.convergence_ms.is_some(), "{heal:?}");
    assert_eq!(heal.digests_agree, Some(true), "{heal:?}");
    assert!(s.counters.sync_ops_new > 0, "anti-entropy repaired the cut");
    converged(&s);
}

#[test]
fn partition_without_anti_entropy_does_not_converge() {
    let s = run(&shipped(
        "partition",
        &[
            "nodes=200",
            "workload.updates=60",
            "duration_ms=40000",
            "anti_entropy.interval_ms=0",
        ],
    ));
    assert!(
        s.heals[0].convergence_ms.is_none(),
        "gossip alone cannot repair a long cut"
    );
}

#[test]
fn churned_nodes_catch_up() {
    let s = run(&shipped(
        "churn",
        &[
            "nodes=200",
            "workload.updates=40",
            "duration_ms=30000",
            "network.churn.fraction=0.4",
        ],
    ));
    assert!(s.counters.offline > 0);
    assert!(s.counters.sync_ops_new > 0);
    converged(&s);
}

#[test]
fn adversaries_are_contained_and_the_eclipse_shows() {
    let s = run(&shipped(
        "adversarial",
        &["nodes=200", "workload.updates=20", "duration_ms=15000"],
    ));
    let a = &s.adversaries;
    assert!(a.invalid_received > 0);
    assert!(
        a.invalid_verified_rejected > 0,
        "the real verifier rejected invalid envelopes"
    );
    assert_eq!(a.victim_applied, Some(0), "the eclipsed node heard nothing");
    assert_eq!(s.t100_ms.n, 0, "so no update reached 100 % of honest nodes");
    assert!(
        s.t99_ms.n == 20,
        "but the rest of the mesh got every update"
    );
    converged(&s);
}

#[test]
fn sweep_shares_topology_and_workload() {
    let base = shipped(
        "gossip_degree_sweep",
        &["nodes=200", "workload.updates=5", "duration_ms=8000"],
    );
    let sweep = base.sweep.clone().unwrap();
    let runs = runner::sweep(&base, &sweep.key, &sweep.values[..3]).unwrap();
    let summaries: Vec<Summary> = runs.iter().map(|(_, s)| run(s)).collect();
    // Same seed: same workload schedule (when, by whom) and topology in every run. (What an
    // author writes depends on what it has heard by then, so the content may differ.)
    let sizes = |s: &Summary| {
        s.per_update
            .iter()
            .map(|u| (u.created_ms, u.author_node))
            .collect::<Vec<_>>()
    };
    for s in &summaries[1..] {
        assert_eq!(sizes(s), sizes(&summaries[0]));
        assert_eq!(s.mean_degree, summaries[0].mean_degree);
    }
    // A larger D costs more transmissions.
    let tx: Vec<f64> = summaries
        .iter()
        .map(|s| s.traffic.transmissions_per_update_per_node)
        .collect();
    assert!(tx[0] < tx[2], "{tx:?}");
}

#[test]
fn flooding_push_and_push_pull_run_end_to_end() {
    for model in ["flood", "push", "push_pull"] {
        let s = run(&shipped(
            "baseline",
            &[
                "nodes=150",
                "workload.updates=10",
                "duration_ms=8000",
                &format!("gossip.model=\"{model}\""),
                "gossip.push_rounds=12",
            ],
        ));
        converged(&s);
    }
}
