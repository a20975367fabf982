//! The node's identity: an ed25519 key, whose public half is the agent id and the peer id.

use std::path::Path;

use libp2p::identity::Keypair;

use crate::error::NodeError;

/// The key file's name inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// Loads the identity key from `dir`.
pub fn load(dir: &Path) -> Result<Keypair, NodeError> {
    let path = dir.join(IDENTITY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NodeError::NotInitialised(dir.display().to_string()));
        }
        Err(e) => return Err(NodeError::io(&path, e)),
    };
    let key = Keypair::from_protobuf_encoding(&bytes).map_err(|e| NodeError::Identity {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if key.clone().try_into_ed25519().is_err() {
        return Err(NodeError::Identity {
            path: path.display().to_string(),
            reason: "not an ed25519 key".into(),
        });
    }
    Ok(key)
}

/// Creates a new identity key in `dir` (readable by the owner only); refuses to overwrite.
pub fn create(dir: &Path) -> Result<Keypair, NodeError> {
    let path = dir.join(IDENTITY_FILE);
    if path.exists() {
        return load(dir);
    }
    refuse_new_identity_over_a_store(dir)?;
    let key = Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|e| NodeError::Identity {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    write_private(&path, &bytes)?;
    Ok(key)
}

/// A data directory that already holds a store was used under an identity: its op log holds
/// that identity's ops and sequence numbers. A new identity there would orphan them (and an
/// agent would lose its outcome slots), so a missing key file is an error, never replaced.
fn refuse_new_identity_over_a_store(dir: &Path) -> Result<(), NodeError> {
    let db = dir.join(crate::dirs::DB_DIR);
    let holds_store = std::fs::read_dir(&db).is_ok_and(|mut entries| entries.next().is_some());
    if holds_store {
        return Err(NodeError::Identity {
            path: dir.join(IDENTITY_FILE).display().to_string(),
            reason: format!(
                "missing, but {} holds a store written under an identity: restore the key \
                 file from a backup; or, to start over as a new node, move {} away (its ops \
                 stay with the peers that hold them)",
                db.display(),
                db.display()
            ),
        });
    }
    Ok(())
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| NodeError::io(path, e))?;
    file.write_all(bytes).map_err(|e| NodeError::io(path, e))?;
    file.sync_all().map_err(|e| NodeError::io(path, e))
}
