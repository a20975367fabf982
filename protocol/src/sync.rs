//! `/knack/sync/1`: anti-entropy by version vectors, as a sans-IO state machine.
//!
//! A round between a requester and a responder, for one space:
//!
//! 1. requester -> [`SyncRequest::Pull`] with its version vector;
//! 2. responder -> [`SyncResponse::Envelopes`]: the envelopes the requester lacks (within a
//!    byte budget; `more` when some did not fit), plus the responder's own vector;
//! 3. if that vector lacks ops the requester holds: requester -> [`SyncRequest::Push`] with
//!    them, responder -> [`SyncResponse::Ack`].
//!
//! Every envelope received is verified and ordered by the caller (see [`crate::Envelope`] and
//! [`crate::Inbox`]) before it is stored; the engine only moves bytes and keeps time.

mod engine;
mod log;
mod message;

pub use engine::{
    DEFAULT_SYNC_FANOUT, MAX_SYNC_PEERS, MAX_SYNC_SPACES, SyncConfig, SyncEngine, SyncOutput,
    SyncStats,
};
pub use log::{Batch, MemoryLog, OpLog};
pub use message::{
    MAX_ENVELOPES_PER_MESSAGE, MAX_SYNC_MESSAGE_BYTES, RefuseReason, SyncRequest, SyncResponse,
};
