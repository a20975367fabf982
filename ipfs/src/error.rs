//! The crate's one error type.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::cid::CidError;

/// What can go wrong talking to an IPFS node, or verifying what it returned.
///
/// Every message names the API address or the CID it concerns, so it can be shown to a user as
/// is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpfsError {
    /// The API could not be reached: nothing listens there, the connection was refused or broke.
    #[error("IPFS API at {url} is unreachable: {reason}")]
    Unreachable {
        /// The API's base URL.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// The call did not finish in time (a `cat` of content nobody serves never does).
    #[error("IPFS call {call} to {url} did not finish within {after:?}")]
    Timeout {
        /// The API's base URL.
        url: String,
        /// The call, e.g. `cat bafy...`.
        call: String,
        /// The time limit that passed.
        after: Duration,
    },
    /// The node answered with an error, or with something this client could not read.
    #[error("IPFS API error: {0}")]
    Api(String),
    /// The fetched content is not the content expected: wrong hash or too short. The partial
    /// file was deleted.
    #[error(
        "content of {cid} does not match: expected {expected_size} bytes with blake3 \
         {expected_blake3}, got {actual_size} bytes with blake3 {actual_blake3}"
    )]
    Mismatch {
        /// The CID fetched.
        cid: String,
        /// The size expected, in bytes.
        expected_size: u64,
        /// The size received, in bytes.
        actual_size: u64,
        /// The blake3 expected, in hex.
        expected_blake3: String,
        /// The blake3 of what was received, in hex.
        actual_blake3: String,
    },
    /// The fetched content grew past the size expected; the transfer was stopped there and the
    /// partial file deleted.
    #[error("content of {cid} is larger than the expected {max} bytes; refused")]
    TooLarge {
        /// The CID fetched.
        cid: String,
        /// The size expected, in bytes.
        max: u64,
    },
    /// A string that is not a CID this crate accepts.
    #[error(transparent)]
    BadCid(#[from] CidError),
    /// The API address given is not a valid `http://host:port` URL.
    #[error("invalid IPFS API URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{action} {path}: {source}", path = path.display())]
    Io {
        /// What was being done, e.g. "cannot open".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl IpfsError {
    /// An [`IpfsError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        IpfsError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
