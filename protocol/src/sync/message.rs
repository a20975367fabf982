//! The messages of `/knack/sync/1`.

use knack_crdt::SpaceName;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::ProtocolError;
use crate::version_vector::VersionVector;

/// Largest encoded sync message, in bytes (checked before decoding).
pub const MAX_SYNC_MESSAGE_BYTES: usize = 4 << 20;

/// Most envelopes in one sync message.
pub const MAX_ENVELOPES_PER_MESSAGE: usize = 4_096;

/// A request of `/knack/sync/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "Here is what I have of `space`; send me what I lack."
    Pull {
        /// The space.
        space: SpaceName,
        /// The requester's version vector.
        have: VersionVector,
    },
    /// "You lack these ops of `space`": sent after an [`SyncResponse::Envelopes`] whose `have`
    /// showed the responder lacks ops the requester holds.
    Push {
        /// The space.
        space: SpaceName,
        /// The requester's version vector.
        have: VersionVector,
        /// Encoded envelopes (each one as [`crate::Envelope::encode`] made it).
        #[serde(
            serialize_with = "codec::byte_lists::serialize",
            deserialize_with = "codec::byte_lists::deserialize::<_, MAX_ENVELOPES_PER_MESSAGE>"
        )]
        envelopes: Vec<Vec<u8>>,
    },
}

/// A response of `/knack/sync/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The answer to a pull: envelopes the requester lacks, within the responder's budget.
    Envelopes {
        /// The space.
        space: SpaceName,
        /// The responder's version vector (the requester pushes what this lacks).
        have: VersionVector,
        /// Encoded envelopes, each author's in sequence order.
        #[serde(
            serialize_with = "codec::byte_lists::serialize",
            deserialize_with = "codec::byte_lists::deserialize::<_, MAX_ENVELOPES_PER_MESSAGE>"
        )]
        envelopes: Vec<Vec<u8>>,
        /// Whether the responder holds more that did not fit: pull again right away.
        more: bool,
    },
    /// The answer to a push.
    Ack {
        /// The space.
        space: SpaceName,
        /// The responder's version vector before ingesting the pushed envelopes.
        have: VersionVector,
    },
    /// The request was not served.
    Refused {
        /// The space asked about.
        space: SpaceName,
        /// Why.
        reason: RefuseReason,
    },
}

/// Why a sync request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefuseReason {
    /// The responder does not replicate the space.
    UnknownSpace,
    /// The requester may not read the space.
    Forbidden,
    /// The responder is overloaded; retry later.
    Busy,
}

impl SyncRequest {
    /// The space the request is about.
    pub fn space(&self) -> &SpaceName {
        match self {
            SyncRequest::Pull { space, .. } | SyncRequest::Push { space, .. } => space,
        }
    }

    /// The wire encoding: a version byte, then bincode (see `WIRE.md`).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The length of [`Self::encode`]'s output, computed without encoding (no copy of the
    /// envelopes it carries).
    pub fn encoded_len(&self) -> usize {
        codec::encoded_len(self)
    }

    /// Decodes a request, refusing more than [`MAX_SYNC_MESSAGE_BYTES`], unknown versions,
    /// trailing bytes and non-canonical encodings. The envelopes inside still need verifying.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        codec::decode::<Self, MAX_SYNC_MESSAGE_BYTES>(bytes)
    }
}

impl SyncResponse {
    /// The space the response is about.
    pub fn space(&self) -> &SpaceName {
        match self {
            SyncResponse::Envelopes { space, .. }
            | SyncResponse::Ack { space, .. }
            | SyncResponse::Refused { space, .. } => space,
        }
    }

    /// The wire encoding: a version byte, then bincode (see `WIRE.md`).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The length of [`Self::encode`]'s output, computed without encoding (no copy of the
    /// envelopes it carries).
    pub fn encoded_len(&self) -> usize {
        codec::encoded_len(self)
    }

    /// Decodes a response, with the same checks as [`SyncRequest::decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        codec::decode::<Self, MAX_SYNC_MESSAGE_BYTES>(bytes)
    }
}

impl RefuseReason {
    /// A short stable label, for logs and metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            RefuseReason::UnknownSpace => "unknown_space",
            RefuseReason::Forbidden => "forbidden",
            RefuseReason::Busy => "busy",
        }
    }
}
