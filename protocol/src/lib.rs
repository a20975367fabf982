//! knack-protocol (being written).
mod clock;
mod codec;
mod envelope;
mod error;
mod identity;
mod inbox;
mod version_vector;

pub use clock::{DEFAULT_MAX_DRIFT_MS, HybridClock};
pub use codec::PROTOCOL_VERSION;
pub use envelope::{Envelope, EnvelopeId, MAX_ENVELOPE_BYTES, MAX_OPS_PER_ENVELOPE, Op};
pub use error::ProtocolError;
pub use identity::{Signature, agent_id, agent_of, check_agent, peer_id, sign, verify};
pub use inbox::{
    Admitted, Inbox, InboxStats, MAX_BUFFERED_BYTES, MAX_BUFFERED_BYTES_PER_AUTHOR,
    MAX_BUFFERED_OPS, MAX_BUFFERED_OPS_PER_AUTHOR, Ready,
};
pub use version_vector::{SeqRange, VersionVector};
pub mod blob;
pub mod sync;
pub use blob::{BlobFetch, BlobRequest, BlobResponse, FetchStatus, MAX_BLOB_CHUNK_BYTES};
pub use sync::{MemoryLog, OpLog, SyncConfig, SyncEngine, SyncOutput, SyncRequest, SyncResponse};
