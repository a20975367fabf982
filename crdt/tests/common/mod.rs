//! Shared test driver: several agents, each with its own replica, acting at random.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use knack_crdt::{
    AgentId, Body, Delta, Edit, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind,
    RelationKind, Space, SpaceName, SpaceSettings,
};
use proptest::prelude::*;

/// The tags and contexts actions choose from (small, so actions collide often).
pub const TAGS: [&str; 4] = ["deploy", "db", "k8s", "retry"];

/// One thing an agent can do, with indices into the small universe of the test.
#[derive(Clone, Debug)]
pub enum Action {
    Add {
        agent: usize,
    },
    Rename {
        agent: usize,
        proc: usize,
        name: u8,
    },
    Tag {
        agent: usize,
        proc: usize,
        tag: usize,
        add: bool,
    },
    Body {
        agent: usize,
        proc: usize,
        byte: u8,
    },
    Outcome {
        agent: usize,
        proc: usize,
        success: bool,
        context: Option<usize>,
    },
    Link {
        agent: usize,
        a: usize,
        b: usize,
        kind: usize,
        strength: u8,
    },
    Unlink {
        agent: usize,
        a: usize,
        b: usize,
        kind: usize,
    },
    Sync {
        from: usize,
        to: usize,
    },
    Tick {
        ms: u32,
    },
}

/// A strategy for one action among `agents` agents.
pub fn action(agents: usize) -> impl Strategy<Value = Action> {
    let a = 0..agents;
    let p = 0..8usize;
    prop_oneof![
        2 => a.clone().prop_map(|agent| Action::Add { agent }),
        1 => (a.clone(), p.clone(), any::<u8>())
            .prop_map(|(agent, proc, name)| Action::Rename { agent, proc, name }),
        2 => (a.clone(), p.clone(), 0..TAGS.len(), any::<bool>())
            .prop_map(|(agent, proc, tag, add)| Action::Tag { agent, proc, tag, add }),
        1 => (a.clone(), p.clone(), any::<u8>())
            .prop_map(|(agent, proc, byte)| Action::Body { agent, proc, byte }),
        4 => (a.clone(), p.clone(), any::<bool>(), proptest::option::of(0..TAGS.len()))
            .prop_map(|(agent, proc, success, context)| Action::Outcome { agent, proc, success, context }),
        2 => (a.clone(), p.clone(), p.clone(), 0..5usize, any::<u8>())
            .prop_map(|(agent, a, b, kind, strength)| Action::Link { agent, a, b, kind, strength }),
        1 => (a.clone(), p.clone(), p.clone(), 0..5usize)
            .prop_map(|(agent, a, b, kind)| Action::Unlink { agent, a, b, kind }),
        2 => (a.clone(), a.clone()).prop_map(|(from, to)| Action::Sync { from, to }),
        1 => (1..50_000_000u32).prop_map(|ms| Action::Tick { ms }),
    ]
}

/// Agents with their own replicas, the procedures they know of, and every delta produced.
pub struct World {
    pub agents: Vec<AgentId>,
    pub replicas: Vec<Space>,
    pub procs: Vec<ProcedureId>,
    pub deltas: Vec<Delta>,
    /// The author (index into `agents`) of each delta.
    pub authors: Vec<usize>,
    pub wall_ms: u64,
    logical: u32,
    nonce: u64,
}

pub fn space_name() -> SpaceName {
    SpaceName::new("laws").unwrap()
}

impl World {
    pub fn new(agents: usize) -> Self {
        World {
            agents: (0..agents).map(|i| AgentId([i as u8 + 1; 32])).collect(),
            replicas: (0..agents).map(|_| Space::new(space_name())).collect(),
            procs: Vec::new(),
            deltas: Vec::new(),
            authors: Vec::new(),
            wall_ms: 1_700_000_000_000,
            logical: 0,
            nonce: 0,
        }
    }

    /// A fresh, strictly increasing timestamp (one clock for the whole world is enough to
    /// keep each agent's stamps unique).
    fn hlc(&mut self) -> Hlc {
        self.logical += 1;
        Hlc {
            wall_ms: self.wall_ms,
            logical: self.logical,
        }
    }

    fn proc(&self, i: usize) -> Option<ProcedureId> {
        (!self.procs.is_empty()).then(|| self.procs[i % self.procs.len()])
    }

    /// Performs `action`; errors of the crdt (unknown procedure on this replica, crystallized,
    /// self-relation) are legitimate refusals and simply produce no delta.
    pub fn run(&mut self, action: &Action) {
        let delta = match *action {
            Action::Add { agent } => {
                self.nonce += 1;
                let at = self.hlc();
                let new = NewProcedure {
                    nonce: self.nonce,
                    name: format!("procedure {}", self.nonce),
                    description: "test".into(),
                    kind: ProcedureKind::Steps,
                    tags: vec![TAGS[self.nonce as usize % TAGS.len()].into()],
                    body: Body::Inline(vec![self.nonce as u8; 3]),
                };
                let (id, delta) = self.replicas[agent]
                    .add_procedure(self.agents[agent], at, new)
                    .unwrap();
                self.procs.push(id);
                Some(delta)
            }
            Action::Rename { agent, proc, name } => self.proc(proc).and_then(|id| {
                let at = self.hlc();
                let edit = Edit {
                    name: Some(format!("name {name}")),
                    ..Edit::default()
                };
                self.replicas[agent]
                    .edit(self.agents[agent], at, id, edit)
                    .ok()
            }),
            Action::Tag {
                agent,
                proc,
                tag,
                add,
            } => self.proc(proc).and_then(|id| {
                let at = self.hlc();
                let tag = TAGS[tag].to_string();
                let edit = if add {
                    Edit {
                        add_tags: vec![tag],
                        ..Edit::default()
                    }
                } else {
                    Edit {
                        remove_tags: vec![tag],
                        ..Edit::default()
                    }
                };
                self.replicas[agent]
                    .edit(self.agents[agent], at, id, edit)
                    .ok()
            }),
            Action::Body { agent, proc, byte } => self.proc(proc).and_then(|id| {
                let at = self.hlc();
                let edit = Edit {
                    body: Some(Body::Inline(vec![byte; 5])),
                    ..Edit::default()
                };
                self.replicas[agent]
                    .edit(self.agents[agent], at, id, edit)
                    .ok()
            }),
            Action::Outcome {
                agent,
                proc,
                success,
                context,
            } => self.proc(proc).and_then(|id| {
                let at = self.hlc();
                let outcome = Outcome {
                    success,
                    duration_ms: 100,
                    contexts: context
                        .map(|c| vec![TAGS[c].to_string()])
                        .unwrap_or_default(),
                };
                self.replicas[agent]
                    .record_outcome(self.agents[agent], at, id, &outcome)
                    .ok()
            }),
            Action::Link {
                agent,
                a,
                b,
                kind,
                strength,
            } => match (self.proc(a), self.proc(b)) {
                (Some(a), Some(b)) => {
                    let at = self.hlc();
                    self.replicas[agent]
                        .link(
                            self.agents[agent],
                            at,
                            a,
                            b,
                            RelationKind::ALL[kind],
                            f64::from(strength) / 255.0,
                        )
                        .ok()
                }
                _ => None,
            },
            Action::Unlink { agent, a, b, kind } => match (self.proc(a), self.proc(b)) {
                (Some(a), Some(b)) => {
                    let at = self.hlc();
                    self.replicas[agent]
                        .unlink(self.agents[agent], at, a, b, RelationKind::ALL[kind])
                        .ok()
                }
                _ => None,
            },
            Action::Sync { from, to } => {
                if from != to {
                    let source = self.replicas[from].clone();
                    self.replicas[to].merge(&source);
                }
                None
            }
            Action::Tick { ms } => {
                self.wall_ms += u64::from(ms);
                self.logical = 0;
                None
            }
        };
        if let Some(delta) = delta {
            let author = self.agent_of(action);
            let at = Hlc {
                wall_ms: self.wall_ms,
                logical: self.logical,
            };
            // The author's sequence number of this op: one more than its earlier deltas.
            let seq = 1 + self.authors.iter().filter(|a| **a == author).count() as u64;
            delta
                .validate(&self.agents[author], &space_name(), at, seq)
                .unwrap();
            self.replicas[author].apply(&delta);
            self.deltas.push(delta);
            self.authors.push(author);
        }
    }

    fn agent_of(&self, action: &Action) -> usize {
        match *action {
            Action::Add { agent }
            | Action::Rename { agent, .. }
            | Action::Tag { agent, .. }
            | Action::Body { agent, .. }
            | Action::Outcome { agent, .. }
            | Action::Link { agent, .. }
            | Action::Unlink { agent, .. } => agent,
            Action::Sync { to, .. } => to,
            Action::Tick { .. } => 0,
        }
    }

    /// A fresh space with every delta applied in the order given.
    pub fn replay<'a>(deltas: impl IntoIterator<Item = &'a Delta>) -> Space {
        let mut space = Space::new(space_name());
        for delta in deltas {
            space.apply(delta);
        }
        space
    }
}

/// A space named `name` with `n` procedures P0..Pn-1 created by `by` at `at_ms`.
pub fn space_of(name: &str, n: usize, by: AgentId, at_ms: u64) -> (Space, Vec<ProcedureId>) {
    let mut space = Space::new(SpaceName::new(name).unwrap());
    let ids = (0..n)
        .map(|i| {
            let new = NewProcedure {
                nonce: i as u64,
                name: format!("P{i}"),
                description: String::new(),
                kind: ProcedureKind::Steps,
                tags: vec![],
                body: Body::Inline(format!("body {i}").into_bytes()),
            };
            let (id, delta) = space.add_procedure(by, Hlc::at(at_ms), new).unwrap();
            space.apply(&delta);
            id
        })
        .collect();
    (space, ids)
}

/// Writes `settings` into `space` as `by`, stamped after the current register (at `at_ms` if
/// there is none).
pub fn set_settings(space: &mut Space, by: AgentId, at_ms: u64, settings: SpaceSettings) {
    let at = space
        .settings_register()
        .map_or(at_ms, |reg| reg.stamp.hlc.wall_ms + 1);
    let delta = space.update_settings(by, Hlc::at(at), settings).unwrap();
    space.apply(&delta);
}
