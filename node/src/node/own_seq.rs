//! The own high-water mark: per space, the highest sequence number this node has written
//! under its own identity, kept in a file of its own (`own_seq.json`), outside the op log.
//!
//! Signing a second, different op under a sequence number a peer already holds forks the
//! author for good (replicas with the same version vector and different states). The op log
//! says which numbers were used, until the log is lost or corrupted: a node restarted on an
//! emptied store would start again at 1. So each commit that wrote own ops records the last
//! sequence here after the log's flush (a write-rename-sync, so it is whole or the previous
//! one), and a start compares it with the log: a log behind the mark means own ops are
//! missing, and the node refuses to author in that space (503 `recovering_own_ops`) until
//! anti-entropy has brought them back from peers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use knack_crdt::SpaceName;

use crate::error::NodeError;

/// The file's name inside the data directory.
pub(crate) const OWN_SEQ_FILE: &str = "own_seq.json";

/// The own high-water marks, and where they are kept.
#[derive(Debug)]
pub(crate) struct OwnSeqs {
    path: PathBuf,
    seqs: BTreeMap<String, u64>,
    /// Whether `seqs` has marks not written yet.
    dirty: bool,
}

impl OwnSeqs {
    /// Reads the marks of `dir` (none when the file does not exist). A file that does not
    /// parse is an error: guessing could reuse sequence numbers.
    pub(crate) fn load(dir: &Path) -> Result<OwnSeqs, NodeError> {
        let path = dir.join(OWN_SEQ_FILE);
        let seqs = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NodeError::Config {
                path: path.display().to_string(),
                reason: format!(
                    "unreadable ({e}): it records the last sequence number this node signed; \
                     if its op log is intact, delete the file (it is rebuilt from the log)"
                ),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(NodeError::io(&path, e)),
        };
        Ok(OwnSeqs {
            path,
            seqs,
            dirty: false,
        })
    }

    /// The recorded mark of `space` (0: nothing written).
    pub(crate) fn get(&self, space: &SpaceName) -> u64 {
        self.seqs.get(space.as_str()).copied().unwrap_or(0)
    }

    /// Raises the mark of `space` to `seq` (kept in memory until [`OwnSeqs::save`]).
    pub(crate) fn raise(&mut self, space: &SpaceName, seq: u64) {
        let mark = self.seqs.entry(space.as_str().to_owned()).or_insert(0);
        if seq > *mark {
            *mark = seq;
            self.dirty = true;
        }
    }

    /// Writes the marks if they changed: a temporary file, synced, renamed over the old one.
    pub(crate) fn save(&mut self) -> Result<(), NodeError> {
        if !self.dirty {
            return Ok(());
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&self.seqs).map_err(|e| NodeError::Config {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            // The directory is not synced: after a crash the previous mark may come back,
            // which is behind the log, and a start accepts that (it raises the mark).
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| NodeError::io(&self.path, e))?;
        self.dirty = false;
        Ok(())
    }
}
