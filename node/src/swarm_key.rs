//! Swarm keys: the pre-shared key of a private network, in the IPFS `swarm.key` file format.
//!
//! ```text
//! /key/swarm/psk/1.0.0/
//! /base16/
//! <64 hex digits: 32 bytes>
//! ```
//!
//! A node started with a swarm key ([`crate::Config::swarm_key`], `knack run --swarm-key`)
//! wraps every TCP connection in libp2p's `pnet` (XSalsa20 under the key, before noise): a peer
//! without the same key cannot complete a connection. The key never leaves its file; logs, the
//! status and the metrics show its [`fingerprint`] only.

use std::path::{Path, PathBuf};

use libp2p::pnet::PreSharedKey;
use thiserror::Error;

/// The first line of a swarm key file.
pub const KEY_TYPE_LINE: &str = "/key/swarm/psk/1.0.0/";
/// The second line: the only encoding supported.
pub const ENCODING_LINE: &str = "/base16/";
/// Hex digits of the key line (32 bytes).
pub const KEY_HEX_DIGITS: usize = 64;

/// A swarm key file that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SwarmKeyError {
    /// The file does not exist.
    #[error(
        "swarm key {path} does not exist (copy the network's key file there, or write a new \
         one with `knack init --swarm-key FILE`)"
    )]
    Missing {
        /// The key file.
        path: PathBuf,
    },
    /// The file cannot be read or written.
    #[error("swarm key {path}: {error}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The failure.
        error: std::io::Error,
    },
    /// The file is not a swarm key file.
    #[error(
        "swarm key {path}: {reason} (expected the IPFS private-network format: the lines \
         `{KEY_TYPE_LINE}`, `{ENCODING_LINE}` and {KEY_HEX_DIGITS} hex digits; \
         `knack init --swarm-key FILE` writes one)"
    )]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `knack init --swarm-key` would replace an existing key.
    #[error(
        "swarm key {path} exists: not replaced (every node of the network needs the same key; \
         pass --force to write a new one anyway)"
    )]
    Exists {
        /// The key file.
        path: PathBuf,
    },
}

/// Parses the text of a swarm key file; `path` names it in errors. Stricter than
/// `PreSharedKey::from_str`: every defect gets its own message, and non-ASCII text is refused
/// instead of being sliced.
pub fn parse(path: &Path, text: &str) -> Result<PreSharedKey, SwarmKeyError> {
    let malformed = |reason: String| SwarmKeyError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut lines = text.lines().map(str::trim);
    let key_type = lines.next().unwrap_or_default();
    if key_type.is_empty() && text.trim().is_empty() {
        return Err(malformed("the file is empty".into()));
    }
    if key_type != KEY_TYPE_LINE {
        return Err(malformed(format!(
            "the first line is {:?}, not {KEY_TYPE_LINE:?}",
            shorten(key_type)
        )));
    }
    let encoding = lines.next().unwrap_or_default();
    if encoding != ENCODING_LINE {
        return Err(malformed(format!(
            "the second line is {:?}, not {ENCODING_LINE:?} (only base16 keys are supported)",
            shorten(encoding)
        )));
    }
    let digits = lines.next().unwrap_or_default();
    if digits.is_empty() {
        return Err(malformed("the third line, the key, is missing".into()));
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(malformed(format!(
            "the key contains {bad:?}, which is not a hex digit"
        )));
    }
    if digits.len() != KEY_HEX_DIGITS {
        return Err(malformed(format!(
            "the key has {} hex digits, not {KEY_HEX_DIGITS} (32 bytes)",
            digits.len()
        )));
    }
    if let Some(extra) = lines.find(|l| !l.is_empty()) {
        return Err(malformed(format!(
            "unexpected text after the key: {:?}",
            shorten(extra)
        )));
    }
    let mut bytes = [0u8; KEY_HEX_DIGITS / 2];
    hex::decode_to_slice(digits, &mut bytes).map_err(|e| malformed(e.to_string()))?;
    Ok(PreSharedKey::new(bytes))
}

/// Reads and parses the swarm key file at `path`.
pub fn load(path: &Path) -> Result<PreSharedKey, SwarmKeyError> {
    let bytes = std::fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => SwarmKeyError::Missing {
            path: path.to_path_buf(),
        },
        _ => SwarmKeyError::Io {
            path: path.to_path_buf(),
            error,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SwarmKeyError::Malformed {
        path: path.to_path_buf(),
        reason: "the file is not text (UTF-8)".into(),
    })?;
    parse(path, &text)
}

/// Writes a new random swarm key to `path` (readable by its owner only) and returns it.
/// Refuses to replace an existing file unless `force`.
pub fn generate(path: &Path, force: bool) -> Result<PreSharedKey, SwarmKeyError> {
    if !force && path.exists() {
        return Err(SwarmKeyError::Exists {
            path: path.to_path_buf(),
        });
    }
    let key = PreSharedKey::new(rand::random());
    let io = |error| SwarmKeyError::Io {
        path: path.to_path_buf(),
        error,
    };
    // Written whole to a new owner-only file, then renamed over the target: a replaced key
    // keeps no looser mode of the old file, and a failed write leaves the old key in place.
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    write_owner_only(&tmp, key.to_key_file().as_bytes()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(key)
}

/// The key's fingerprint (hex, 16 bytes; the same as go-libp2p's): safe to show, it tells
/// whether two nodes hold the same key without revealing it.
pub fn fingerprint(key: &PreSharedKey) -> String {
    key.fingerprint().to_string()
}

/// Creates `path` (it must not exist) readable and writable by its owner only, with `bytes`.
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// At most 40 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    fn file(key: &str) -> String {
        format!("{KEY_TYPE_LINE}\n{ENCODING_LINE}\n{key}\n")
    }

    fn reason(text: &str) -> String {
        parse(Path::new("swarm.key"), text).unwrap_err().to_string()
    }

    #[test]
    fn the_ipfs_format_parses_as_libp2p_parses_it() {
        let ours = parse(Path::new("k"), &file(HEX)).unwrap();
        let theirs: PreSharedKey = file(HEX).parse().unwrap();
        assert_eq!(ours, theirs);
        // CRLF line ends and no final newline are accepted too.
        let crlf = format!("{KEY_TYPE_LINE}\r\n{ENCODING_LINE}\r\n{HEX}");
        assert_eq!(parse(Path::new("k"), &crlf).unwrap(), theirs);
        // What `to_key_file` writes reads back as the same key.
        let again = parse(Path::new("k"), &ours.to_key_file()).unwrap();
        assert_eq!(fingerprint(&again), fingerprint(&ours));
    }

    #[test]
    fn every_defect_is_named() {
        for (text, expected) in [
            (String::new(), "empty"),
            ("/key/swarm/psk/2.0.0/\n/base16/\n".to_owned(), "first line"),
            (format!("{KEY_TYPE_LINE}\n/base64/\n{HEX}\n"), "second line"),
            (format!("{KEY_TYPE_LINE}\n{ENCODING_LINE}\n"), "missing"),
            (file(&HEX[..62]), "62 hex digits"),
            (file(&format!("{HEX}00")), "66 hex digits"),
            (file(&format!("{}zz", &HEX[..62])), "'z'"),
            (file(&format!("{}é", &HEX[..62])), "'é'"),
            (format!("{}more\n", file(HEX)), "after the key"),
        ] {
            let message = reason(&text);
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(message.contains("swarm.key"), "{message}");
        }
    }

    #[test]
    fn generate_writes_an_owner_only_file_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarm.key");
        let key = generate(&path, false).unwrap();
        assert_eq!(load(&path).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let refused = generate(&path, false).unwrap_err();
        assert!(matches!(refused, SwarmKeyError::Exists { .. }), "{refused}");
        assert_eq!(load(&path).unwrap(), key, "the refused call kept the key");
        // A forced replacement gets a new key and the owner-only mode, whatever the old
        // file's mode was.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let replaced = generate(&path, true).unwrap();
        assert_ne!(replaced, key);
        assert_eq!(load(&path).unwrap(), replaced);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
