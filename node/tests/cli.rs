//! The CLI contract of the issue, through the real `knack` binary against a running daemon:
//! `add | edit | outcome | link | show | top | search | tail | peers | status`, human output by
//! default, `--json` for machines, clear errors and exit codes.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use common::{TestNode, knack_bin};
use serde_json::Value;

fn knack(node: &TestNode, args: &[&str]) -> Output {
    Command::new(knack_bin())
        .arg("--dir")
        .arg(&node.dir)
        .args(args)
        .output()
        .unwrap()
}

fn json(node: &TestNode, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = knack(node, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_command_works_through_the_cli() {
    let a = TestNode::start("a", &[]);
    let b = TestNode::start("b", &[a.multiaddr()]);

    let body_file = a.dir.join("body.sh");
    std::fs::write(
        &body_file,
        "#!/bin/sh\nhelm upgrade --install app ./chart\n",
    )
    .unwrap();
    let p = json(
        &a,
        &[
            "add",
            "--name",
            "deploy with helm",
            "--description",
            "roll out the chart",
            "--tag",
            "deploy",
            "--tag",
            "k8s",
            "--kind",
            "script",
            "--body-file",
            body_file.to_str().unwrap(),
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(p.len(), 64);
    let q = json(
        &a,
        &[
            "add",
            "--name",
            "deploy with kustomize",
            "--body",
            "kubectl apply -k .",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let linked = knack(
        &a,
        &["link", &p, &q, "--kind", "similar", "--strength", "0.8"],
    );
    assert!(linked.status.success());
    let view = json(
        &a,
        &[
            "outcome",
            &p,
            "--success",
            "--duration-ms",
            "1500",
            "--context",
            "prod",
        ],
    );
    assert_eq!(view["successes"], 1);
    json(&a, &["outcome", &p, "--failure"]);
    json(
        &a,
        &[
            "edit",
            &q,
            "--add-tag",
            "deploy",
            "--description",
            "kustomize overlays",
        ],
    );

    let shown = json(&a, &["show", &p]);
    for field in [
        "id",
        "name",
        "tags",
        "successes",
        "failures",
        "rate",
        "confidence",
        "boost",
        "score",
        "crystallized",
    ] {
        assert!(shown.get(field).is_some(), "show lacks {field}: {shown}");
    }
    assert_eq!(shown["failures"], 1);
    assert_eq!(shown["kind"], "script");
    assert_eq!(shown["contexts"]["prod"]["successes"], 1);
    assert!(
        shown["body"]["text"]
            .as_str()
            .unwrap()
            .contains("helm upgrade")
    );
    let human = String::from_utf8(knack(&a, &["show", &p]).stdout).unwrap();
    assert!(
        human.contains("deploy with helm") && human.contains("1 successes, 1 failures"),
        "{human}"
    );

    let top = json(&a, &["top", "-n", "5"]);
    let rows = top.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["score"].as_f64() >= rows[1]["score"].as_f64());
    let found = json(&a, &["search", "kustomize"]);
    assert_eq!(found[0]["id"], q.as_str());
    let tagged = json(&a, &["top", "--tag", "k8s"]);
    assert_eq!(tagged.as_array().unwrap().len(), 1);

    let status = json(&a, &["status"]);
    for field in ["peer_id", "listen_addrs", "peers", "spaces"] {
        assert!(status.get(field).is_some(), "status lacks {field}");
    }
    assert_eq!(status["spaces"][0]["name"], "default");
    assert!(status["spaces"][0]["digest"].as_str().unwrap().len() == 64);
    let peers = json(&a, &["peers"]);
    assert_eq!(peers[0]["peer_id"], b.status()["peer_id"]);

    // tail: start following, write on the other node, see the event arrive.
    let mut tail = Command::new(knack_bin())
        .arg("--dir")
        .arg(&a.dir)
        .args(["tail", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    b.outcome(&q, true);
    let mut line = String::new();
    BufReader::new(tail.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    tail.kill().unwrap();
    tail.wait().unwrap();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["type"], "applied");
    assert_eq!(event["local"], false);
    assert!(
        event["procedures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == q.as_str())
    );

    // Errors: a clear message on stderr, a failing exit status.
    let bad = knack(&a, &["outcome", &"00".repeat(32), "--success"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown procedure"));
    let bad = knack(&a, &["link", &p, &q, "--kind", "cousin"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("relation kind"));
    let nowhere = tempfile::tempdir().unwrap();
    let out = Command::new(knack_bin())
        .arg("--dir")
        .arg(nowhere.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("knack init"));
}
