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

/// The transport a node's swarm runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// TCP (noise, yamux) and QUIC as configured, or TCP under `pnet` in a private network:
    /// what a daemon runs.
    #[default]
    Network,
    /// libp2p's in-process memory transport (`/memory/<port>` addresses, noise, yamux): for
    /// nodes embedded in one process, such as tests, with no socket at all.
    Memory,
}
pub(crate) use private_network::PrivateNetwork;
pub(crate) use swarm::{build_swarm, topic};

/// The anti-entropy protocol.
pub const SYNC_PROTOCOL: &str = "/knack/sync/1";
/// The blob protocol.
pub const BLOB_PROTOCOL: &str = "/knack/blob/1";
/// Largest frame of either protocol, in bytes.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
