//! The libp2p edge of the node: the swarm's behaviour, its construction, and the byte framing
//! of knack's request-response protocols. Message meaning lives in `knack-protocol`; this
//! module moves bytes.

mod behaviour;
mod frame_codec;
mod private_network;
mod swarm;

pub(crate) use behaviour::{Behaviour, BehaviourEvent};
pub use frame_codec::FrameCodec;
pub(crate) use private_network::PrivateNetwork;
pub(crate) use swarm::{REQUEST_TIMEOUT, build_swarm, topic};

/// The anti-entropy protocol.
pub const SYNC_PROTOCOL: &str = "/knack/sync/1";
/// The blob protocol.
pub const BLOB_PROTOCOL: &str = "/knack/blob/1";
/// Largest frame of either protocol, in bytes.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
