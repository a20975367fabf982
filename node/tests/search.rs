//! Semantic discovery through a real node's API and CLI: hybrid search finds the right
//! procedure for a task in other words, evidence and context decide between equals, automatic
//! `similar` edges carry contagion to other nodes, and bad queries get clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn add(node: &TestNode, name: &str, description: &str, tags: &[&str], body: &str) -> String {
    let (code, created) = node.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({"name": name, "description": description, "tags": tags, "body": body})),
    );
    assert_eq!(code, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

fn outcome_in(node: &TestNode, id: &str, success: bool, context: &str) {
    let (code, body) = node.call(
        "POST",
        &format!("/v1/spaces/default/procedures/{id}/outcomes"),
        Some(json!({"success": success, "duration_ms": 5, "contexts": [context]})),
    );
    assert_eq!(code, 200, "{body}");
}

/// `knack search` through the CLI, as JSON rows.
fn search(node: &TestNode, query: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["search", query, "--json", "-n", "3"];
    args.extend_from_slice(extra);
    let (ok, out, err) = node.cli(&args);
    assert!(ok, "knack search {query:?} failed: {err}");
    serde_json::from_slice::<Vec<Value>>(&out).unwrap()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

const CORPUS: &[(&str, &str, &[&str], &str)] = &[
    (
        "Restart a Kubernetes deployment",
        "roll the pods of a deployment when they are stuck or need new config",
        &["k8s"],
        "kubectl rollout restart deploy/$NAME",
    ),
    (
        "Free disk space on a full volume",
        "clean docker images and logs when the disk is full (ENOSPC)",
        &["linux", "docker"],
        "docker system prune -af; journalctl --vacuum-size=200M",
    ),
    (
        "Undo the last git commit",
        "revert a commit that was pushed by mistake without rewriting history",
        &["git"],
        "git revert HEAD",
    ),
    (
        "Rotate TLS certificates",
        "renew and reload expiring certificates with certbot",
        &["tls"],
        "certbot renew && systemctl reload nginx",
    ),
    (
        "Vacuum a bloated postgres table",
        "reclaim space after mass deletes and refresh planner statistics",
        &["postgres"],
        "VACUUM (FULL, ANALYZE) my_table;",
    ),
    (
        "Create a python virtual environment",
        "isolate project dependencies with venv and pip",
        &["python"],
        "python3 -m venv .venv && . .venv/bin/activate",
    ),
    (
        "Find which process holds a port",
        "address already in use: see what listens on a TCP port",
        &["linux", "networking"],
        "ss -ltnp 'sport = :8080'",
    ),
    (
        "Few-shot prompt for JSON extraction",
        "make a language model return strict JSON with examples",
        &["llm"],
        "Return only JSON. Example: ...",
    ),
];

#[test]
fn hybrid_search_finds_procedures_by_meaning_words_and_evidence() {
    let a = TestNode::start("a", &[]);
    let corpus: Vec<String> = CORPUS
        .iter()
        .map(|(n, d, t, b)| add(&a, n, d, t, b))
        .collect();
    // Paraphrased tasks, with their known best answers.
    let cases = [
        ("my pods are stuck, how do I bounce the deployment", 0),
        ("no space left on device", 1),
        ("I pushed a bad commit and want to take it back", 2),
        ("certificate is about to expire", 3),
        ("port 8080 address already in use", 6),
        ("get the model to answer in json", 7),
        ("ENOSPC", 1),
    ];
    for (query, best) in cases {
        let rows = search(&a, query, &[]);
        assert!(
            ids(&rows).contains(&corpus[best]),
            "{query:?}: expected {:?} in the top 3, got {:?}",
            CORPUS[best].0,
            rows.iter().map(|r| r["name"].clone()).collect::<Vec<_>>()
        );
    }

    // Two equally relevant procedures: the one with more successes wins.
    let p = add(
        &a,
        "Flush the DNS cache",
        "clear stale name resolution entries",
        &["dns"],
        "resolvectl flush-caches",
    );
    let q = add(
        &a,
        "Flush the DNS cache",
        "clear stale name resolution entries",
        &["dns"],
        "systemd-resolve --flush-caches",
    );
    for _ in 0..6 {
        a.outcome(&q, true);
    }
    a.outcome(&p, true);
    a.outcome(&p, false);
    let rows = search(&a, "flush stale dns cache entries", &[]);
    assert_eq!(ids(&rows)[0], q, "{rows:?}");

    // The context changes the winner when the context rates differ: P works in `ci`, Q fails.
    for _ in 0..8 {
        outcome_in(&a, &p, true, "ci");
        outcome_in(&a, &q, false, "ci");
    }
    let rows = search(
        &a,
        "flush stale dns cache entries",
        &["--context", "ci", "--explain"],
    );
    assert_eq!(ids(&rows)[0], p, "{rows:?}");
    let why = &rows[0]["explain"];
    assert!(why["cosine"].as_f64().unwrap() > 0.0, "{why}");
    assert!(why["context_rate"].as_f64().unwrap() > 0.8, "{why}");
    // Without --explain the rows carry no explanation.
    assert!(search(&a, "dns", &[])[0].get("explain").is_none());
    // The human form explains too.
    let (ok, text, _) = a.cli(&["search", "dns cache", "--explain"]);
    assert!(ok && String::from_utf8_lossy(&text).contains("similarity"));
}

#[test]
fn automatic_similar_edges_carry_contagion_across_nodes() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);
    let p = add(
        &a,
        "Restart the web deployment",
        "roll the web pods with kubectl rollout restart",
        &["k8s"],
        "kubectl rollout restart deploy/web",
    );
    let unrelated = add(
        &a,
        "Vacuum a postgres table",
        "reclaim space after deletes",
        &["postgres"],
        "VACUUM FULL t;",
    );
    let q = add(
        &a,
        "Restart the api deployment",
        "roll the api pods with kubectl rollout restart",
        &["k8s"],
        "kubectl rollout restart deploy/api",
    );
    // Q was linked `similar` to P by A, on its own.
    let view = a.show(&q);
    let relations = view["relations"].as_array().unwrap();
    let to_p = relations
        .iter()
        .find(|r| r["kind"] == "similar" && (r["to"] == p.as_str() || r["from"] == p.as_str()))
        .unwrap_or_else(|| panic!("no similar edge to P: {view}"));
    assert!(to_p["strength"].as_f64().unwrap() >= 0.5);
    assert!(
        !relations
            .iter()
            .any(|r| r["to"] == unrelated.as_str() || r["from"] == unrelated.as_str()),
        "an unrelated procedure was linked: {view}"
    );
    let (ok, out, err) = a.cli(&["similar", &q, "--json"]);
    assert!(ok, "{err}");
    let nearest: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(nearest[0]["id"], p.as_str());

    // The edge is an ordinary replicated relation: B's success on P boosts Q on both nodes.
    wait_for(WAIT, || (b.ops() == a.ops()).then_some(())).expect("b never caught up");
    b.outcome(&p, true);
    for node in [&a, &b] {
        wait_for(WAIT, || {
            (node.show(&q)["boost"].as_f64().unwrap() > 0.0).then_some(())
        })
        .unwrap_or_else(|| panic!("{}: no contagion to Q: {}", node.name, node.show(&q)));
        assert_eq!(node.show(&unrelated)["boost"].as_f64().unwrap(), 0.0);
    }
}

#[test]
fn bad_queries_and_a_bad_model_folder_get_clear_errors() {
    let mut a = TestNode::init("a", &[]);
    let config = a.dir.join("knack.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("embedder = \"hashing\""), "{text}");
    let text = text.replace(
        "embedder = \"hashing\"",
        "embedder = \"minilm\"\nminilm_dir = \"/nonexistent/minilm\"",
    );
    std::fs::write(&config, text).unwrap();
    a.launch();
    let status = a.status();
    assert!(
        status["search"]["embedder"]
            .as_str()
            .unwrap()
            .starts_with("hashing"),
        "{status}"
    );
    let fallback = status["search"]["fallback"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(fallback.contains("minilm"), "{status}");
    let id = add(
        &a,
        "Undo the last git commit",
        "revert it",
        &["git"],
        "git revert HEAD",
    );
    let (code, body) = a.call("GET", "/v1/spaces/default/search?q=%20%20", None);
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["kind"], "bad_query");
    let huge = "a".repeat(5000);
    let (code, body) = a.call("GET", &format!("/v1/spaces/default/search?q={huge}"), None);
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("4096"), "{body}");
    // ... and the node keeps serving on the default embedder.
    let rows = search(&a, "revert a bad commit", &[]);
    assert_eq!(ids(&rows)[0], id);
}

#[test]
fn a_large_space_is_indexed_off_the_actor_after_a_restart_and_search_waits_for_it() {
    let mut a = TestNode::start("a", &[]);
    let target = add(
        &a,
        "Undo the last git commit",
        "revert it",
        &["git"],
        "git revert HEAD",
    );
    for i in 0..40 {
        add(
            &a,
            &format!("Rotate log file number {i}"),
            "logrotate",
            &["logs"],
            "logrotate -f",
        );
    }
    a.stop();
    // Every space counts as large now: its index is built on a blocking thread at start.
    let config = a.dir.join("knack.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("build_inline_max = 2000"), "{text}");
    let text = text.replace("build_inline_max = 2000", "build_inline_max = 0");
    std::fs::write(&config, text).unwrap();
    a.launch();
    // Status answers at once; search answers 503 `index_building` until the index is in, then
    // finds the procedure.
    let status = a.status();
    assert!(status["search"]["building"].is_array(), "{status}");
    let found = wait_for(Duration::from_secs(30), || {
        let (code, body) = a.call(
            "GET",
            "/v1/spaces/default/search?q=revert%20a%20commit",
            None,
        );
        match code {
            200 => Some(body),
            503 => {
                assert_eq!(body["kind"], "index_building", "{body}");
                None
            }
            other => panic!("{other}: {body}"),
        }
    })
    .expect("search never answered after the restart");
    assert_eq!(found[0]["id"], target.as_str(), "{found}");
    assert_eq!(a.status()["search"]["building"], serde_json::json!([]));
    // A procedure added after the restart is indexed as usual.
    let late = add(
        &a,
        "Compress old backups",
        "xz them",
        &["backup"],
        "xz -9 *.tar",
    );
    let rows = search(&a, "compress backups", &[]);
    assert_eq!(ids(&rows)[0], late);
}
