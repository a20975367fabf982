//! A harness for tests with real `knack` processes on 127.0.0.1.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod memory_node;

/// The `knack` binary under test.
pub fn knack_bin() -> &'static str {
    env!("CARGO_BIN_EXE_knack")
}

/// A `knack run` process with its data directory.
pub struct TestNode {
    pub name: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Option<Child>,
    pub api: String,
    pub token: String,
    extra: Vec<String>,
    /// Environment variables of the next launches.
    env: Vec<(String, String)>,
}

impl TestNode {
    /// Initialises a data directory and starts a node bootstrapped to `bootstrap`.
    pub fn start(name: &str, bootstrap: &[String]) -> TestNode {
        let mut node = TestNode::init(name, bootstrap);
        node.launch();
        node
    }

    /// The node's peer id (from its identity file; works before launch).
    pub fn peer_id(&self) -> libp2p::PeerId {
        let bytes = std::fs::read(self.dir.join("identity.key")).unwrap();
        libp2p::identity::Keypair::from_protobuf_encoding(&bytes)
            .unwrap()
            .public()
            .to_peer_id()
    }

    /// Initialises a data directory for a node bootstrapped to `bootstrap`, without starting
    /// it.
    pub fn init(name: &str, bootstrap: &[String]) -> TestNode {
        let tmp = tempfile::tempdir().unwrap();
        let mut node = TestNode::init_at(name, tmp.path().to_path_buf(), bootstrap);
        node._tmp = Some(tmp);
        node
    }

    /// Initialises a data directory at `dir` (kept after the test: the caller owns it).
    pub fn init_at(name: &str, dir: PathBuf, bootstrap: &[String]) -> TestNode {
        let status = Command::new(knack_bin())
            .args(["--dir", dir.to_str().unwrap(), "init"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let token = std::fs::read_to_string(dir.join("api.token"))
            .unwrap()
            .trim()
            .to_owned();
        let mut extra = Vec::new();
        for b in bootstrap {
            extra.push("--bootstrap".to_owned());
            extra.push(b.clone());
        }
        TestNode {
            name: name.to_owned(),
            dir,
            _tmp: None,
            child: None,
            api: String::new(),
            token,
            extra,
            env: Vec::new(),
        }
    }

    /// Sets a top-level key of the node's `knack.toml` (before launch), e.g. `("kademlia",
    /// "false")`.
    pub fn set_config(&self, key: &str, value: &str) {
        let path = self.dir.join("knack.toml");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(str::to_owned)
            .collect();
        lines.insert(0, format!("{key} = {value}"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// Runs the `knack` CLI against this node; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, Vec<u8>, String) {
        let out = Command::new(knack_bin())
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Adds arguments to `knack run` for the next launch.
    pub fn run_args(&mut self, args: &[&str]) {
        self.extra.extend(args.iter().map(|a| (*a).to_owned()));
    }

    /// Adds a procedure whose body is `bytes`, written to a file and given with
    /// `knack add --body-file` (uploaded when large); returns its id.
    pub fn add_file(&self, name: &str, bytes: &[u8]) -> String {
        let file = self.dir.join(format!("{}.bin", name.replace(' ', "-")));
        std::fs::write(&file, bytes).unwrap();
        let (ok, out, err) =
            self.cli(&["add", "--name", name, "--body-file", file.to_str().unwrap()]);
        assert!(ok, "knack add --body-file failed: {err}");
        String::from_utf8(out).unwrap().trim().to_owned()
    }

    /// Adds bootstrap peers for the next launch.
    pub fn bootstrap_to(&mut self, addr: String) {
        self.extra.push("--bootstrap".into());
        self.extra.push(addr);
    }

    /// Sets an environment variable of the next launches.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts the process (again) on the same data directory.
    pub fn launch(&mut self) {
        let mut args: Vec<String> = [
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--api",
            "127.0.0.1:0",
            "--sync-interval-ms",
            "500",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(self.extra.iter().cloned());
        self.launch_with(&args);
    }

    /// Starts the process (again) as `knack --dir DIR run` with no flag at all: only
    /// `knack.toml`, the environment set with [`TestNode::set_env`] and the data directory.
    pub fn launch_bare(&mut self) {
        self.launch_with(&[]);
    }

    /// Starts `knack --dir DIR run ARGS` and waits for its API.
    pub fn launch_with(&mut self, args: &[String]) {
        let _ = std::fs::remove_file(self.dir.join("api.addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .unwrap();
        let child = Command::new(knack_bin())
            .args(["--dir", self.dir.to_str().unwrap(), "run"])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let addr = wait_for(Duration::from_secs(30), || {
            std::fs::read_to_string(self.dir.join("api.addr"))
                .ok()
                .filter(|a| !a.trim().is_empty())
        })
        .unwrap_or_else(|| panic!("{} did not start: {}", self.name, self.log()));
        self.api = format!("http://{}", addr.trim());
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// Kills the process with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Stops the process with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{} did not stop on SIGTERM", self.name);
        }
    }

    /// A multiaddr peers can bootstrap to (TCP, with the peer id), once the node listens (the
    /// listen address is reported a moment after the API answers).
    pub fn multiaddr(&self) -> String {
        wait_for(Duration::from_secs(60), || {
            let status = self.status();
            let peer = status["peer_id"].as_str()?.to_owned();
            let tcp = status["listen_addrs"]
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str())
                .find(|a| a.contains("/tcp/"))?
                .to_owned();
            Some(format!("{tcp}/p2p/{peer}"))
        })
        .unwrap_or_else(|| panic!("{} does not listen on TCP", self.name))
    }

    /// The peer ids the node is connected to, as its status lists them.
    pub fn peers(&self) -> Vec<String> {
        self.status()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    /// A request with the node's token; returns (status, JSON body).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_raw(method, path, body.map(|b| b.to_string()), Some(&self.token))
    }

    /// A request with the node's token, or why it got no answer (the node was killed, for
    /// instance).
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        self.try_call_raw(method, path, body.map(|b| b.to_string()), Some(&self.token))
    }

    /// A request with any body and token.
    pub fn call_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.try_call_raw(method, path, body, token)
            .unwrap_or_else(|e| panic!("{} did not answer {method} {path}: {e}", self.name))
    }

    /// A request with any body and token, or why it got no answer.
    pub fn try_call_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        token: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.api);
        let agent = self.agent();
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut r = agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (m, body) => {
                let mut r = match m {
                    "POST" => agent.post(&url),
                    "PATCH" => agent.patch(&url),
                    other => panic!("method {other}"),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.header("Content-Type", "application/json")
                    .send(body.unwrap_or_default())
            }
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub fn status(&self) -> Value {
        let (code, body) = self.call("GET", "/v1/status", None);
        assert_eq!(code, 200, "{body}");
        body
    }

    pub fn metrics(&self) -> String {
        let (_, body) = self.call_raw("GET", "/metrics", None, None);
        body.as_str().unwrap_or_default().to_owned()
    }

    /// The value of a metric line starting with `prefix` (0 if absent).
    pub fn metric(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn add(&self, name: &str, tags: &[&str]) -> String {
        let (code, body) = self.call(
            "POST",
            "/v1/spaces/default/procedures",
            Some(json!({ "name": name, "tags": tags, "body": format!("steps of {name}") })),
        );
        assert_eq!(code, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub fn outcome(&self, id: &str, success: bool) -> Value {
        let (code, body) = self.call(
            "POST",
            &format!("/v1/spaces/default/procedures/{id}/outcomes"),
            Some(json!({ "success": success, "duration_ms": 10 })),
        );
        assert_eq!(code, 200, "{body}");
        body
    }

    pub fn link(&self, from: &str, to: &str, kind: &str, strength: f64) {
        let (code, body) = self.call(
            "POST",
            "/v1/spaces/default/links",
            Some(json!({ "from": from, "to": to, "kind": kind, "strength": strength })),
        );
        assert_eq!(code, 200, "{body}");
    }

    pub fn show(&self, id: &str) -> Value {
        let (code, body) = self.call("GET", &format!("/v1/spaces/default/procedures/{id}"), None);
        assert_eq!(code, 200, "{body}");
        body
    }

    /// The default space's digest.
    pub fn digest(&self) -> String {
        self.status()["spaces"][0]["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The default space's op count.
    pub fn ops(&self) -> u64 {
        self.status()["spaces"][0]["ops"].as_u64().unwrap()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `f` until it returns `Some`, or gives up after `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if started.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every node shows the same digest and op count `ops`; panics with the nodes'
/// statuses otherwise.
pub fn wait_converged(nodes: &[&TestNode], ops: u64, timeout: Duration) -> String {
    let done = wait_for(timeout, || {
        let digests: Vec<(String, u64)> = nodes.iter().map(|n| (n.digest(), n.ops())).collect();
        let first = digests[0].clone();
        (first.1 == ops && digests.iter().all(|d| *d == first)).then_some(first.0)
    });
    done.unwrap_or_else(|| {
        let states: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!(
                    "{}: {} ops {} peers {}",
                    n.name,
                    n.ops(),
                    n.digest(),
                    n.status()["peers"]
                )
            })
            .collect();
        panic!("no convergence to {ops} ops:\n{}", states.join("\n"))
    })
}

/// The data directory of a node (for tests that read files in it).
pub fn dir_of(node: &TestNode) -> &Path {
    &node.dir
}

/// `len` bytes that do not compress and are the same in every run of the same `seed`.
pub fn body_of(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A bare libp2p peer in the test process speaking one request-response `protocol` with
/// knack's framing (TCP, noise, yamux), kept connected while idle: a stand-in for a
/// misbehaving or hand-driven peer.
pub fn raw_peer(
    key: libp2p::identity::Keypair,
    protocol: &'static str,
) -> libp2p::Swarm<libp2p::request_response::Behaviour<knack_node::FrameCodec>> {
    use libp2p::request_response::{self, ProtocolSupport};
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                knack_node::FrameCodec::new(knack_node::MAX_FRAME_BYTES),
                [(libp2p::StreamProtocol::new(protocol), ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build()
}

/// Runs `knack run` on `dir` and expects it to refuse to start (exit with an error within
/// 30 s); returns its stderr.
pub fn run_refused(dir: &Path) -> String {
    run_refused_with_env(dir, &[])
}

/// As [`run_refused`], with `env` set for the process.
pub fn run_refused_with_env(dir: &Path, env: &[(&str, &str)]) -> String {
    run_refused_with(dir, &["--listen", "/ip4/127.0.0.1/tcp/0"], env)
}

/// As [`run_refused`], as `knack run --api 127.0.0.1:0 ARGS` with `env` set.
pub fn run_refused_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(knack_bin())
        .args(["--dir", dir.to_str().unwrap(), "run"])
        .args(["--api", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("knack run did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "knack run started: {stderr}");
    stderr
}

/// Pushes `envelopes` to `target` over `/knack/sync/1` from a bare peer with `key`, one push
/// request each, waiting for each answer.
pub fn push_envelopes(
    target: libp2p::Multiaddr,
    key: &libp2p::identity::Keypair,
    envelopes: &[knack_protocol::Envelope],
) {
    use futures::StreamExt;
    use libp2p::request_response;
    use libp2p::swarm::SwarmEvent;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut swarm = raw_peer(key.clone(), knack_node::SYNC_PROTOCOL);
        swarm.dial(target).unwrap();
        let peer = loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                swarm.select_next_some().await
            {
                break peer_id;
            }
        };
        for envelope in envelopes {
            let request = knack_protocol::SyncRequest::Push {
                space: envelope.space().clone(),
                have: knack_protocol::VersionVector::new(),
                envelopes: vec![envelope.encode()],
            }
            .encode();
            swarm.behaviour_mut().send_request(&peer, request);
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { .. },
                        ..
                    })
                    | SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                        break;
                    }
                    _ => {}
                }
            }
        }
    });
}
