//! The environment layer of the configuration: `KNACK_*` variables over `knack.toml`.
//!
//! `knack run` resolves its configuration as **flag > environment > file > default**: it reads
//! `knack.toml` (or the defaults), replaces every key a `KNACK_*` variable sets, then applies
//! its flags. An environment variable *replaces* the file's value (lists included); flags keep
//! their documented meaning (`--listen` replaces, `--bootstrap` and `--space` add). An empty
//! variable counts as unset. Lists are separated by commas or white space.
//!
//! | variable | `knack.toml` key | value |
//! |---|---|---|
//! | `KNACK_LISTEN` | `listen` | multiaddrs |
//! | `KNACK_API` | `api` | `HOST:PORT` |
//! | `KNACK_BOOTSTRAP` | `bootstrap` | multiaddrs (`/dns4/NAME/tcp/PORT` too) |
//! | `KNACK_SPACES` | `spaces` | space names |
//! | `KNACK_MEMBERS` | `members` | `space=PEER,PEER;space2=PEER` |
//! | `KNACK_MEMBERS_ONLY` | `members_only` | `space=ROOT_PEER;space2=ROOT_PEER` |
//! | `KNACK_MDNS` | `mdns` | `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`) |
//! | `KNACK_KADEMLIA` | `kademlia` | boolean |
//! | `KNACK_QUIC` | `quic` | boolean |
//! | `KNACK_SWARM_KEY` | `swarm_key` | path of a swarm key file (`none` unsets the file's) |
//! | `KNACK_SYNC_INTERVAL_MS` | `sync_interval_ms` | integer |
//! | `KNACK_SNAPSHOT_EVERY_OPS` | `snapshot_every_ops` | integer |
//! | `KNACK_IPFS_API` | `ipfs_api` | URL (`none` unsets the file's) |
//! | `KNACK_BLOB_CACHE_BYTES` | `blob_cache_bytes` | integer |
//! | `KNACK_MAX_BLOB_BYTES` | `max_blob_bytes` | integer |
//! | `KNACK_SEARCH_EMBEDDER` | `search.embedder` | `hashing` or `minilm` |
//! | `KNACK_SEARCH_MINILM_DIR` | `search.minilm_dir` | path |
//!
//! Not `knack.toml` keys, read elsewhere: `KNACK_DIR` (the data directory, [`crate::dirs`])
//! and `KNACK_API_TOKEN` (the API token instead of `api.token`, [`crate::dirs::read_token`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use knack_crdt::SpaceName;
use libp2p::PeerId;

use super::Config;
use crate::error::NodeError;

/// Every variable [`Config::apply_env`] reads, in the order of the table above.
pub const ENV_VARS: &[&str] = &[
    "KNACK_LISTEN",
    "KNACK_API",
    "KNACK_BOOTSTRAP",
    "KNACK_SPACES",
    "KNACK_MEMBERS",
    "KNACK_MEMBERS_ONLY",
    "KNACK_MDNS",
    "KNACK_KADEMLIA",
    "KNACK_QUIC",
    "KNACK_SWARM_KEY",
    "KNACK_SYNC_INTERVAL_MS",
    "KNACK_SNAPSHOT_EVERY_OPS",
    "KNACK_IPFS_API",
    "KNACK_BLOB_CACHE_BYTES",
    "KNACK_MAX_BLOB_BYTES",
    "KNACK_SEARCH_EMBEDDER",
    "KNACK_SEARCH_MINILM_DIR",
];

impl Config {
    /// Replaces every key set by a `KNACK_*` variable of the process environment (see the
    /// module docs). A malformed value is an error naming the variable.
    pub fn apply_process_env(&mut self) -> Result<(), NodeError> {
        self.apply_env(|name| std::env::var(name).ok())
    }

    /// Replaces every key set by a variable that `lookup` finds (`lookup("KNACK_API")` ->
    /// `Some("127.0.0.1:7400")`). Empty values count as unset.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), NodeError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("KNACK_LISTEN") {
            self.listen = list("KNACK_LISTEN", &v)?;
        }
        if let Some(v) = get("KNACK_API") {
            self.api = one("KNACK_API", v.trim())?;
        }
        if let Some(v) = get("KNACK_BOOTSTRAP") {
            self.bootstrap = list("KNACK_BOOTSTRAP", &v)?;
        }
        if let Some(v) = get("KNACK_SPACES") {
            self.spaces = items(&v)
                .map(|s| SpaceName::new(s).map_err(|e| invalid("KNACK_SPACES", e)))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("KNACK_MEMBERS") {
            self.members = members(&v)?;
        }
        if let Some(v) = get("KNACK_MEMBERS_ONLY") {
            self.members_only = members_only(&v)?;
        }
        if let Some(v) = get("KNACK_MDNS") {
            self.mdns = boolean("KNACK_MDNS", &v)?;
        }
        if let Some(v) = get("KNACK_KADEMLIA") {
            self.kademlia = boolean("KNACK_KADEMLIA", &v)?;
        }
        if let Some(v) = get("KNACK_QUIC") {
            self.quic = boolean("KNACK_QUIC", &v)?;
        }
        if let Some(v) = get("KNACK_SWARM_KEY") {
            let v = v.trim();
            self.swarm_key = (!v.eq_ignore_ascii_case("none")).then(|| PathBuf::from(v));
        }
        if let Some(v) = get("KNACK_SYNC_INTERVAL_MS") {
            self.sync_interval_ms = one("KNACK_SYNC_INTERVAL_MS", v.trim())?;
        }
        if let Some(v) = get("KNACK_SNAPSHOT_EVERY_OPS") {
            self.snapshot_every_ops = one("KNACK_SNAPSHOT_EVERY_OPS", v.trim())?;
        }
        if let Some(v) = get("KNACK_IPFS_API") {
            let v = v.trim();
            self.ipfs_api = (!v.eq_ignore_ascii_case("none")).then(|| v.to_owned());
        }
        if let Some(v) = get("KNACK_BLOB_CACHE_BYTES") {
            self.blob_cache_bytes = one("KNACK_BLOB_CACHE_BYTES", v.trim())?;
        }
        if let Some(v) = get("KNACK_MAX_BLOB_BYTES") {
            self.max_blob_bytes = one("KNACK_MAX_BLOB_BYTES", v.trim())?;
        }
        if let Some(v) = get("KNACK_SEARCH_EMBEDDER") {
            self.search.embedder = v.trim().to_owned();
        }
        if let Some(v) = get("KNACK_SEARCH_MINILM_DIR") {
            self.search.minilm_dir = Some(PathBuf::from(v.trim()));
        }
        Ok(())
    }
}

/// The error of a malformed variable.
fn invalid(name: &str, reason: impl std::fmt::Display) -> NodeError {
    NodeError::Config {
        path: format!("environment variable {name}"),
        reason: reason.to_string(),
    }
}

/// The items of a list: separated by commas or white space, empty ones dropped.
fn items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// One value parsed by its `FromStr`.
fn one<T: FromStr>(name: &str, value: &str) -> Result<T, NodeError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| invalid(name, format!("{value:?}: {e}")))
}

/// A list of values parsed by their `FromStr`.
fn list<T: FromStr>(name: &str, value: &str) -> Result<Vec<T>, NodeError>
where
    T::Err: std::fmt::Display,
{
    items(value).map(|item| one(name, item)).collect()
}

/// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
fn boolean(name: &str, value: &str) -> Result<bool, NodeError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(invalid(
            name,
            format!("{other:?} is not a boolean (true or false)"),
        )),
    }
}

/// `space=PEER,PEER;space2=PEER`.
fn members(value: &str) -> Result<BTreeMap<SpaceName, Vec<PeerId>>, NodeError> {
    const NAME: &str = "KNACK_MEMBERS";
    let mut out = BTreeMap::new();
    for entry in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (space, peers) = entry
            .split_once('=')
            .ok_or_else(|| invalid(NAME, format!("{entry:?} is not SPACE=PEER,PEER")))?;
        let space = SpaceName::new(space.trim()).map_err(|e| invalid(NAME, e))?;
        let peers: Vec<PeerId> = list(NAME, peers)?;
        out.insert(space, peers);
    }
    Ok(out)
}

/// `space=ROOT_PEER;space2=ROOT_PEER`.
fn members_only(value: &str) -> Result<BTreeMap<SpaceName, PeerId>, NodeError> {
    const NAME: &str = "KNACK_MEMBERS_ONLY";
    let mut out = BTreeMap::new();
    for entry in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (space, root) = entry
            .split_once('=')
            .ok_or_else(|| invalid(NAME, format!("{entry:?} is not SPACE=ROOT_PEER")))?;
        let space = SpaceName::new(space.trim()).map_err(|e| invalid(NAME, e))?;
        out.insert(space, one(NAME, root.trim())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn every_variable_replaces_its_key() {
        let peer = PeerId::random();
        let mut config = Config {
            spaces: vec![SpaceName::new("from-file").unwrap()],
            ipfs_api: Some("http://127.0.0.1:5001".into()),
            ..Config::default()
        };
        config
            .apply_env(env(&[
                (
                    "KNACK_LISTEN",
                    "/ip4/0.0.0.0/tcp/7300, /ip4/0.0.0.0/udp/7300/quic-v1",
                ),
                ("KNACK_API", "0.0.0.0:7400"),
                (
                    "KNACK_BOOTSTRAP",
                    "/dns4/knack-0.knack/tcp/7300 /dns4/knack-1.knack/tcp/7300",
                ),
                ("KNACK_SPACES", "ops,team"),
                ("KNACK_MEMBERS", &format!("ops={peer}; team={peer}")),
                ("KNACK_MEMBERS_ONLY", &format!("secret={peer}")),
                ("KNACK_MDNS", "yes"),
                ("KNACK_KADEMLIA", "off"),
                ("KNACK_QUIC", "0"),
                ("KNACK_SWARM_KEY", "/secrets/swarm.key"),
                ("KNACK_SYNC_INTERVAL_MS", "1500"),
                ("KNACK_SNAPSHOT_EVERY_OPS", "77"),
                ("KNACK_IPFS_API", "none"),
                ("KNACK_BLOB_CACHE_BYTES", "1024"),
                ("KNACK_MAX_BLOB_BYTES", "2048"),
                ("KNACK_SEARCH_EMBEDDER", "minilm"),
                ("KNACK_SEARCH_MINILM_DIR", "/models/minilm"),
            ]))
            .unwrap();
        assert_eq!(config.listen.len(), 2);
        assert_eq!(config.listen[0].to_string(), "/ip4/0.0.0.0/tcp/7300");
        assert_eq!(config.api.to_string(), "0.0.0.0:7400");
        assert_eq!(
            config.bootstrap[1].to_string(),
            "/dns4/knack-1.knack/tcp/7300"
        );
        let names: Vec<&str> = config.spaces.iter().map(SpaceName::as_str).collect();
        assert_eq!(names, ["ops", "team"]);
        assert_eq!(config.members.len(), 2);
        assert_eq!(config.members[&SpaceName::new("ops").unwrap()], vec![peer]);
        assert_eq!(
            config.members_only[&SpaceName::new("secret").unwrap()],
            peer
        );
        assert!(config.mdns && !config.kademlia && !config.quic);
        assert_eq!(config.swarm_key, Some(PathBuf::from("/secrets/swarm.key")));
        assert_eq!(config.sync_interval_ms, 1500);
        assert_eq!(config.snapshot_every_ops, 77);
        assert_eq!(config.ipfs_api, None);
        assert_eq!(
            (config.blob_cache_bytes, config.max_blob_bytes),
            (1024, 2048)
        );
        assert_eq!(config.search.embedder, "minilm");
        assert_eq!(
            config.search.minilm_dir,
            Some(PathBuf::from("/models/minilm"))
        );
    }

    #[test]
    fn unset_and_empty_variables_keep_the_file() {
        let file = Config {
            sync_interval_ms: 1234,
            ..Config::default()
        };
        let mut config = file.clone();
        config
            .apply_env(env(&[
                ("KNACK_SYNC_INTERVAL_MS", " "),
                ("KNACK_BOOTSTRAP", ""),
            ]))
            .unwrap();
        assert_eq!(config, file);
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        for (name, value) in [
            ("KNACK_API", "not an address"),
            ("KNACK_LISTEN", "/ip4/1.2.3.4/tcp/x"),
            ("KNACK_MDNS", "maybe"),
            ("KNACK_SYNC_INTERVAL_MS", "-1"),
            ("KNACK_MEMBERS", "ops"),
            ("KNACK_MEMBERS_ONLY", "team=not-a-peer"),
            ("KNACK_SPACES", "bad/name"),
        ] {
            let error = Config::default()
                .apply_env(env(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }
}
