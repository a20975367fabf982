//! Configuration from the environment through the real binary: `KNACK_*` variables override
//! `knack.toml`, flags override both, and a malformed variable stops the start with its name.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{TestNode, knack_bin, wait_for};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn space_names(node: &TestNode) -> Vec<String> {
    node.status()["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn environment_overrides_the_file_and_flags_override_the_environment() {
    let mut node = TestNode::init("env", &[]);
    node.set_config("spaces", "[\"from-file\"]");
    node.set_config("sync_interval_ms", "60000");
    let env_port = free_port();
    node.set_env("KNACK_API", &format!("127.0.0.1:{env_port}"));
    node.set_env("KNACK_SPACES", "from-env");
    node.set_env("KNACK_LISTEN", "/ip4/127.0.0.1/tcp/0");
    node.set_env("KNACK_API_TOKEN", "token-from-the-environment");
    let file_token = node.token.clone();
    node.launch_with(&["--space".into(), "from-flag".into()]);

    // Environment over file: the API port, the spaces, the listen addresses, the token.
    assert_eq!(node.api, format!("http://127.0.0.1:{env_port}"));
    node.token = "token-from-the-environment".into();
    assert_eq!(space_names(&node), ["default", "from-env", "from-flag"]);
    let listen = node.status()["listen_addrs"].clone();
    assert_eq!(listen.as_array().unwrap().len(), 1, "{listen}");
    assert!(listen[0].as_str().unwrap().contains("/tcp/"), "{listen}");
    let (code, _) = node.call_raw("GET", "/v1/status", None, Some(&file_token));
    assert_eq!(code, 401, "the file's token is replaced by KNACK_API_TOKEN");
    // The CLI reads the same variable.
    let out = Command::new(knack_bin())
        .args(["--dir", node.dir.to_str().unwrap(), "status", "--json"])
        .env("KNACK_API_TOKEN", "token-from-the-environment")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.stop();

    // Flag over environment.
    let flag_port = free_port();
    node.launch_with(&["--api".into(), format!("127.0.0.1:{flag_port}")]);
    assert_eq!(node.api, format!("http://127.0.0.1:{flag_port}"));
    node.stop();
}

#[test]
fn a_node_configured_only_by_the_environment_joins_its_bootstrap_peer() {
    let a = TestNode::start("a", &[]);
    let mut b = TestNode::init("b", &[]);
    b.set_env("KNACK_LISTEN", "/ip4/127.0.0.1/tcp/0");
    b.set_env("KNACK_API", "127.0.0.1:0");
    b.set_env("KNACK_BOOTSTRAP", &a.multiaddr());
    b.set_env("KNACK_SYNC_INTERVAL_MS", "500");
    b.set_env("KNACK_QUIC", "false");
    b.launch_bare();
    let a_id = a.peer_id().to_string();
    wait_for(Duration::from_secs(30), || {
        let peers = b.status()["peers"].clone();
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str() == Some(a_id.as_str()))
            .then_some(())
    })
    .expect("b never connected to the bootstrap peer of KNACK_BOOTSTRAP");
    let p = a.add("from a", &[]);
    wait_for(Duration::from_secs(30), || (b.ops() == 1).then_some(()))
        .expect("b never received a's procedure");
    assert_eq!(b.show(&p)["name"], "from a");
}

#[test]
fn a_malformed_variable_stops_the_start_and_names_itself() {
    let node = TestNode::init("bad", &[]);
    let stderr = common::run_refused_with_env(&node.dir, &[("KNACK_SYNC_INTERVAL_MS", "soon")]);
    assert!(stderr.contains("KNACK_SYNC_INTERVAL_MS"), "{stderr}");
}
