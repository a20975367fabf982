//! The Grafana dashboard (`deploy/grafana/`) queries only metrics a knack node serves: every
//! metric named in a panel's expression is a family of the real binary's `GET /metrics`.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{TestNode, wait_for};
use serde_json::Value;

/// Suffixes the exposition adds to a family's name in its samples.
const SAMPLE_SUFFIXES: &[&str] = &["_total", "_bucket", "_sum", "_count", "_created"];

/// Every `expr` string in a dashboard.
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => expressions(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

/// The knack and libp2p metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("knack_") || word.starts_with("libp2p_"))
        .map(str::to_owned)
        .collect()
}

/// The metric families a `/metrics` text declares (`# TYPE NAME KIND`).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Whether `name` (as a query writes it, suffix included) is served.
fn served(name: &str, families: &BTreeSet<String>) -> bool {
    families.contains(name)
        || SAMPLE_SUFFIXES.iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| families.contains(base))
        })
}

/// Counters that only appear once their fault happened (a forged envelope, a peer sending a
/// corrupt chunk, an IPFS daemon failing): a family with no sample is not in the exposition,
/// so for these the test checks that the node registers them (in `node/src/metrics.rs`).
const FAULT_ONLY: &[&str] = &[
    "knack_envelopes_rejected_total",
    "knack_blob_peers_penalised_total",
    "knack_ipfs_errors_total",
];

/// The metric names the dashboards query.
fn dashboard_metrics() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana");
    let mut names = BTreeSet::new();
    let mut dashboards = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            dashboards += 1;
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let mut exprs = Vec::new();
            expressions(&json, &mut exprs);
            assert!(!exprs.is_empty(), "{} has no queries", path.display());
            names.extend(exprs.iter().flat_map(|e| metric_names(e)));
        }
    }
    assert!(dashboards > 0, "no dashboard in {}", dir.display());
    names
}

#[test]
fn every_metric_of_the_dashboard_is_served_by_a_node() {
    let names = dashboard_metrics();
    assert!(names.len() >= 10, "suspiciously few metrics: {names:?}");

    // Two real nodes doing what the panels show: gossip, sync, API calls and an API error, a
    // blob served from one to the other, and a connection that closes.
    let a = TestNode::start("a", &[]);
    let mut b = TestNode::start("b", &[a.multiaddr()]);
    let p = a.add("drain the node", &["k8s"]);
    wait_for(Duration::from_secs(30), || (b.ops() >= 1).then_some(()))
        .expect("b never received a's procedure");
    b.outcome(&p, true);
    let (code, _) = a.call("GET", "/v1/spaces/default/procedures/not-an-id", None);
    assert!(code >= 400, "a bad id must be an API error");
    let big = a.add_file("big body", &common::body_of(300_000, 7));
    wait_for(Duration::from_secs(30), || {
        let (code, _) = b.call("GET", &format!("/v1/spaces/default/procedures/{big}"), None);
        (code == 200).then_some(())
    })
    .expect("b never received the blob procedure");
    let (code, _) = b.call_raw(
        "GET",
        &format!("/v1/spaces/default/procedures/{big}/body"),
        None,
        Some(&b.token.clone()),
    );
    assert_eq!(code, 200, "b fetches the body from a");
    let mut served_families = families(&b.metrics());
    b.stop();
    wait_for(Duration::from_secs(30), || {
        (a.metric("libp2p_swarm_connections_duration_seconds_count") > 0.0).then_some(())
    })
    .expect("a never saw b's connection close");
    served_families.extend(families(&a.metrics()));

    let registered =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"))
            .unwrap();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !served(n, &served_families))
        .filter(|n| {
            // A fault-only counter passes when the node registers it.
            let base = n.trim_start_matches("knack_").trim_end_matches("_total");
            !(FAULT_ONLY.contains(&n.as_str()) && registered.contains(&format!("\"{base}\"")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no node serves: {missing:?}\nserved: {served_families:?}"
    );
}

#[test]
fn names_are_found_in_expressions_and_matched_with_suffixes() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(knack_api_latency_seconds_bucket[5m])))"
        ),
        ["knack_api_latency_seconds_bucket"]
    );
    let families: BTreeSet<String> = ["knack_ops_applied".to_owned()].into();
    assert!(served("knack_ops_applied_total", &families));
    assert!(!served("knack_ops_typo_total", &families));
}
