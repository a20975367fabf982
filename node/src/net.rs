//! The libp2p edge of the node: the swarm's behaviour, its construction, knack's two
//! protocols as libp2p behaviours around the protocol crate's sans-IO engines ([`sync`],
//! [`blob`]), and the byte framing they share. Message meaning lives in `knack-protocol`.

mod behaviour;
pub(crate) mod blob;
mod frame_codec;
mod private_network;
mod request_response;
mod swarm;
pub(crate) mod sync;
#[cfg(test)]
mod tests;

pub(crate) use behaviour::{Behaviour, BehaviourEvent};
pub use frame_codec::FrameCodec;
pub(crate) use private_network::PrivateNetwork;
pub(crate) use swarm::{build_swarm, topic};

/// The anti-entropy protocol.
pub const SYNC_PROTOCOL: &str = "/knack/sync/1";
/// The blob protocol.
pub const BLOB_PROTOCOL: &str = "/knack/blob/1";
/// Largest frame of either protocol, in bytes.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
