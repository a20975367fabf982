//! The messages simulated agents exchange, and what they cost on the wire.
//!
//! Payload messages carry envelopes by reference to the run's update table (the author signs
//! an envelope once and every peer forwards the same bytes, as the real node does), so a
//! message is a few bytes in memory whatever its size on the wire. Anti-entropy messages are
//! the protocol's real ones, and their size is their real encoded size.

use std::rc::Rc;

use knack_protocol::{SyncRequest, SyncResponse};

/// Bytes of framing around every message: length prefix, protobuf tags, yamux header.
pub(crate) const FRAME_BYTES: u32 = 24;
/// Bytes a gossipsub publish adds to its envelope: topic, source, sequence number, signature.
pub(crate) const PUBLISH_BYTES: u32 = 150;
/// Bytes of one gossipsub message id on the wire (a blake3 hash).
pub(crate) const MESSAGE_ID_BYTES: u32 = 34;
/// Bytes of the topic name and control framing of a gossipsub control message.
pub(crate) const CONTROL_BYTES: u32 = 20;

/// A protocol message with its size on the wire.
#[derive(Debug)]
pub(crate) struct Sized<M> {
    /// The message.
    pub(crate) message: M,
    /// Envelope bytes it carries.
    pub(crate) payload: u32,
    /// Its other bytes.
    pub(crate) control: u32,
}

/// A message between two agents.
///
/// Every variant's data fits in 8 bytes (larger ones are boxed): millions of messages wait in
/// the event queue at once, and the queue moves them around.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A gossip message carrying one envelope; `hops` counts relays since the author.
    Publish {
        /// Index in the update table.
        update: u32,
        /// Hops travelled on arrival.
        hops: u16,
    },
    /// gossipsub: ids of messages the sender has (one list shared by every peer it goes to).
    IHave(Rc<Vec<u32>>),
    /// gossipsub: ids the sender wants.
    IWant(Rc<Vec<u32>>),
    /// gossipsub v1.2: do not send me this one, I have it.
    IDontWant(u32),
    /// gossipsub: add me to your mesh.
    Graft,
    /// gossipsub: remove me from your mesh.
    Prune,
    /// push-pull: send me what you know that I lack (carries the ids the sender knows).
    PullRequest {
        /// How many ids the request lists (its size on the wire).
        ids: u32,
    },
    /// Anti-entropy: a real `/knack/sync/1` request (pull, or push of what the peer lacks).
    SyncRequest(Box<Sized<SyncRequest>>),
    /// Anti-entropy: a real `/knack/sync/1` response.
    SyncResponse(Box<Sized<SyncResponse>>),
    /// An adversary's invalid envelope.
    Invalid,
}

impl Msg {
    /// `(payload bytes, control bytes)` of the message on the wire, given each update's
    /// envelope size and an invalid envelope's size.
    pub(crate) fn bytes(&self, envelope: impl Fn(u32) -> u32, invalid: u32) -> (u32, u32) {
        let ids = |n: usize| CONTROL_BYTES + MESSAGE_ID_BYTES * n as u32;
        match self {
            Msg::Publish { update, .. } => (envelope(*update) + PUBLISH_BYTES, FRAME_BYTES),
            Msg::IHave(v) => (0, FRAME_BYTES + ids(v.len())),
            Msg::IWant(v) => (0, FRAME_BYTES + ids(v.len())),
            Msg::IDontWant(_) => (0, FRAME_BYTES + ids(1)),
            Msg::Graft | Msg::Prune => (0, FRAME_BYTES + CONTROL_BYTES),
            Msg::PullRequest { ids: n } => (0, FRAME_BYTES + ids(*n as usize)),
            Msg::SyncRequest(m) => (m.payload, FRAME_BYTES + m.control),
            Msg::SyncResponse(m) => (m.payload, FRAME_BYTES + m.control),
            Msg::Invalid => (invalid + PUBLISH_BYTES, FRAME_BYTES),
        }
    }

    /// Whether the message carries envelopes (counted as payload).
    pub(crate) fn is_payload(&self) -> bool {
        match self {
            Msg::Publish { .. } | Msg::Invalid => true,
            Msg::SyncRequest(m) => m.payload > 0,
            Msg::SyncResponse(m) => m.payload > 0,
            _ => false,
        }
    }
}
