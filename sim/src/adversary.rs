//! Adversaries: droppers (forward nothing), flooders (send invalid envelopes), and an eclipse
//! (one honest node whose every connection goes to droppers).

use std::collections::BTreeSet;

use knack_protocol::Envelope;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::agent::{Agent, Role};
use crate::engine::Event;
use crate::message::Msg;
use crate::network::US_PER_MS;
use crate::rng::{self, Stream};
use crate::scenario::Scenario;
use crate::topology::Topology;
use crate::world::World;

/// Who misbehaves in a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Adversaries {
    /// Nodes that forward nothing.
    pub droppers: u32,
    /// Nodes that flood invalid envelopes.
    pub flooders: Vec<u32>,
    /// The eclipsed node, if any.
    pub victim: Option<u32>,
    /// The nodes around it.
    pub attackers: Vec<u32>,
}

/// Assigns roles (never to authors) and rewires the eclipse.
pub(crate) fn assign(
    cfg: &Scenario,
    agents: &mut [Agent],
    topo: Topology,
    authors: &BTreeSet<u32>,
) -> (Topology, Adversaries) {
    let a = &cfg.adversary;
    let mut rng = rng::stream(cfg.seed, Stream::Adversary);
    let mut out = Adversaries::default();
    for (i, agent) in agents.iter_mut().enumerate() {
        let r: f64 = rng.r#gen();
        if authors.contains(&(i as u32)) {
            continue;
        }
        if r < a.droppers {
            agent.role = Role::Dropper;
            out.droppers += 1;
        } else if r < a.droppers + a.flooders {
            agent.role = Role::Flooder;
            out.flooders.push(i as u32);
        }
    }
    if a.eclipse_attackers == 0 {
        return (topo, out);
    }
    let mut honest: Vec<u32> = (0..agents.len() as u32)
        .filter(|i| agents[*i as usize].role == Role::Honest && !authors.contains(i))
        .collect();
    honest.shuffle(&mut rng);
    let Some(victim) = honest.pop() else {
        return (topo, out);
    };
    honest.truncate(a.eclipse_attackers as usize);
    let attackers = honest;
    agents[victim as usize].role = Role::Victim;
    for &x in &attackers {
        agents[x as usize].role = Role::Dropper;
        out.droppers += 1;
    }
    let topo = topo.eclipse(victim, &attackers);
    out.victim = Some(victim);
    out.attackers = attackers;
    (topo, out)
}

/// Schedules the flooders' first bursts.
pub(crate) fn start(w: &mut World, adv: &Adversaries) {
    if w.cfg.adversary.flood_rate_per_s <= 0.0 {
        return;
    }
    let period = period_us(w);
    for &f in &adv.flooders {
        let phase = w.gossip_rng.gen_range(0..period);
        w.queue.push(phase, Event::Flood(f));
    }
}

fn period_us(w: &World) -> u64 {
    ((1000.0 / w.cfg.adversary.flood_rate_per_s) * US_PER_MS as f64).max(1.0) as u64
}

/// A flooder sends an invalid envelope to every neighbour.
pub(crate) fn flood(w: &mut World, node: u32) {
    let period = period_us(w);
    w.queue.push(w.now() + period, Event::Flood(node));
    for p in w.topo.neighbors(node).to_vec() {
        w.send(node, p, Msg::Invalid);
    }
}

/// An invalid envelope reached `node`: always rejected; a sample is checked by the real
/// verifier (which must refuse it).
pub(crate) fn receive_invalid(w: &mut World, sampled: bool) {
    w.metrics.counters.invalid_received += 1;
    if sampled {
        w.metrics.counters.verified += 1;
        if Envelope::decode(&w.invalid)
            .and_then(|e| e.verify())
            .is_err()
        {
            w.metrics.counters.invalid_verified += 1;
        }
    }
}
