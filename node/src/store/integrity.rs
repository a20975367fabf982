//! Proving the store intact at start, and the way back when it is not.
//!
//! sled checks its pages, but on a damaged segment it recovers by dropping everything after it:
//! a flipped byte in its `db` file made a node start with 16 ops gone and no warning. So the
//! node keeps, outside sled, the **manifest** of what its store holds (`store_manifest.json`:
//! per space, the version vector), rewritten after each flush that made new ops durable. At
//! start, every space restored from the store must hold at least what the manifest says, and
//! every author of its version vector must have its last envelope in the log (the op log's
//! continuity against the version vector a snapshot claims); otherwise the node stops with
//! [`crate::error::NodeError::StoreDamaged`], naming what is missing and the recovery path:
//! `knack repair` moves the damaged store aside, and the node, started again, re-syncs from
//! its peers (and authors nothing until its own ops are back: see `node/own_seq.rs`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use knack_crdt::{AgentId, SpaceName};
use knack_protocol::VersionVector;
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::NodeError;

/// The manifest's file name in the data directory.
pub const MANIFEST_FILE: &str = "store_manifest.json";

/// The recovery path printed with every refusal.
pub const RECOVERY: &str = "to recover, run `knack repair` (it moves the damaged store aside \
     to db.damaged-<time>; started again, the node re-syncs from its peers and writes nothing \
     until it has its own ops back), or restore the data directory from a backup";

/// Per space, the version vector the store held at its last recorded flush.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Recorded {
    spaces: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The manifest: what the store held at its last recorded flush, and where it is kept.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    recorded: Recorded,
}

impl Manifest {
    /// Reads the manifest of `dir` (empty when there is none: a new node, or a store from
    /// before manifests).
    pub fn load(dir: &Path) -> Result<Manifest, NodeError> {
        let path = dir.join(MANIFEST_FILE);
        let recorded = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NodeError::StoreDamaged {
                path: path.display().to_string(),
                reason: format!("the store manifest does not parse ({e})"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Recorded::default(),
            Err(e) => return Err(NodeError::io(&path, e)),
        };
        Ok(Manifest { path, recorded })
    }

    /// Checks that the store restored into `spaces` holds at least what the manifest
    /// recorded, and that `store` has the last envelope of every author of each version
    /// vector. Fails with [`NodeError::StoreDamaged`] listing what is missing.
    pub fn check<'a>(
        &self,
        db: &Path,
        store: &dyn Store,
        spaces: impl IntoIterator<Item = (&'a SpaceName, &'a VersionVector)>,
    ) -> Result<(), NodeError> {
        let mut missing = Vec::new();
        let spaces: BTreeMap<&SpaceName, &VersionVector> = spaces.into_iter().collect();
        for (name, authors) in &self.recorded.spaces {
            let held = spaces
                .iter()
                .find(|(s, _)| s.as_str() == name)
                .map(|(_, v)| *v);
            for (author, &seq) in authors {
                let have = held
                    .and_then(|vv| author.parse::<AgentId>().ok().map(|a| vv.get(&a)))
                    .unwrap_or(0);
                if have < seq {
                    missing.push(format!(
                        "space {name}: author {} has ops up to {have}, the store held {seq}",
                        &author[..16.min(author.len())]
                    ));
                }
            }
        }
        for (name, vv) in &spaces {
            for (author, seq) in vv.iter() {
                let last = store.envelopes_after(name, &author, seq.saturating_sub(1), 1)?;
                let found = last
                    .first()
                    .is_some_and(|(k, _)| k.first_seq <= seq && seq <= k.last_seq);
                if !found {
                    missing.push(format!(
                        "space {name}: the op log lacks the envelope of op {seq} of author {} \
                         that its snapshot covers",
                        &author.to_hex()[..16]
                    ));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let shown = missing.len().min(5);
        Err(NodeError::StoreDamaged {
            path: db.display().to_string(),
            reason: format!(
                "it holds less than it acknowledged: {}{}",
                missing[..shown].join("; "),
                if missing.len() > shown {
                    format!(" (and {} more)", missing.len() - shown)
                } else {
                    String::new()
                }
            ),
        })
    }

    /// Records what the store holds now (after a flush made it durable), if it changed: a
    /// temporary file, synced, renamed over the old one.
    pub fn record<'a>(
        &mut self,
        spaces: impl IntoIterator<Item = (&'a SpaceName, &'a VersionVector)>,
    ) -> Result<(), NodeError> {
        let now = Recorded {
            spaces: spaces
                .into_iter()
                .map(|(name, vv)| {
                    let authors = vv.iter().map(|(a, s)| (a.to_hex(), s)).collect();
                    (name.to_string(), authors)
                })
                .collect(),
        };
        if now == self.recorded {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&now).map_err(|e| NodeError::Config {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, &bytes)?;
        self.recorded = now;
        Ok(())
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file, synced, renamed into
/// place.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        // The directory is not synced: after a crash the previous manifest may come back,
        // which is behind the store, and a start accepts that.
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        NodeError::io(path, e)
    })
}

/// `knack repair`: moves the damaged store of `dir` aside (to `db.damaged-<unix seconds>`) and
/// forgets its manifest, keeping the identity, the config, the blobs and the own high-water
/// mark. Returns where the store went, if there was one.
pub fn repair(dir: &Path) -> Result<Option<PathBuf>, NodeError> {
    let db = dir.join(crate::dirs::DB_DIR);
    let moved = if db.exists() {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = dir.join(format!("{}.damaged-{secs}", crate::dirs::DB_DIR));
        std::fs::rename(&db, &aside).map_err(|e| NodeError::io(&db, e))?;
        Some(aside)
    } else {
        None
    };
    let manifest = dir.join(MANIFEST_FILE);
    match std::fs::remove_file(&manifest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(NodeError::io(&manifest, e)),
    }
    Ok(moved)
}
