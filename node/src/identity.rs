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
