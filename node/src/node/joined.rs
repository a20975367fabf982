//! Spaces created or joined at runtime (`knack space create|join`), kept in `spaces.json` in
//! the data directory so a restart joins them again, with their root admin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use knack_crdt::SpaceName;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// The file's name in the data directory.
pub(crate) const JOINED_FILE: &str = "spaces.json";

/// The spaces joined at runtime: name -> root admin (`None` for an open space).
#[derive(Clone, Debug, Default)]
pub(crate) struct JoinedSpaces {
    path: PathBuf,
    spaces: BTreeMap<SpaceName, Option<PeerId>>,
}

/// The file's layout.
#[derive(Serialize, Deserialize)]
struct JoinedFile {
    spaces: Vec<JoinedEntry>,
}

#[derive(Serialize, Deserialize)]
struct JoinedEntry {
    name: SpaceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    root: Option<String>,
}

impl JoinedSpaces {
    /// Reads `spaces.json` from `dir` (empty when absent). A malformed file stops the start:
    /// silently forgetting a members-only space's root would open it to everyone.
    pub(crate) fn load(dir: &Path) -> Result<Self, NodeError> {
        let path = dir.join(JOINED_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(JoinedSpaces {
                    path,
                    spaces: BTreeMap::new(),
                });
            }
            Err(e) => return Err(NodeError::io(&path, e)),
        };
        let bad = |reason: String| NodeError::Config {
            path: path.display().to_string(),
            reason,
        };
        let file: JoinedFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut spaces = BTreeMap::new();
        for entry in file.spaces {
            let root = match entry.root {
                Some(root) => Some(
                    root.parse::<PeerId>()
                        .map_err(|e| bad(format!("root of {}: {e}", entry.name)))?,
                ),
                None => None,
            };
            spaces.insert(entry.name, root);
        }
        Ok(JoinedSpaces { path, spaces })
    }

    /// Every space joined at runtime, with its root.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&SpaceName, Option<PeerId>)> {
        self.spaces.iter().map(|(name, root)| (name, *root))
    }

    /// Records a joined space and writes the file (a temporary file synced and renamed); on a
    /// failure nothing is recorded.
    pub(crate) fn insert(
        &mut self,
        name: SpaceName,
        root: Option<PeerId>,
    ) -> Result<(), NodeError> {
        let mut spaces = self.spaces.clone();
        spaces.insert(name, root);
        let file = JoinedFile {
            spaces: spaces
                .iter()
                .map(|(name, root)| JoinedEntry {
                    name: name.clone(),
                    root: root.map(|r| r.to_string()),
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| NodeError::Config {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| NodeError::io(&self.path, e))?;
        self.spaces = spaces;
        Ok(())
    }
}
