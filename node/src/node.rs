//! The node: a builder, a handle, and the actor that owns the swarm, the store and the spaces.
//!
//! One actor task owns everything mutable; handles send it commands with a
//! oneshot reply. Writes are made durable in groups: the actor takes every command waiting in
//! its queue, applies them, flushes the store once, and only then publishes the new envelopes
//! and answers the callers, so an acknowledged write survives any crash and nothing a peer has
//! seen can be lost and re-issued under the same sequence number.

mod actor;
mod builder;
mod command;
mod content;
mod handle;
mod joined;
mod own_seq;
mod replica;

pub(crate) use actor::{Completion, PendingReply, wall_ms};
pub use builder::NodeBuilder;
pub use command::{BodyRef, NewProcedureRequest};
pub(crate) use command::{Command, Reply};
pub use content::BodyData;
pub use handle::{Node, NodeInfo};
