//! Dissemination models: how a node spreads a new update to its peers.
//!
//! Each model is a state machine driven by the engine: it hears of updates published or newly
//! received at a node, of control messages, of its timers, and of nodes leaving and joining,
//! and answers by sending messages through the [`World`].

mod flood;
mod gossipsub;
mod mcache;
mod push;

pub(crate) use flood::Flood;
pub(crate) use gossipsub::Gossipsub;
pub(crate) use push::Push;

use crate::message::Msg;
use crate::scenario::{Model, Scenario};
use crate::world::World;

/// A dissemination model.
pub(crate) trait Gossip {
    /// Schedules the model's timers.
    fn start(&mut self, w: &mut World);
    /// `node` authored update `u`.
    fn publish(&mut self, w: &mut World, node: u32, u: u32);
    /// `node` got update `u` for the first time, by gossip from `from`, `hops` from its author.
    fn on_new(&mut self, w: &mut World, node: u32, from: u32, u: u32, hops: u16);
    /// A control message for the model.
    fn on_control(&mut self, w: &mut World, node: u32, from: u32, msg: Msg);
    /// A node's timer (or the global round, with `node == u32::MAX`).
    fn on_timer(&mut self, w: &mut World, node: u32);
    /// `node` went offline.
    fn on_leave(&mut self, _w: &mut World, _node: u32) {}
    /// `node` came back online.
    fn on_join(&mut self, _w: &mut World, _node: u32) {}
    /// Heap bytes of the model's per-node state.
    fn heap_bytes(&self) -> usize;
    /// Mean mesh size, for models with a mesh.
    fn mean_mesh(&self) -> Option<f64> {
        None
    }
}

/// The model a scenario asks for.
pub(crate) fn build(cfg: &Scenario) -> Box<dyn Gossip> {
    match cfg.gossip.model {
        Model::Flood => Box::new(Flood),
        Model::Push => Box::new(Push::new(cfg, false)),
        Model::PushPull => Box::new(Push::new(cfg, true)),
        Model::Gossipsub => Box::new(Gossipsub::new(cfg)),
    }
}
