//! # knack-node
//!
//! The knack node: what an agent runs or embeds. This crate is growing into the libp2p swarm,
//! the sled store, the IPFS tier, the HTTP API and the CLI (see the project's issues); today it
//! holds the [`store`] and the `knack` binary with an offline `demo` that drives `knack-crdt` and
//! `knack-protocol` end to end in one process.

pub mod store;
