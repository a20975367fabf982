//! Real `knack` processes on 127.0.0.1, driven through the `knack-testnet` binary: a small
//! smoke scenario, the up/status/kill/restart/down commands, and failures that must fail.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The `knack` binary: next to the test's target directory, built on demand.
fn knack() -> PathBuf {
    if let Some(path) = std::env::var_os("KNACK_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin = target.join("knack");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "knack-node", "--bin", "knack"])
            .status()
            .unwrap();
        assert!(status.success(), "building the knack binary failed");
    }
    assert!(bin.is_file(), "no knack binary at {}", bin.display());
    bin
}

fn testnet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_knack-testnet"))
        .arg("--dir")
        .arg(dir)
        .arg("--knack")
        .arg(knack())
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const SMALL_SMOKE: &str = r#"
name = "small-smoke"
nodes = 3
sync_interval_ms = 500

[[step]]
action = "start"

[[step]]
action = "load"
rate = 30
duration = "3s"
procedures = 3
success_ratio = 0.9

[[step]]
action = "wait-until-converged"
timeout = "60s"

[[step]]
action = "assert"
check = "digests"

[[step]]
action = "assert"
check = "no-loss"

[[step]]
action = "assert"
check = "count"
what = "procedures"
equals = 3
"#;

#[test]
fn a_small_smoke_scenario_passes_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("small-smoke.toml");
    std::fs::write(&scenario, SMALL_SMOKE).unwrap();
    let dir = tmp.path().join("net");
    let output = testnet(&dir, &["run", scenario.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["nothing_lost"], true, "{report:#}");
    let acked = report["outcome_writes"]["acked"].as_u64().unwrap();
    assert!(acked >= 60, "{report:#}");
    for (node, present) in report["outcomes_present"].as_object().unwrap() {
        assert_eq!(present.as_u64().unwrap(), acked, "{node}");
    }
    assert!(
        report["latency"]["samples"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(report["per_node"].as_object().unwrap().len(), 3);
    assert!(
        std::fs::read_to_string(dir.join("report.txt"))
            .unwrap()
            .contains("PASSED")
    );
    // Every node process is gone once the run is over.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).unwrap()).unwrap();
    for node in state["nodes"].as_array().unwrap() {
        assert!(node["pid"].is_null(), "{state:#}");
    }
}

#[test]
fn up_status_kill_restart_down() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let up = testnet(&dir, &["up", "--nodes", "2", "--sync-interval-ms", "500"]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("n2"),
        "{}",
        text(&up)
    );
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).unwrap()).unwrap();
    let pids: Vec<u64> = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap())
        .collect();
    let converged = || {
        for _ in 0..100 {
            let status = testnet(&dir, &["status", "--json"]);
            let value: Value = serde_json::from_slice(&status.stdout).unwrap_or(Value::Null);
            if value["converged"] == true {
                return value;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("{}", text(&testnet(&dir, &["status"])));
    };
    let status = converged();
    assert_eq!(status["nodes"][0]["peers"], 1, "{status:#}");

    let up_again = testnet(&dir, &["up", "--nodes", "2"]);
    assert!(!up_again.status.success(), "{}", text(&up_again));

    let kill = testnet(&dir, &["kill", "n2"]);
    assert!(kill.status.success(), "{}", text(&kill));
    let status = testnet(&dir, &["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("n2     stopped"),
        "{}",
        text(&status)
    );
    let restart = testnet(&dir, &["restart", "n2"]);
    assert!(restart.status.success(), "{}", text(&restart));
    converged();
    let logs = testnet(&dir, &["logs", "n1"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("knack node"),
        "{}",
        text(&logs)
    );

    let down = testnet(&dir, &["down"]);
    assert!(down.status.success(), "{}", text(&down));
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.contains(dir.to_str().unwrap()));
        assert!(!alive, "pid {pid} still runs");
    }
}

#[test]
fn a_private_testnet_runs_every_node_with_one_swarm_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let up = testnet(
        &dir,
        &[
            "up",
            "--nodes",
            "3",
            "--sync-interval-ms",
            "500",
            "--swarm-key",
        ],
    );
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("private network"),
        "{}",
        text(&up)
    );
    let key = std::fs::read_to_string(dir.join("swarm.key")).unwrap();
    assert!(
        key.starts_with("/key/swarm/psk/1.0.0/\n/base16/\n"),
        "{key}"
    );
    let mut status = Value::Null;
    for _ in 0..150 {
        let out = testnet(&dir, &["status", "--json"]);
        status = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let all_peers = status["nodes"]
            .as_array()
            .is_some_and(|nodes| nodes.iter().all(|n| n["peers"] == 2));
        if status["converged"] == true && all_peers {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(status["converged"], true, "{status:#}");
    // Every node runs in the one private network: the same fingerprint in every log.
    let fingerprints: Vec<String> = ["n1", "n2", "n3"]
        .iter()
        .map(|node| {
            let log = String::from_utf8_lossy(&testnet(&dir, &["logs", node]).stdout).into_owned();
            log.lines()
                .find(|l| l.contains("private network: only peers with the same swarm key"))
                .and_then(|line| {
                    line.split(|c: char| !c.is_ascii_hexdigit())
                        .find(|token| token.len() == 32)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| panic!("{node} is not in a private network:\n{log}"))
        })
        .collect();
    assert!(
        fingerprints.iter().all(|f| *f == fingerprints[0]),
        "{fingerprints:?}"
    );
    let down = testnet(&dir, &["down"]);
    assert!(down.status.success(), "{}", text(&down));
}

#[test]
fn a_failed_assertion_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("fail.toml");
    std::fs::write(
        &scenario,
        "name = \"fail\"\nnodes = 1\n[[step]]\naction = \"start\"\n[[step]]\naction = \"assert\"\ncheck = \"count\"\nwhat = \"procedures\"\nequals = 99\n",
    )
    .unwrap();
    let dir = tmp.path().join("net");
    let output = testnet(&dir, &["run", "--quiet", scenario.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("FAILED"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_partition_without_netns_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/partition-heal.toml");
    let output = testnet(tmp.path(), &["run", scenario.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--netns"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_bad_scenario_file_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("bad.toml");
    std::fs::write(
        &scenario,
        "name = \"bad\"\nnodes = 2\n\n[[step]]\naction = \"nap\"\n",
    )
    .unwrap();
    let output = testnet(tmp.path(), &["run", scenario.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml:4:") || stderr.contains("bad.toml:5:"),
        "{}",
        text(&output)
    );
}
