//! Ops and the signed envelopes that carry them.

use std::fmt;
use std::ops::RangeInclusive;

use knack_crdt::{AgentId, Delta, Hlc, SpaceName};
use libp2p_identity::Keypair;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::ProtocolError;
use crate::identity::{self, Signature};

/// Largest encoded envelope, in bytes (checked before decoding).
///
/// gossipsub's default `max_transmit_size` is 64 KiB: the node must raise it, or send larger
/// envelopes through anti-entropy only.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;

/// Most ops in one envelope.
pub const MAX_OPS_PER_ENVELOPE: usize = 256;

/// Domain separator of envelope signatures, so no other signed knack message can be replayed as
/// an envelope (and the wire version is part of what is signed).
const SIGNING_DOMAIN: &[u8] = b"knack/envelope/v4";

/// One change by one agent: the unit of replication.
///
/// An author's ops in a space form a gap-free sequence `1, 2, 3, ...`; their timestamps
/// strictly increase along it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The space the op changes.
    pub space: SpaceName,
    /// Who made it (and signed the envelope carrying it).
    pub author: AgentId,
    /// The author's sequence number of the op in this space, from 1.
    pub seq: u64,
    /// When the author made it.
    pub hlc: Hlc,
    /// The change.
    pub body: Delta,
}

/// The sequence numbers of an author checkpoint: a run of envelopes whose ops, together,
/// restate every earlier op of their author in their space (see `crate::checkpoint`).
///
/// Every envelope of the run carries the same span, and its own ops lie within it. A receiver
/// that lacks earlier ops of the author may start at the run's first envelope instead of
/// fetching them (its version vector jumps to `first - 1`); a node holding the whole run may
/// delete the author's envelopes below `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckpointSpan {
    /// The first sequence number of the run.
    pub first: u64,
    /// The last sequence number of the run.
    pub last: u64,
}

/// The identity of an envelope: blake3 of its encoded bytes (the gossip message id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvelopeId(pub [u8; 32]);

/// Consecutive ops of one author in one space, signed by the author.
///
/// Built by [`Envelope::seal`] or [`Envelope::decode`]; it keeps its encoded bytes, which are
/// what is stored and forwarded (the encoding is canonical: decoding and re-encoding gives the
/// same bytes, so [`Envelope::id`] names the envelope).
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    wire: Wire,
    bytes: Vec<u8>,
}

/// The envelope as it is encoded: the signed fields in order, then the signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    space: SpaceName,
    author: AgentId,
    first_seq: u64,
    checkpoint: Option<CheckpointSpan>,
    #[serde(deserialize_with = "codec::bounded_vec::<_, _, MAX_OPS_PER_ENVELOPE>")]
    entries: Vec<(Hlc, Delta)>,
    signature: Signature,
}

impl Envelope {
    /// Signs `entries` as the ops `first_seq, first_seq + 1, ...` of the keypair's agent in
    /// `space`, after checking them as [`Envelope::verify`] will (so a sealed envelope always
    /// verifies).
    pub fn seal(
        keypair: &Keypair,
        space: SpaceName,
        first_seq: u64,
        entries: Vec<(Hlc, Delta)>,
    ) -> Result<Envelope, ProtocolError> {
        Self::seal_in(keypair, space, first_seq, None, entries)
    }

    /// As [`Envelope::seal`], for an envelope of the checkpoint run `span` (its ops must lie
    /// within the span). See [`crate::checkpoint`], which builds whole runs.
    pub fn seal_in(
        keypair: &Keypair,
        space: SpaceName,
        first_seq: u64,
        checkpoint: Option<CheckpointSpan>,
        entries: Vec<(Hlc, Delta)>,
    ) -> Result<Envelope, ProtocolError> {
        let author = identity::agent_id(keypair).ok_or(ProtocolError::UnsupportedKey)?;
        check_structure(first_seq, checkpoint, &entries)?;
        check_deltas(&author, &space, &entries)?;
        let envelope = Self::sign(keypair, space, first_seq, checkpoint, entries)?;
        check_size(envelope.bytes.len())?;
        Ok(envelope)
    }

    /// Signs without checking the ops: the result may be an envelope peers reject. For tests
    /// and fuzzing, which need invalid but signed envelopes; use [`Envelope::seal`] otherwise.
    pub fn seal_unchecked(
        keypair: &Keypair,
        space: SpaceName,
        first_seq: u64,
        entries: Vec<(Hlc, Delta)>,
    ) -> Result<Envelope, ProtocolError> {
        Self::sign(keypair, space, first_seq, None, entries)
    }

    /// As [`Envelope::seal_unchecked`], with a checkpoint span (which is not checked either).
    pub fn seal_unchecked_in(
        keypair: &Keypair,
        space: SpaceName,
        first_seq: u64,
        checkpoint: Option<CheckpointSpan>,
        entries: Vec<(Hlc, Delta)>,
    ) -> Result<Envelope, ProtocolError> {
        Self::sign(keypair, space, first_seq, checkpoint, entries)
    }

    /// Signs and encodes, checking nothing.
    fn sign(
        keypair: &Keypair,
        space: SpaceName,
        first_seq: u64,
        checkpoint: Option<CheckpointSpan>,
        entries: Vec<(Hlc, Delta)>,
    ) -> Result<Envelope, ProtocolError> {
        let author = identity::agent_id(keypair).ok_or(ProtocolError::UnsupportedKey)?;
        let message = signing_bytes(&space, &author, first_seq, checkpoint, &entries);
        let signature = identity::sign(keypair, &message)?;
        let wire = Wire {
            space,
            author,
            first_seq,
            checkpoint,
            entries,
            signature,
        };
        let bytes = codec::encode(&wire);
        Ok(Envelope { wire, bytes })
    }

    /// Decodes an envelope received from a peer (it still has to be verified): the size is
    /// checked first, then the version byte, then the bincode body, which must use every byte
    /// and be canonical.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, ProtocolError> {
        let wire = codec::decode::<Wire, MAX_ENVELOPE_BYTES>(bytes)?;
        Ok(Envelope {
            wire,
            bytes: bytes.to_vec(),
        })
    }

    /// Checks everything a receiver must check before accepting an envelope: 1 to
    /// [`MAX_OPS_PER_ENVELOPE`] ops, a sequence range within `1..=u64::MAX`, strictly
    /// increasing timestamps, the size, the author's key, the signature, and every delta's
    /// validity and ownership (each change attributed to the author).
    ///
    /// Not checked here, because it needs local state: the sequence against what is known (see
    /// [`crate::Inbox`]), clock skew against local time (see [`crate::HybridClock::observe`]),
    /// and whether the author may write the space.
    pub fn verify(&self) -> Result<(), ProtocolError> {
        let w = &self.wire;
        check_size(self.bytes.len())?;
        check_structure(w.first_seq, w.checkpoint, &w.entries)?;
        identity::check_agent(&w.author)?;
        let message = signing_bytes(&w.space, &w.author, w.first_seq, w.checkpoint, &w.entries);
        identity::verify(&w.author, &message, &w.signature)?;
        check_deltas(&w.author, &w.space, &w.entries)
    }

    /// The space.
    pub fn space(&self) -> &SpaceName {
        &self.wire.space
    }

    /// The author (signer).
    pub fn author(&self) -> AgentId {
        self.wire.author
    }

    /// The sequence number of the first op.
    pub fn first_seq(&self) -> u64 {
        self.wire.first_seq
    }

    /// The sequence number of the last op (saturating, for envelopes that fail verification).
    pub fn last_seq(&self) -> u64 {
        let count = self.wire.entries.len() as u64;
        self.wire.first_seq.saturating_add(count.saturating_sub(1))
    }

    /// The checkpoint run the envelope belongs to, if it belongs to one.
    pub fn checkpoint(&self) -> Option<CheckpointSpan> {
        self.wire.checkpoint
    }

    /// Whether the envelope starts a checkpoint run: a receiver lacking earlier ops of the
    /// author may start here.
    pub fn starts_checkpoint(&self) -> bool {
        self.wire
            .checkpoint
            .is_some_and(|span| span.first == self.wire.first_seq)
    }

    /// Whether the envelope ends a checkpoint run: once it is held, the author's envelopes
    /// below the run's first sequence number are restated and may be deleted. Returns the run.
    pub fn ends_checkpoint(&self) -> Option<CheckpointSpan> {
        self.wire
            .checkpoint
            .filter(|span| span.last == self.last_seq())
    }

    /// Whether a replica knowing the author's ops `1..=known` can apply this envelope now: it
    /// continues the known sequence, or starts a checkpoint run past it.
    pub fn follows(&self, known: u64) -> bool {
        self.first_seq() <= known.saturating_add(1) || self.starts_checkpoint()
    }

    /// The sequence numbers of the ops.
    pub fn seq_range(&self) -> RangeInclusive<u64> {
        self.first_seq()..=self.last_seq()
    }

    /// How many ops the envelope carries.
    pub fn len(&self) -> usize {
        self.wire.entries.len()
    }

    /// Whether the envelope carries no op (such an envelope fails verification).
    pub fn is_empty(&self) -> bool {
        self.wire.entries.is_empty()
    }

    /// The timestamps and deltas of the ops, in sequence order.
    pub fn entries(&self) -> &[(Hlc, Delta)] {
        &self.wire.entries
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.wire.signature
    }

    /// The ops, in sequence order.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.ops_after(0)
    }

    /// The ops with a sequence number above `known`, in order.
    pub fn ops_after(&self, known: u64) -> impl Iterator<Item = Op> + '_ {
        let w = &self.wire;
        // Saturating: an unverified envelope may claim sequence numbers past `u64::MAX`.
        let seqs = (0u64..).map(|i| w.first_seq.saturating_add(i));
        seqs.zip(&w.entries)
            .filter(move |(seq, _)| *seq > known)
            .map(|(seq, (hlc, body))| Op {
                space: w.space.clone(),
                author: w.author,
                seq,
                hlc: *hlc,
                body: body.clone(),
            })
    }

    /// The encoded envelope: a version byte then bincode (see `WIRE.md`).
    pub fn encode(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The encoded envelope, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded envelope, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// blake3 of the encoded bytes: the gossip message id.
    pub fn id(&self) -> EnvelopeId {
        EnvelopeId(*blake3::hash(&self.bytes).as_bytes())
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("space", &self.wire.space)
            .field("author", &self.wire.author)
            .field("seqs", &self.seq_range())
            .field("checkpoint", &self.wire.checkpoint)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeId(")?;
        self.0[..6].iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

/// What the author signs: the domain separator, then the encoding of the unsigned fields
/// (which is also the start of the envelope's bincode body).
fn signing_bytes(
    space: &SpaceName,
    author: &AgentId,
    first_seq: u64,
    checkpoint: Option<CheckpointSpan>,
    entries: &[(Hlc, Delta)],
) -> Vec<u8> {
    let mut out = SIGNING_DOMAIN.to_vec();
    out.extend_from_slice(&codec::encode_body(&(
        space, author, first_seq, checkpoint, entries,
    )));
    out
}

/// Checks the op count, the sequence range (within its checkpoint span, if any) and the
/// timestamps.
fn check_structure(
    first_seq: u64,
    checkpoint: Option<CheckpointSpan>,
    entries: &[(Hlc, Delta)],
) -> Result<(), ProtocolError> {
    if entries.is_empty() {
        return Err(ProtocolError::EmptyEnvelope);
    }
    if entries.len() > MAX_OPS_PER_ENVELOPE {
        return Err(ProtocolError::TooManyOps {
            count: entries.len(),
            max: MAX_OPS_PER_ENVELOPE,
        });
    }
    let bad_sequence = ProtocolError::BadSequence {
        first: first_seq,
        count: entries.len(),
    };
    let Some(last_seq) = first_seq.checked_add(entries.len() as u64 - 1) else {
        return Err(bad_sequence);
    };
    if first_seq == 0 {
        return Err(bad_sequence);
    }
    if let Some(span) = checkpoint
        && (span.first == 0 || span.first > first_seq || last_seq > span.last)
    {
        return Err(ProtocolError::BadCheckpoint {
            first: first_seq,
            last: last_seq,
            span_first: span.first,
            span_last: span.last,
        });
    }
    // `first_seq + i + 1` cannot overflow: the range was checked above.
    for (i, pair) in entries.windows(2).enumerate() {
        if pair[1].0 <= pair[0].0 {
            return Err(ProtocolError::HlcNotIncreasing {
                seq: first_seq + i as u64 + 1,
            });
        }
    }
    Ok(())
}

/// Checks every delta as received from `author` for `space`.
fn check_deltas(
    author: &AgentId,
    space: &SpaceName,
    entries: &[(Hlc, Delta)],
) -> Result<(), ProtocolError> {
    entries.iter().try_for_each(|(hlc, delta)| {
        delta
            .validate(author, space, *hlc)
            .map_err(ProtocolError::from)
    })
}

/// Checks the encoded size.
fn check_size(len: usize) -> Result<(), ProtocolError> {
    if len > MAX_ENVELOPE_BYTES {
        return Err(ProtocolError::Oversized {
            len,
            max: MAX_ENVELOPE_BYTES,
        });
    }
    Ok(())
}
