//! Same scenario, seed and build: byte-identical outputs; another seed: different ones.
#![allow(clippy::unwrap_used)]

use knack_sim::{Scenario, runner};

/// A small scenario that touches every random stream: loss, jitter, partition, churn,
/// adversaries, skew, anti-entropy, a mixed workload.
fn scenario(seed: u64) -> Scenario {
    let text = r#"
name = "determinism"
nodes = 150
duration_ms = 15000
[network]
latency = { kind = "lognormal", median_ms = 30.0, sigma = 0.6 }
jitter_ms = 10.0
loss = 0.02
clock_skew_ms = 100
upload_bytes_per_s = 1000000
download_bytes_per_s = 1000000
churn = { fraction = 0.2, mean_online_ms = 4000.0, mean_offline_ms = 1000.0 }
[[network.partitions]]
start_ms = 3000
heal_ms = 6000
[gossip]
model = "gossipsub"
[anti_entropy]
interval_ms = 1000
[adversary]
droppers = 0.05
flooders = 0.02
flood_rate_per_s = 1.0
[verify]
sample = 0.01
[workload]
updates = 40
start_ms = 1500
interval_ms = 100.0
authors = 5
"#;
    let mut s = Scenario::parse(text, &[]).unwrap();
    s.seed = seed;
    s
}

#[test]
fn same_seed_gives_identical_outputs() {
    let (run, diff) = runner::check_determinism(&scenario(7)).unwrap();
    assert!(diff.is_empty(), "outputs differ: {diff:?}");
    assert_eq!(run.summary.updates, 40);
    let names: Vec<&str> = run.outputs.files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "summary.json",
        "timeseries.csv",
        "latency_cdf.csv",
        "updates.csv",
        "reach.svg",
        "bandwidth.svg",
        "latency_cdf.svg",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
}

#[test]
fn another_seed_differs() {
    let a = runner::run(&scenario(7), false).unwrap();
    let b = runner::run(&scenario(8), false).unwrap();
    let diff = a.outputs.diff(&b.outputs);
    assert!(diff.contains(&"summary.json".to_owned()), "{diff:?}");
    assert!(diff.contains(&"timeseries.csv".to_owned()), "{diff:?}");
}

#[test]
fn run_object_holds_the_machine_figures_only() {
    let run = runner::run(&scenario(7), false).unwrap();
    let with = run.outputs.clone().with_run(&run.info).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&with.files[0].1).unwrap();
    assert!(json["run"]["wall_s"].is_number());
    assert!(json["run"]["build"].is_string());
    let without: serde_json::Value = serde_json::from_slice(&run.outputs.files[0].1).unwrap();
    assert!(without.get("run").is_none());
}

#[test]
fn learning_scenario_is_deterministic() {
    // The shipped learning scenario, shrunk: knack memory with liars, a Sybil burst, loss and a
    // partition, every random stream of the learning workload (catalogue, tasks, choices,
    // outcomes) included.
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/learning.toml");
    let overrides: Vec<String> = [
        "nodes=20",
        "workload.authors=20",
        "workload.updates=300",
        "duration_ms=35000",
        "verify.sample=0.01",
        "learning.runs=1",
        "learning.variants=[]",
        "learning.liars=0.1",
        "learning.sybil={identities=5, ops_each=4, at_ms=10000}",
        "network.loss=0.02",
        "network.partitions=[{start_ms=5000, heal_ms=15000}]",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let s = Scenario::load(&path, &overrides).unwrap();
    let a = knack_sim::learning::experiment::experiment(&s, |_, _| {})
        .unwrap()
        .outputs()
        .unwrap();
    let b = knack_sim::learning::experiment::experiment(&s, |_, _| {})
        .unwrap()
        .outputs()
        .unwrap();
    assert!(a.diff(&b).is_empty(), "outputs differ: {:?}", a.diff(&b));
    let (_, diff) = runner::check_determinism(&s).unwrap();
    assert!(diff.is_empty(), "network outputs differ: {diff:?}");
}
