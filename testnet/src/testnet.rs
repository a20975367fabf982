//! The testnet controller: creates the node directories (and namespaces), starts, stops,
//! kills and restarts `knack` processes, and keeps `testnet.json` up to date.

mod faults;
pub mod topology;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::client::NodeClient;
use crate::error::{Result, TestnetError};
use crate::netns;
use crate::process::{self, Launch};
use crate::state::{NodeRecord, TestnetState};

/// How long a node may take to stop on SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long SIGKILL may take to end a process.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Anti-entropy interval when none is given (faster than the node's default 5 s, so a
/// testnet converges in seconds).
pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 1_000;

/// How to create a testnet.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// The testnet directory.
    pub dir: PathBuf,
    /// How many nodes.
    pub nodes: usize,
    /// The `knack` binary.
    pub knack: PathBuf,
    /// One network namespace per node.
    pub netns: bool,
    /// Anti-entropy interval of every node.
    pub sync_interval_ms: u64,
    /// Bootstrap each node to at most this many others (see [`topology::bootstrap_targets`]);
    /// `None`: to every other node.
    pub bootstrap_peers: Option<usize>,
    /// Run every node in a private network: a new swarm key (`DIR/swarm.key`, written by
    /// `knack init --swarm-key`) given to every `knack run` (TCP only).
    pub swarm_key: bool,
}

/// A testnet this process drives.
#[derive(Debug)]
pub struct Testnet {
    state: TestnetState,
    children: BTreeMap<String, Child>,
}

impl Testnet {
    /// Creates the node directories (`DIR/nodes/n1..nN`, each `knack init`ed) and, with
    /// `netns`, the namespaces; starts nothing. Refuses when a testnet still runs in `DIR`;
    /// cleans up what a stopped one left (its node directories, stale namespaces).
    pub fn create(options: &UpOptions) -> Result<Testnet> {
        if options.nodes == 0 {
            return Err(TestnetError::Unsupported(
                "a testnet needs at least one node".into(),
            ));
        }
        std::fs::create_dir_all(&options.dir).map_err(|e| TestnetError::io(&options.dir, e))?;
        let dir =
            std::fs::canonicalize(&options.dir).map_err(|e| TestnetError::io(&options.dir, e))?;
        if let Ok(old) = TestnetState::load(&dir) {
            let mut old = Testnet {
                state: old,
                children: BTreeMap::new(),
            };
            if !old.running().is_empty() {
                return Err(TestnetError::AlreadyUp(dir));
            }
            old.down()?;
        }
        if options.netns
            && let Some(why) = netns::unavailable()
        {
            return Err(TestnetError::Unsupported(why));
        }
        let nodes_dir = dir.join("nodes");
        if nodes_dir.exists() {
            std::fs::remove_dir_all(&nodes_dir).map_err(|e| TestnetError::io(&nodes_dir, e))?;
        }
        let prefix = options.netns.then(netns::fresh_prefix);
        let mut nodes = Vec::new();
        for index in 1..=options.nodes {
            let name = format!("n{index}");
            let node_dir = nodes_dir.join(&name);
            process::init(&options.knack, &node_dir)?;
            nodes.push(NodeRecord {
                name,
                dir: node_dir,
                ip: match prefix {
                    Some(_) => netns::node_ip(index).to_string(),
                    None => "127.0.0.1".into(),
                },
                netns: prefix.as_ref().map(|p| netns::node_ns(p, index)),
                pid: None,
                api: None,
                peer_id: None,
                port: None,
                multiaddr: None,
            });
        }
        let swarm_key = if options.swarm_key {
            // Written by `knack init --swarm-key` on the first node's directory (initialised
            // already: it keeps its identity).
            let key = dir.join("swarm.key");
            process::init_swarm_key(&options.knack, &nodes[0].dir, &key)?;
            Some(key)
        } else {
            None
        };
        let state = TestnetState {
            swarm_key,
            dir,
            knack: options.knack.clone(),
            netns: prefix.clone(),
            sync_interval_ms: options.sync_interval_ms,
            bootstrap_peers: options.bootstrap_peers,
            nodes,
        };
        state.save()?;
        if let Some(prefix) = &prefix
            && let Err(e) = netns::create(prefix, options.nodes)
        {
            let _ = netns::destroy(prefix, options.nodes);
            return Err(e);
        }
        Ok(Testnet {
            state,
            children: BTreeMap::new(),
        })
    }

    /// The testnet recorded in `dir` (to drive processes another command started).
    pub fn open(dir: &Path) -> Result<Testnet> {
        let dir = std::fs::canonicalize(dir).map_err(|_| TestnetError::NoTestnet(dir.into()))?;
        Ok(Testnet {
            state: TestnetState::load(&dir)?,
            children: BTreeMap::new(),
        })
    }

    /// The recorded state.
    pub fn state(&self) -> &TestnetState {
        &self.state
    }

    /// The names of the nodes, in order.
    pub fn names(&self) -> Vec<String> {
        self.state.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Whether node `name` runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.state
            .node(name)
            .ok()
            .and_then(|n| n.pid.map(|pid| process::is_node_process(pid, &n.dir)))
            .unwrap_or(false)
    }

    /// The names of the running nodes.
    pub fn running(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| self.is_running(n))
            .collect()
    }

    /// A client of node `name` (it must run).
    pub fn client(&self, name: &str) -> Result<NodeClient> {
        let node = self.state.node(name)?;
        let api = node
            .api
            .as_deref()
            .filter(|_| self.is_running(name))
            .ok_or_else(|| TestnetError::node(name, "not running"))?;
        let token_path = node.dir.join("api.token");
        let token =
            std::fs::read_to_string(&token_path).map_err(|e| TestnetError::io(&token_path, e))?;
        Ok(NodeClient::new(
            name,
            api,
            token.trim(),
            node.netns.as_deref(),
        ))
    }

    /// Starts every node that does not run, in order, each bootstrapped to those before it.
    pub fn start_all(&mut self) -> Result<()> {
        for name in self.names() {
            if !self.is_running(&name) {
                self.start(&name)?;
            }
        }
        Ok(())
    }

    /// Starts node `name`, bootstrapped to the other nodes that ran (all, or its
    /// `bootstrap_peers` targets), on the TCP port it had before if it ran already (so that
    /// peers holding its address can redial it).
    pub fn start(&mut self, name: &str) -> Result<()> {
        if self.is_running(name) {
            return Err(TestnetError::node(name, "already running"));
        }
        let index = self.state.index(name)?;
        let total = self.state.nodes.len();
        let bootstrap: Vec<String> =
            topology::bootstrap_targets(index, total, self.state.bootstrap_peers)
                .into_iter()
                .filter_map(|i| self.state.nodes[i].multiaddr.clone())
                .collect();
        let node = self.state.nodes[index].clone();
        let listen = format!("/ip4/{}/tcp/{}", node.ip, node.port.unwrap_or(0));
        let launch = Launch {
            knack: &self.state.knack,
            dir: &node.dir,
            netns: node.netns.as_deref(),
            listen,
            bootstrap,
            sync_interval_ms: self.state.sync_interval_ms,
            swarm_key: self.state.swarm_key.as_deref(),
        };
        let mut child = process::spawn(&launch)?;
        let api = process::wait_api(name, &node.dir, || matches!(child.try_wait(), Ok(None)));
        let api = match api {
            Ok(api) => api,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let pid = child.id();
        self.children.insert(name.to_owned(), child);
        {
            let record = &mut self.state.nodes[index];
            record.pid = Some(pid);
            record.api = Some(api);
        }
        let status = self.client(name)?.status()?;
        let tcp = status
            .listen_addrs
            .iter()
            .find(|a| a.starts_with(&format!("/ip4/{}/tcp/", node.ip)))
            .cloned()
            .ok_or_else(|| TestnetError::node(name, "no TCP listen address"))?;
        let port = tcp.rsplit('/').next().and_then(|p| p.parse::<u16>().ok());
        let record = &mut self.state.nodes[index];
        record.port = port;
        record.multiaddr = Some(format!("{tcp}/p2p/{}", status.peer_id));
        record.peer_id = Some(status.peer_id);
        self.state.save()
    }

    fn reap(&mut self, name: &str) {
        if let Some(child) = self.children.get_mut(name)
            && matches!(child.try_wait(), Ok(Some(_)))
        {
            self.children.remove(name);
        }
    }

    fn forget(&mut self, name: &str) -> Result<()> {
        self.reap(name);
        if let Ok(index) = self.state.index(name) {
            self.state.nodes[index].pid = None;
            self.state.nodes[index].api = None;
        }
        self.state.save()
    }

    fn signal_and_wait(&mut self, name: &str, signal: Signal, timeout: Duration) -> Result<bool> {
        let node = self.state.node(name)?.clone();
        let Some(pid) = node.pid else {
            return Ok(true);
        };
        process::signal(pid, &node.dir, signal);
        let gone = process::wait_gone(pid, &node.dir, timeout, || self.reap(name));
        Ok(gone)
    }

    /// Kills node `name` with SIGKILL (no clean shutdown).
    pub fn kill(&mut self, name: &str) -> Result<()> {
        if !self.is_running(name) {
            return Err(TestnetError::node(name, "not running"));
        }
        if !self.signal_and_wait(name, Signal::SIGKILL, KILL_TIMEOUT)? {
            return Err(TestnetError::node(name, "still alive after SIGKILL"));
        }
        self.forget(name)
    }

    /// Stops node `name` with SIGTERM (SIGKILL if it does not stop in time).
    pub fn stop(&mut self, name: &str) -> Result<()> {
        if self.is_running(name) && !self.signal_and_wait(name, Signal::SIGTERM, STOP_TIMEOUT)? {
            self.signal_and_wait(name, Signal::SIGKILL, KILL_TIMEOUT)?;
        }
        self.forget(name)
    }

    /// Stops node `name` if it runs, then starts it again on the same directory and port.
    pub fn restart(&mut self, name: &str) -> Result<()> {
        self.stop(name)?;
        self.start(name)
    }

    /// Stops every node (by its recorded PID only) and deletes the namespaces.
    pub fn down(&mut self) -> Result<()> {
        let mut first_error = None;
        for name in self.names() {
            if let Err(e) = self.stop(&name) {
                first_error.get_or_insert(e);
            }
        }
        if let Some(prefix) = self.state.netns.clone()
            && let Err(e) = netns::destroy(&prefix, self.state.nodes.len())
        {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The log file of node `name`.
    pub fn log_path(&self, name: &str) -> Result<PathBuf> {
        Ok(self.state.node(name)?.dir.join(process::LOG_FILE))
    }
}
