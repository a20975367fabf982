//! The data directory and the files the daemon and the CLI share in it.

use std::path::{Path, PathBuf};

use crate::error::NodeError;

/// The API token file (written by `knack init`, readable by the owner only).
pub const TOKEN_FILE: &str = "api.token";
/// The address the running daemon's API is bound to (written by `knack run`).
pub const API_ADDR_FILE: &str = "api.addr";
/// The sled database directory.
pub const DB_DIR: &str = "db";
/// The blob store directory (bodies too large to travel inline).
pub const BLOBS_DIR: &str = "blobs";

/// The data directory: `--dir`, else `$KNACK_DIR`, else the platform's data dir + `knack`.
pub fn resolve(dir: Option<PathBuf>) -> PathBuf {
    dir.or_else(|| std::env::var_os("KNACK_DIR").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .map(|base| base.join("knack"))
        })
        .unwrap_or_else(|| PathBuf::from(".knack"))
}

/// The environment variable that, when set and not empty, is the API token (a container's
/// secret), instead of the `api.token` file.
pub const TOKEN_ENV: &str = "KNACK_API_TOKEN";

/// The API token: `$KNACK_API_TOKEN` when set, else the `api.token` file of `dir`.
pub fn read_token(dir: &Path) -> Result<String, NodeError> {
    if let Some(token) = std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
    {
        return Ok(token);
    }
    let path = dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        // An empty token would make every request 401 with no hint why: refused.
        Ok(token) if token.trim().is_empty() => Err(NodeError::Config {
            path: path.display().to_string(),
            reason: "the API token is empty; write a token into it (or delete it and run \
                     `knack init` to make a new one)"
                .into(),
        }),
        Ok(token) => Ok(token.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(NodeError::NotInitialised(dir.display().to_string()))
        }
        Err(e) => Err(NodeError::io(&path, e)),
    }
}

/// Creates the data directory with an identity, a config file and an API token (keeping any
/// that exist). Returns the token.
pub fn init(dir: &Path) -> Result<String, NodeError> {
    std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
    crate::identity::create(dir)?;
    if !dir.join(crate::config::CONFIG_FILE).exists() {
        crate::config::Config::default().save(dir)?;
    }
    let token_path = dir.join(TOKEN_FILE);
    if token_path.exists() {
        return read_token(dir);
    }
    let token: [u8; 32] = rand::random();
    let token = hex::encode(token);
    crate::identity::write_private(&token_path, token.as_bytes())?;
    Ok(token)
}
