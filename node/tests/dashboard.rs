//! The Grafana dashboard (`deploy/grafana/`) queries only metrics a knack node serves: every
//! metric named in a panel's expression is a family of the real binary's `GET /metrics`.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::TestNode;
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

#[test]
fn every_metric_of_the_dashboard_is_served_by_a_node() {
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
    assert!(names.len() >= 10, "suspiciously few metrics: {names:?}");

    let node = TestNode::start("a", &[]);
    let served_families = families(&node.metrics());
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !served(n, &served_families))
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
