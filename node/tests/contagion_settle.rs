//! Contagion sums at real size stay off the actor, through the HTTP API of real nodes: 6,000
//! procedures the node links `similar` on its own (dense clusters), then more outcomes than
//! the push budget with no read, so every neighbourhood is stale. A ranking then, a restart
//! (which leaves every neighbourhood stale) and a fresh node's cold sync (a bulk ingest) all
//! answer as the node did, and the sums are made by settle jobs (`knack_contagion_sums_total
//! {on="background"}`), not by the actor.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_converged, wait_for};
use serde_json::Value;

const PROCEDURES: usize = 6_000;
const OUTCOMES: usize = 7_000;
const WRITERS: usize = 8;
/// Fewest stale neighbourhoods the node sums by a settle job (`MANY_STALE` in the crdt).
const MANY_STALE: f64 = 4_096.0;

const VERBS: [&str; 10] = [
    "rotate", "restart", "deploy", "backup", "restore", "scale", "drain", "patch", "audit",
    "migrate",
];
const OBJECTS: [&str; 12] = [
    "certificates",
    "database",
    "cache",
    "queue",
    "cluster",
    "gateway",
    "ingress",
    "secrets",
    "volumes",
    "dns",
    "runners",
    "indexes",
];

fn name_of(i: usize) -> String {
    format!(
        "{} the {} of {} region {}",
        VERBS[i % VERBS.len()],
        OBJECTS[i / VERBS.len() % OBJECTS.len()],
        ["staging", "production", "edge"][i % 3],
        i % 97
    )
}

/// `(id, score)` of the top `n`.
fn top(node: &TestNode, n: usize) -> Vec<(String, f64)> {
    let (code, body) = node.call("GET", &format!("/v1/spaces/default/top?n={n}"), None);
    assert_eq!(code, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["id"].as_str().unwrap().to_owned(),
                row["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The same scores in the same places (the prior fades by 1e-5 over a few seconds), and the
/// same procedures up to the order of ties.
fn assert_same_ranking(got: &[(String, f64)], want: &[(String, f64)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() < 1e-4, "{what}: {got:?} vs {want:?}");
    }
    let mut got_ids: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    let mut want_ids: Vec<&str> = want.iter().map(|r| r.0.as_str()).collect();
    // The last place may be one of several tied.
    got_ids.pop();
    want_ids.pop();
    got_ids.sort_unstable();
    want_ids.sort_unstable();
    assert_eq!(got_ids, want_ids, "{what}");
}

fn sums_on(node: &TestNode, on: &str) -> f64 {
    node.metric(&format!("knack_contagion_sums_total{{on=\"{on}\"}}"))
}

/// Waits until settle jobs summed at least `at_least` neighbourhoods on `node` (the contagion
/// graph's nodes are the procedures with a relation or evidence: how many of the 6,000 the
/// node's own `similar` links reach depends on the order the adds landed in).
fn wait_summed_in_background(node: &TestNode, at_least: f64) {
    wait_for(Duration::from_secs(120), || {
        (sums_on(node, "background") >= at_least).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "settle jobs summed {} neighbourhoods, not {at_least} (actor: {}; jobs installed {}, \
             dropped {})",
            sums_on(node, "background"),
            sums_on(node, "actor"),
            node.metric("knack_contagion_settle_jobs_total{result=\"installed\"}"),
            node.metric("knack_contagion_settle_jobs_total{result=\"dropped\"}"),
        )
    });
}

#[test]
fn at_6000_procedures_a_backlog_a_restart_and_a_cold_sync_sum_contagion_off_the_actor() {
    let mut a = TestNode::start("settle-a", &[]);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..WRITERS)
            .map(|w| {
                let a = &a;
                scope.spawn(move || {
                    (w..PROCEDURES)
                        .step_by(WRITERS)
                        .map(|i| a.add(&name_of(i), &["ops"]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().unwrap()).collect()
    });
    let edges = a.status()["spaces"][0]["relations"].clone();
    // One read settles the graph the adds drew; from here on only outcomes move the sums.
    top(&a, 5);
    let actor_before = sums_on(&a, "actor");
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let (a, ids) = (&a, &ids);
            scope.spawn(move || {
                for i in (w..OUTCOMES).step_by(WRITERS) {
                    // Skewed: a few procedures collect most of the evidence.
                    let at = (i * i * 7 + i) % ids.len().min(300 + i);
                    a.outcome(&ids[at], i % 10 < 7);
                }
            });
        }
    });

    // Every neighbourhood is stale: the ranking read sums them off the actor.
    let ranked = top(&a, 20);
    wait_summed_in_background(&a, MANY_STALE);
    assert!(
        sums_on(&a, "actor") - actor_before < MANY_STALE,
        "the actor summed {} neighbourhoods after the backlog ({edges} relations)",
        sums_on(&a, "actor") - actor_before
    );
    assert_same_ranking(&top(&a, 20), &ranked, "installed sums");
    let shown: Value = a.show(&ranked[0].0);
    assert!(
        (shown["score"].as_f64().unwrap() - ranked[0].1).abs() < 1e-4,
        "{shown}"
    );
    assert!(
        ranked
            .iter()
            .any(|r| a.show(&r.0)["boost"].as_f64().unwrap() > 0.0),
        "contagion lifts some of the top: {ranked:?}"
    );

    // A restart leaves every neighbourhood stale: the first tick sends a settle job out.
    a.stop();
    a.launch();
    assert_same_ranking(&top(&a, 20), &ranked, "after a restart");
    wait_summed_in_background(&a, MANY_STALE);
    assert!(sums_on(&a, "actor") < MANY_STALE, "{}", a.metrics());
    assert_same_ranking(&top(&a, 20), &ranked, "after a restart, installed");

    // A fresh node ingests the whole space in bulk, then ranks as `a` does.
    let b = TestNode::start("settle-b", &[a.multiaddr()]);
    wait_converged(&[&a, &b], a.ops(), Duration::from_secs(120));
    assert_same_ranking(&top(&b, 20), &ranked, "a fresh node after its cold sync");
    wait_summed_in_background(&b, MANY_STALE);
    assert!(sums_on(&b, "actor") < MANY_STALE, "{}", b.metrics());
    assert_same_ranking(&top(&b, 20), &ranked, "a fresh node, installed");
    assert!(b.metric("knack_contagion_settle_jobs_total{result=\"installed\"}") >= 1.0);
}
