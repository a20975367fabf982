//! Flooding: every node forwards every new message to every neighbour but the sender.

use crate::gossip::Gossip;
use crate::message::Msg;
use crate::world::World;

/// The flooding model (stateless: the seen cache is the node's known set).
#[derive(Debug)]
pub(crate) struct Flood;

impl Flood {
    fn forward(w: &mut World, node: u32, except: u32, u: u32, hops: u16) {
        if !w.agents[node as usize].forwards() {
            return;
        }
        let peers = w.topo.neighbors(node).to_vec();
        for p in peers {
            if p != except {
                w.send(
                    node,
                    p,
                    Msg::Publish {
                        update: u,
                        hops: hops + 1,
                    },
                );
            }
        }
    }
}

impl Gossip for Flood {
    fn start(&mut self, _w: &mut World) {}

    fn publish(&mut self, w: &mut World, node: u32, u: u32) {
        Flood::forward(w, node, u32::MAX, u, 0);
    }

    fn on_new(&mut self, w: &mut World, node: u32, from: u32, u: u32, hops: u16) {
        Flood::forward(w, node, from, u, hops);
    }

    fn on_control(&mut self, _w: &mut World, _node: u32, _from: u32, _msg: Msg) {}

    fn on_timer(&mut self, _w: &mut World, _node: u32) {}

    fn heap_bytes(&self) -> usize {
        0
    }
}
