//! The crate's error type.

use knack_crdt::{AgentId, CrdtError};
use thiserror::Error;

/// Everything that can be wrong with a message received from a peer, or with an envelope being
/// sealed.
///
/// Every variant has a short stable label ([`ProtocolError::reason`]) for metrics such as
/// "envelopes rejected by reason".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message larger than its limit; refused before decoding.
    #[error("message is {len} bytes, the limit is {max}")]
    Oversized {
        /// The message's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message of a protocol version this build does not speak.
    #[error(
        "protocol version {got} is not supported (this build speaks {supported}); upgrade knack"
    )]
    UnknownVersion {
        /// The version byte received.
        got: u8,
        /// The version this build speaks.
        supported: u8,
    },
    /// Bytes that do not decode as the expected message (including trailing bytes and
    /// non-canonical encodings).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A signature that does not verify against the envelope's author.
    #[error("signature does not verify against the envelope's author")]
    BadSignature,
    /// The author is not a valid ed25519 key, or a change is attributed to another agent than
    /// the envelope's author.
    #[error("wrong author: {0}")]
    WrongAuthor(String),
    /// A key that cannot sign envelopes (knack agents use ed25519 keys).
    #[error("only ed25519 keys can sign knack envelopes")]
    UnsupportedKey,
    /// A delta that fails the CRDT's validation.
    #[error("invalid delta: {0}")]
    InvalidDelta(CrdtError),
    /// An envelope without ops.
    #[error("an envelope must carry at least one op")]
    EmptyEnvelope,
    /// An envelope with more ops than allowed.
    #[error("envelope carries {count} ops, the limit is {max}")]
    TooManyOps {
        /// How many ops.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Sequence numbers outside `1..=u64::MAX`.
    #[error("sequence numbers {first}.. for {count} ops are out of range (they start at 1)")]
    BadSequence {
        /// The first sequence number.
        first: u64,
        /// How many ops.
        count: usize,
    },
    /// An envelope of a checkpoint run whose ops lie outside the run's span.
    #[error("ops {first}..={last} lie outside their checkpoint span {span_first}..={span_last}")]
    BadCheckpoint {
        /// The envelope's first sequence number.
        first: u64,
        /// The envelope's last sequence number.
        last: u64,
        /// The span's first sequence number.
        span_first: u64,
        /// The span's last sequence number.
        span_last: u64,
    },
    /// Timestamps that do not strictly increase along an author's ops.
    #[error("op {seq}'s timestamp does not follow the previous op's")]
    HlcNotIncreasing {
        /// The op's sequence number.
        seq: u64,
    },
    /// A timestamp too far ahead of local wall time.
    #[error(
        "timestamp {remote_ms} ms is more than {max_drift_ms} ms ahead of local time {local_ms} ms: \
         check the clocks of both machines"
    )]
    ClockSkew {
        /// The remote timestamp's wall part.
        remote_ms: u64,
        /// Local wall time.
        local_ms: u64,
        /// The largest accepted drift.
        max_drift_ms: u64,
    },
    /// Ops that arrive before their predecessors and could not be held until the gap fills;
    /// they were dropped and anti-entropy will fetch them again.
    #[error(
        "ops of {author} start at {got} but {expected} is next; the gap buffer is full, dropped \
         (anti-entropy will fetch them)"
    )]
    SequenceGap {
        /// The author.
        author: AgentId,
        /// The next expected sequence number.
        expected: u64,
        /// The first sequence number received.
        got: u64,
    },
    /// Ops that are all known already.
    #[error("ops of {author} up to {seq} are already known")]
    Replayed {
        /// The author.
        author: AgentId,
        /// The envelope's last sequence number.
        seq: u64,
    },
    /// A message about a space this node does not replicate.
    #[error("space {0} is not replicated here")]
    UnknownSpace(String),
    /// A checkpoint's second walk over its restatement did not give the changes its plan was
    /// made of (the space changed in between).
    #[error("the restatement changed while its checkpoint run was sealed: {0}")]
    RestatementChanged(String),
}

impl ProtocolError {
    /// A short, stable label per variant, for metrics (for example a Prometheus label of
    /// "envelopes rejected by reason").
    pub const fn reason(&self) -> &'static str {
        match self {
            ProtocolError::Oversized { .. } => "oversized",
            ProtocolError::UnknownVersion { .. } => "unknown_version",
            ProtocolError::Malformed(_) => "malformed",
            ProtocolError::BadSignature => "bad_signature",
            ProtocolError::WrongAuthor(_) => "wrong_author",
            ProtocolError::UnsupportedKey => "unsupported_key",
            ProtocolError::InvalidDelta(e) => match e.reason() {
                Some(reason) => reason,
                None => "invalid_delta",
            },
            ProtocolError::EmptyEnvelope => "empty_envelope",
            ProtocolError::TooManyOps { .. } => "too_many_ops",
            ProtocolError::BadSequence { .. } => "bad_sequence",
            ProtocolError::BadCheckpoint { .. } => "bad_checkpoint",
            ProtocolError::HlcNotIncreasing { .. } => "hlc_not_increasing",
            ProtocolError::ClockSkew { .. } => "clock_skew",
            ProtocolError::SequenceGap { .. } => "sequence_gap",
            ProtocolError::Replayed { .. } => "replayed",
            ProtocolError::UnknownSpace(_) => "unknown_space",
            ProtocolError::RestatementChanged(_) => "restatement_changed",
        }
    }
}

impl From<CrdtError> for ProtocolError {
    /// Ownership failures become [`ProtocolError::WrongAuthor`], every other failure
    /// [`ProtocolError::InvalidDelta`].
    fn from(error: CrdtError) -> Self {
        match error {
            CrdtError::NotOwner { .. } => ProtocolError::WrongAuthor(error.to_string()),
            other => ProtocolError::InvalidDelta(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_failures_map_to_wrong_author() {
        let e = ProtocolError::from(CrdtError::NotOwner { change: "outcome" });
        assert_eq!(e.reason(), "wrong_author");
        let e = ProtocolError::from(CrdtError::EmptyDelta);
        assert_eq!(e, ProtocolError::InvalidDelta(CrdtError::EmptyDelta));
    }
}
