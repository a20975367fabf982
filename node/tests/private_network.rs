//! Private networks through the real binary: `knack init --swarm-key` writes an IPFS
//! `swarm.key`, nodes run with `knack run --swarm-key` (or `swarm_key` in `knack.toml`, or
//! `KNACK_SWARM_KEY`) connect and converge only with peers holding the same key, bad key files
//! stop the start, and QUIC is off in a private network.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestNode, body_of, run_refused_with, wait_for};
use libp2p::pnet::PreSharedKey;

const WAIT: Duration = Duration::from_secs(60);

/// libp2p's counters of failed connection attempts (each one is a TCP connection that reached
/// the other side and did not complete the upgrade, or a refused dial).
const INCOMING_ERRORS: &str = "libp2p_swarm_connections_incoming_error_total";
const OUTGOING_ERRORS: &str = "libp2p_swarm_outgoing_connection_error_total";
const ESTABLISHED: &str = "libp2p_swarm_connections_established_total";

/// Writes a new swarm key with `knack init --swarm-key` on `node`'s data directory; returns
/// the fingerprint `knack init` printed.
fn init_key(node: &TestNode, key: &Path) -> String {
    let (ok, out, err) = node.cli(&["init", "--swarm-key", key.to_str().unwrap()]);
    assert!(ok, "knack init --swarm-key failed: {err}");
    let out = String::from_utf8(out).unwrap();
    out.split("(fingerprint ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no fingerprint printed: {out}"))
        .to_owned()
}

/// The key's fingerprint as libp2p computes it, and its 64 hex digits.
fn read_key(key: &Path) -> (String, String) {
    let text = std::fs::read_to_string(key).unwrap();
    let psk: PreSharedKey = text.parse().unwrap();
    let hex = text.lines().nth(2).unwrap().to_owned();
    (psk.fingerprint().to_string(), hex)
}

/// A node started in the private network of `key`, bootstrapped to `bootstrap`.
fn start_private(name: &str, key: &Path, bootstrap: &[String]) -> TestNode {
    let mut node = TestNode::init(name, bootstrap);
    node.run_args(&["--swarm-key", key.to_str().unwrap()]);
    node.launch();
    node
}

/// The default space's procedure count.
fn procedures(node: &TestNode) -> u64 {
    node.status()["spaces"][0]["procedures"].as_u64().unwrap()
}

/// Waits until every node holds `count` procedures and all show one digest and op count
/// (an add may be followed by an op of automatic `similar` links, so ops are not counted).
fn wait_same_state(nodes: &[&TestNode], count: u64) {
    let done = wait_for(WAIT, || {
        let states: Vec<(u64, String, u64)> = nodes
            .iter()
            .map(|n| (procedures(n), n.digest(), n.ops()))
            .collect();
        (states[0].0 == count && states.iter().all(|s| *s == states[0])).then_some(())
    });
    done.unwrap_or_else(|| {
        let states: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!(
                    "{}: {} procedures, {} ops, {}",
                    n.name,
                    procedures(n),
                    n.ops(),
                    n.digest()
                )
            })
            .collect();
        panic!(
            "no convergence on {count} procedures:\n{}",
            states.join("\n")
        )
    });
}

/// Waits until `node`'s metric `name` reaches `at_least`.
fn wait_metric(node: &TestNode, name: &str, at_least: f64) {
    wait_for(WAIT, || (node.metric(name) >= at_least).then_some(())).unwrap_or_else(|| {
        panic!(
            "{}: {name} never reached {at_least}:\n{}",
            node.name,
            node.metrics()
        )
    });
}

#[test]
fn nodes_with_the_same_key_connect_and_converge() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("swarm.key");
    let mut a = TestNode::init("a", &[]);
    let printed = init_key(&a, &key);
    let (fingerprint, hex) = read_key(&key);
    assert_eq!(
        printed, fingerprint,
        "knack init prints libp2p's fingerprint"
    );
    a.run_args(&["--swarm-key", key.to_str().unwrap()]);
    a.launch();
    let b = start_private("b", &key, &[a.multiaddr()]);

    // Real traffic over the encrypted links: 200 procedures from A, 100 outcomes from B, and
    // a 4 MiB body B fetches from A over /knack/blob/1.
    let ids: Vec<String> = (0..200)
        .map(|i| a.add(&format!("runbook {i}"), &["ops"]))
        .collect();
    wait_for(WAIT, || (procedures(&b) == 200).then_some(()))
        .expect("b never received a's procedures");
    for (i, id) in ids.iter().take(100).enumerate() {
        b.outcome(id, i % 3 != 0);
    }
    let body = body_of(4 << 20, 15);
    let big = a.add_file("replay the incident", &body);
    wait_same_state(&[&a, &b], 201);
    assert_eq!(a.show(&ids[0])["failures"], 1, "b's outcome reached a");
    assert_eq!(a.show(&ids[1])["successes"], 1, "b's outcome reached a");
    let out = b.dir.join("fetched.bin");
    let (ok, _, err) = b.cli(&["show", &big, "--body-out", out.to_str().unwrap()]);
    assert!(ok, "b could not fetch the body: {err}\n{}", b.log());
    assert!(std::fs::read(&out).unwrap() == body, "fetched body differs");
    assert_eq!(a.peers(), [b.peer_id().to_string()]);

    for node in [&a, &b] {
        // The status shows the fingerprint, the log too; neither shows the key.
        let status = node.status();
        assert_eq!(
            status["private_network"]["fingerprint"],
            fingerprint.as_str()
        );
        assert!(
            !status.to_string().contains(&hex),
            "the status shows the key"
        );
        let log = node.log();
        assert!(log.contains(&fingerprint), "{log}");
        assert!(!log.contains(&hex), "the log shows the key");
        assert_eq!(node.metric("knack_private_network"), 1.0);
        // TCP only: the QUIC listen address of the launch is skipped.
        let listen = status["listen_addrs"].to_string();
        assert!(
            listen.contains("/tcp/") && !listen.contains("quic"),
            "{listen}"
        );
        let (ok, text, err) = node.cli(&["status"]);
        assert!(ok, "{err}");
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(&format!("private (swarm key fingerprint {fingerprint}")));
    }
}

#[test]
fn peers_without_the_key_or_with_another_key_cannot_connect_in_either_direction() {
    let keys = tempfile::tempdir().unwrap();
    let (key, other_key) = (keys.path().join("swarm.key"), keys.path().join("other.key"));
    // C has no key, D another network's key; each writes its own procedure.
    let mut c = TestNode::start("c", &[]);
    let mut d = TestNode::init("d", &[]);
    init_key(&d, &other_key);
    d.run_args(&["--swarm-key", other_key.to_str().unwrap()]);
    d.launch();
    c.add("c's own runbook", &[]);
    d.add("d's own runbook", &[]);
    assert_eq!(c.metric("knack_private_network"), 0.0);
    assert!(c.status()["private_network"].is_null());

    // A (the key) dials C and D: the TCP connections reach them and fail the upgrade.
    let mut a = TestNode::init("a", &[c.multiaddr(), d.multiaddr()]);
    init_key(&a, &key);
    a.run_args(&["--swarm-key", key.to_str().unwrap()]);
    a.launch();
    wait_metric(&a, OUTGOING_ERRORS, 2.0);
    wait_metric(&c, INCOMING_ERRORS, 1.0);
    wait_metric(&d, INCOMING_ERRORS, 1.0);
    let b = start_private("b", &key, &[a.multiaddr()]);
    let first = a.add("a's runbook", &[]);
    wait_for(WAIT, || (procedures(&b) == 1).then_some(())).expect("b never received a's op");
    b.outcome(&first, true);
    wait_same_state(&[&a, &b], 1);
    wait_for(WAIT, || (a.show(&first)["successes"] == 1).then_some(()))
        .expect("b's outcome never reached a");

    // C and D dial A (restarted with A as bootstrap peer; A is up, so every failure is a
    // connection that reached A and did not complete).
    let incoming_before = a.metric(INCOMING_ERRORS);
    for node in [&mut c, &mut d] {
        node.stop();
        node.bootstrap_to(a.multiaddr());
        node.launch();
        wait_metric(node, OUTGOING_ERRORS, 1.0);
    }
    wait_metric(&a, INCOMING_ERRORS, incoming_before + 2.0);
    // Gossip in the private network goes on meanwhile.
    a.add("a's second runbook", &[]);
    wait_same_state(&[&a, &b], 2);

    // Not one connection completed between the networks, and no op crossed.
    for node in [&c, &d] {
        assert!(node.peers().is_empty(), "{} has peers", node.name);
        assert_eq!(node.metric(ESTABLISHED), 0.0, "{}", node.metrics());
        assert_eq!(procedures(node), 1, "{} received procedures", node.name);
        assert_eq!(node.ops(), 1, "{} received ops", node.name);
        assert_ne!(node.digest(), a.digest());
    }
    assert_eq!(a.peers(), [b.peer_id().to_string()]);
    assert_eq!(b.peers(), [a.peer_id().to_string()]);
    assert_eq!(procedures(&a), 2, "a received c's or d's procedure");
    let authors = a.status()["spaces"][0]["version_vector"].clone();
    assert_eq!(authors.as_object().unwrap().len(), 2, "{authors}");
}

/// The lines of a key file with `key` as its third line.
fn key_file(key: &str) -> String {
    format!("/key/swarm/psk/1.0.0/\n/base16/\n{key}\n")
}

#[test]
fn init_writes_a_key_run_accepts_and_bad_key_files_are_refused() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("swarm.key");
    let node = TestNode::init("n", &[]);
    let fingerprint = init_key(&node, &key);

    // The IPFS private-network format, owner-only.
    let text = std::fs::read_to_string(&key).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "/key/swarm/psk/1.0.0/");
    assert_eq!(lines[1], "/base16/");
    assert_eq!(lines[2].len(), 64);
    assert!(lines[2].bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second init does not replace it; --force does.
    let (ok, _, err) = node.cli(&["init", "--swarm-key", key.to_str().unwrap()]);
    assert!(!ok && err.contains("exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
    let (ok, _, err) = node.cli(&["init", "--swarm-key", key.to_str().unwrap(), "--force"]);
    assert!(ok, "{err}");
    assert_ne!(std::fs::read_to_string(&key).unwrap(), text);
    std::fs::write(&key, &text).unwrap();

    // Bad key files: refused, naming the file and the defect; nothing of the node starts.
    let hex = &lines[2];
    let cases: Vec<(&str, String, &str)> = vec![
        ("missing.key", String::new(), "does not exist"),
        ("empty.key", String::new(), "empty"),
        (
            "header.key",
            text.replace("/key/swarm/psk/1.0.0/", "/key/swarm/psk/2.0.0/"),
            "first line",
        ),
        (
            "encoding.key",
            text.replace("/base16/", "/base64/"),
            "second line",
        ),
        ("short.key", key_file(&hex[..63]), "63 hex digits, not 64"),
        ("long.key", key_file(&format!("{hex}ab")), "66 hex digits"),
        (
            "nonhex.key",
            key_file(&format!("{}xy", &hex[..62])),
            "'x', which is not a hex digit",
        ),
    ];
    for (file, contents, problem) in &cases {
        let path = keys.path().join(file);
        if *file != "missing.key" {
            std::fs::write(&path, contents).unwrap();
        }
        let err = run_refused_with(
            &node.dir,
            &[
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--swarm-key",
                path.to_str().unwrap(),
            ],
            &[],
        );
        assert!(err.contains(path.to_str().unwrap()), "{file}: {err}");
        assert!(err.contains(problem), "{file}: {err}");
        assert!(
            !node.dir.join("api.addr").exists(),
            "{file}: the API started"
        );
        assert!(
            !node.dir.join("db").exists(),
            "{file}: the store was opened"
        );
    }
    // The same from the environment and from knack.toml (a relative path there is relative
    // to the data directory).
    let short = keys.path().join("short.key");
    let err = run_refused_with(
        &node.dir,
        &["--listen", "/ip4/127.0.0.1/tcp/0"],
        &[("KNACK_SWARM_KEY", short.to_str().unwrap())],
    );
    assert!(err.contains("63 hex digits"), "{err}");
    std::fs::copy(keys.path().join("nonhex.key"), node.dir.join("net.key")).unwrap();
    node.set_config("swarm_key", "\"net.key\"");
    let err = run_refused_with(&node.dir, &["--listen", "/ip4/127.0.0.1/tcp/0"], &[]);
    let in_dir = node.dir.join("net.key");
    assert!(err.contains(in_dir.to_str().unwrap()), "{err}");
    assert!(err.contains("not a hex digit"), "{err}");

    // The good key from knack.toml: the node runs in its private network.
    std::fs::write(node.dir.join("net.key"), &text).unwrap();
    let mut node = node;
    node.launch_with(&["--api".into(), "127.0.0.1:0".into()]);
    assert_eq!(
        node.status()["private_network"]["fingerprint"],
        fingerprint.as_str()
    );
    node.stop();
    // KNACK_SWARM_KEY=none turns the file's key off.
    node.set_env("KNACK_SWARM_KEY", "none");
    node.launch_with(&["--api".into(), "127.0.0.1:0".into()]);
    assert!(node.status()["private_network"].is_null());
    assert_eq!(node.metric("knack_private_network"), 0.0);
}

#[test]
fn quic_is_off_in_a_private_network() {
    let keys = tempfile::tempdir().unwrap();
    let key: PathBuf = keys.path().join("swarm.key");
    let mut node = TestNode::init("q", &[]);
    init_key(&node, &key);
    // QUIC asked for by the environment and a QUIC listen address: the node starts over TCP
    // only and says so in its log.
    node.set_env("KNACK_QUIC", "true");
    node.launch_with(&[
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
        "--listen".into(),
        "/ip4/127.0.0.1/udp/0/quic-v1".into(),
        "--bootstrap".into(),
        "/ip4/127.0.0.1/udp/9/quic-v1".into(),
        "--api".into(),
        "127.0.0.1:0".into(),
        "--swarm-key".into(),
        key.to_str().unwrap().into(),
    ]);
    let listen = node.status()["listen_addrs"].clone();
    assert_eq!(listen.as_array().unwrap().len(), 1, "{listen}");
    assert!(listen[0].as_str().unwrap().contains("/tcp/"), "{listen}");
    let log = node.log();
    assert!(log.contains("QUIC is off in a private network"), "{log}");
    assert!(log.contains("not listening on a QUIC address"), "{log}");
    assert!(
        log.contains("not dialing a QUIC bootstrap address"),
        "{log}"
    );
    node.stop();

    // Only QUIC listen addresses: nothing a private network could listen on, refused.
    let err = run_refused_with(
        &node.dir,
        &[
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--swarm-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(err.contains("TCP only"), "{err}");
    assert!(err.contains("/ip4/127.0.0.1/udp/0/quic-v1"), "{err}");
}
