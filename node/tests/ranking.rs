//! Rankings through the HTTP API and the CLI of a real node: bounded contagion in a dense
//! cluster of automatically linked procedures, and exploration (`explore=thompson`).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use common::TestNode;
use serde_json::Value;

fn top(node: &TestNode, query: &str) -> Vec<Value> {
    let (code, body) = node.call("GET", &format!("/v1/spaces/default/top?{query}"), None);
    assert_eq!(code, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn position(rows: &[Value], id: &str) -> usize {
    rows.iter()
        .position(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not ranked: {rows:?}"))
}

fn record(node: &TestNode, id: &str, successes: usize, failures: usize) {
    for i in 0..successes + failures {
        node.outcome(id, i < successes);
    }
}

#[test]
fn own_evidence_outranks_a_dense_cluster_and_contagion_only_lifts_the_unproven() {
    let node = TestNode::start("rank", &[]);
    // The node links each new procedure `similar` to its nearest neighbours on its own: these
    // near-identical texts form a dense cluster around B.
    let a = node.add("rotate the TLS certificates with certbot", &["tls"]);
    let b = node.add("rotate the TLS certificates by hand", &["tls"]);
    let cluster: Vec<String> = (0..10)
        .map(|i| {
            node.add(
                &format!("rotate the TLS certificates by hand, take {i}"),
                &["tls"],
            )
        })
        .collect();
    let unused_neighbour = node.add(
        "rotate the TLS certificates with certbot on staging",
        &["tls"],
    );
    let stranger = node.add("vacuum the postgres database", &["db"]);
    let relations = |id: &str| node.show(id)["relations"].as_array().unwrap().len();
    assert!(relations(&b) >= 3, "B is in a cluster: {}", node.show(&b));
    assert!(relations(&unused_neighbour) >= 1);
    assert_eq!(relations(&stranger), 0, "{}", node.show(&stranger));

    record(&node, &a, 45, 5);
    record(&node, &b, 2, 3);
    for id in &cluster {
        record(&node, id, 20, 0);
    }
    let rows = top(&node, "n=20");
    assert!(position(&rows, &a) < position(&rows, &b), "{rows:#?}");
    for row in &rows {
        let score = row["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{row}");
        let prior =
            row["prior_successes"].as_f64().unwrap() + row["prior_failures"].as_f64().unwrap();
        assert!(
            prior <= 5.0 + 1e-9,
            "the prior is capped at contagion_prior_max: {row}"
        );
        // Evidence weighting is off by default: the weighted counts are the raw ones.
        assert_eq!(
            row["weighted_successes"].as_f64(),
            row["successes"].as_u64().map(|s| s as f64),
            "{row}"
        );
        assert_eq!(
            row["weighted_failures"].as_f64(),
            row["failures"].as_u64().map(|f| f as f64),
            "{row}"
        );
    }
    let b_row = &rows[position(&rows, &b)];
    assert!(
        b_row["boost"].as_f64().unwrap() > 0.0,
        "B is lifted by its cluster: {b_row}"
    );
    // Unused, both: the neighbour of proven procedures is lifted above the stranger.
    assert!(
        position(&rows, &unused_neighbour) < position(&rows, &stranger),
        "{rows:#?}"
    );
    assert_eq!(
        rows[position(&rows, &stranger)]["score"].as_f64().unwrap(),
        0.0
    );
    let shown = node.show(&unused_neighbour);
    assert!(shown["prior_successes"].as_f64().unwrap() > 0.0, "{shown}");
    let shown_a = node.show(&a);
    assert_eq!(
        shown_a["weighted_successes"].as_f64(),
        Some(45.0),
        "{shown_a}"
    );
    assert_eq!(shown["crystallized"], false);
}

#[test]
fn exploration_is_an_option_of_top_and_search_and_bad_values_are_refused() {
    let node = TestNode::start("explore", &[]);
    let lucky = node.add("restart the web pods", &["k8s"]);
    let untried = node.add("roll back the web deployment", &["k8s"]);
    node.outcome(&lucky, true);
    let ops = node.ops();
    // Greedy: the lucky one is always first, and rows carry no draw.
    for _ in 0..5 {
        let rows = top(&node, "n=2");
        assert_eq!(rows[0]["id"], lucky.as_str());
        assert!(rows[0].get("draw").is_none(), "{rows:?}");
    }
    // Thompson: Beta(2,1) against Beta(1,1); the untried one comes first about a third of
    // the time (P(it is first in 60 draws never) = (2/3)^60 < 1e-10).
    let mut untried_first = 0;
    for _ in 0..60 {
        let rows = top(&node, "n=2&explore=thompson");
        let draw = rows[0]["draw"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&draw));
        assert!(draw >= rows[1]["draw"].as_f64().unwrap());
        untried_first += usize::from(rows[0]["id"] == untried.as_str());
    }
    assert!(untried_first > 0 && untried_first < 60, "{untried_first}");

    let (code, body) = node.call(
        "GET",
        "/v1/spaces/default/search?q=web%20pods&explore=thompson",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body[0]["draw"].as_f64().is_some(), "{body}");

    for path in [
        "/v1/spaces/default/top?explore=ucb",
        "/v1/spaces/default/search?q=pods&explore=sometimes",
    ] {
        let (code, body) = node.call("GET", path, None);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("thompson"),
            "{body}"
        );
    }
    // The CLI flag reaches the same option.
    let (ok, stdout, stderr) = node.cli(&["top", "-n", "2", "--explore", "thompson", "--json"]);
    assert!(ok, "{stderr}");
    let rows: Vec<Value> = serde_json::from_slice(&stdout).unwrap();
    assert!(
        rows.iter().all(|r| r["draw"].as_f64().is_some()),
        "{rows:?}"
    );
    let (ok, _, stderr) = node.cli(&["top", "--explore", "ucb"]);
    assert!(!ok && stderr.contains("thompson"), "{stderr}");
    // Reading, exploring or refusing changed nothing.
    assert_eq!(node.ops(), ops);
}
