//! Hard limits on the size of every field a peer can send. Checked by [`crate::Delta::validate`]
//! and by every authoring method, so an oversized value is refused before it is replicated.

/// Longest space name, in bytes.
pub const MAX_SPACE_NAME_BYTES: usize = 64;
/// Longest procedure name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest procedure description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Longest tag or context tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Most tags on one procedure.
pub const MAX_TAGS: usize = 64;
/// Most context tags one outcome can name.
pub const MAX_OUTCOME_CONTEXTS: usize = 16;
/// Longest custom procedure kind, in bytes.
pub const MAX_KIND_BYTES: usize = 32;
/// Longest IPFS CID, in bytes.
pub const MAX_CID_BYTES: usize = 128;
/// Largest body carried inline in an operation, whatever a space's settings say. Larger bodies
/// travel by content hash (blob protocol, IPFS).
pub const MAX_INLINE_BODY_BYTES: usize = 256 * 1024;
/// Most changes in one delta.
pub const MAX_CHANGES_PER_DELTA: usize = 4096;
