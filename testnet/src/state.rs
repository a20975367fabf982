//! `DIR/testnet.json`: what `up` started, so that later commands (`status`, `kill`, `down`)
//! find the same nodes, and only them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TestnetError};

/// The state file's name inside the testnet directory.
pub const STATE_FILE: &str = "testnet.json";

/// A testnet as recorded on disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestnetState {
    /// The testnet directory (absolute).
    pub dir: PathBuf,
    /// The `knack` binary the nodes run.
    pub knack: PathBuf,
    /// The network namespaces, when the testnet runs with `--netns`.
    pub netns: Option<String>,
    /// Anti-entropy interval passed to every node.
    pub sync_interval_ms: u64,
    /// Each node bootstraps to at most this many others (`None`: to every other node).
    #[serde(default)]
    pub bootstrap_peers: Option<usize>,
    /// The swarm key every node runs with (`up --swarm-key`: a private network), if any.
    #[serde(default)]
    pub swarm_key: Option<PathBuf>,
    /// The nodes, in start order.
    pub nodes: Vec<NodeRecord>,
}

/// One node of the testnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `n1`, `n2`, ...
    pub name: String,
    /// Its data directory.
    pub dir: PathBuf,
    /// The IP address it listens on (127.0.0.1, or its namespace's address).
    pub ip: String,
    /// Its network namespace, with `--netns`.
    pub netns: Option<String>,
    /// The process id of its `knack run`, while it runs.
    pub pid: Option<u32>,
    /// The API base URL (`http://127.0.0.1:PORT`, inside its namespace with `--netns`).
    pub api: Option<String>,
    /// The libp2p peer id (known once it ran).
    pub peer_id: Option<String>,
    /// The TCP port it listens on (kept across restarts so peers can redial it).
    pub port: Option<u16>,
    /// The multiaddr peers bootstrap to (`/ip4/IP/tcp/PORT/p2p/PEER`).
    pub multiaddr: Option<String>,
}

impl TestnetState {
    /// The state file of `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the state of the testnet in `dir`.
    pub fn load(dir: &Path) -> Result<TestnetState> {
        let path = TestnetState::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TestnetError::NoTestnet(dir.to_path_buf()));
            }
            Err(e) => return Err(TestnetError::io(path, e)),
        };
        serde_json::from_str(&text).map_err(|e| TestnetError::State {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes the state file (atomically: a temporary file renamed over it).
    pub fn save(&self) -> Result<()> {
        let path = TestnetState::path(&self.dir);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| TestnetError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(|e| TestnetError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| TestnetError::io(&path, e))
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Result<&NodeRecord> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| TestnetError::UnknownNode(name.to_owned()))
    }

    /// The index of the node named `name`.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| TestnetError::UnknownNode(name.to_owned()))
    }
}
