//! Content references: how a procedure's body is addressed.

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;
use crate::ids::ContentHash;
use crate::limits::MAX_INLINE_BODY_BYTES;

/// Where a body is: its blake3 hash and size, and the bytes themselves when small.
///
/// Large bodies are not carried in operations: peers fetch them by hash (`/knack/blob/1`) or
/// from IPFS, and verify them against `hash`. The IPFS CID of pinned content is replicated
/// separately (see [`crate::Change::Pin`]), since pinning happens after the body is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentRef {
    /// blake3 of the body.
    pub hash: ContentHash,
    /// Size of the body in bytes.
    pub size: u64,
    /// The body, when it is carried inline.
    pub inline: Option<Vec<u8>>,
}

/// A body as given by an author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// The bytes, to be carried inline (at most the space's inline limit).
    Inline(Vec<u8>),
    /// A body stored elsewhere (blob store, IPFS), known by hash and size.
    External {
        /// blake3 of the body.
        hash: ContentHash,
        /// Its size in bytes.
        size: u64,
    },
}

impl ContentRef {
    /// The content reference of `body`, refusing inline bodies above `inline_max` bytes.
    pub fn of(body: Body, inline_max: usize) -> Result<Self, CrdtError> {
        match body {
            Body::Inline(bytes) => {
                let max = inline_max.min(MAX_INLINE_BODY_BYTES);
                if bytes.len() > max {
                    return Err(CrdtError::TooLong {
                        field: "inline body",
                        len: bytes.len(),
                        max,
                    });
                }
                Ok(ContentRef {
                    hash: ContentHash::of(&bytes),
                    size: bytes.len() as u64,
                    inline: Some(bytes),
                })
            }
            Body::External { hash, size } => Ok(ContentRef {
                hash,
                size,
                inline: None,
            }),
        }
    }

    /// Checks an inline body against its hash and size, and the hard inline limit.
    pub fn validate(&self) -> Result<(), CrdtError> {
        if let Some(bytes) = &self.inline {
            if bytes.len() > MAX_INLINE_BODY_BYTES {
                return Err(CrdtError::TooLong {
                    field: "inline body",
                    len: bytes.len(),
                    max: MAX_INLINE_BODY_BYTES,
                });
            }
            if bytes.len() as u64 != self.size || ContentHash::of(bytes) != self.hash {
                return Err(CrdtError::BodyMismatch);
            }
        }
        Ok(())
    }
}
