//! One simulated agent: a real `knack-crdt` space, what it has seen, and its role.

use knack_crdt::{Space, SpaceName};

/// How an agent behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// Follows the protocol.
    Honest,
    /// Takes part in the mesh but forwards nothing and answers no request.
    Dropper,
    /// Sends invalid envelopes to its peers (and otherwise behaves).
    Flooder,
    /// The honest node an eclipse attack isolates.
    Victim,
}

/// A growable bit set over update indices.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitSet(Vec<u64>);

impl BitSet {
    /// Whether `i` is in the set.
    pub(crate) fn contains(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Adds `i`; returns whether it was new.
    pub(crate) fn insert(&mut self, i: u32) -> bool {
        let word = i as usize / 64;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let bit = 1 << (i % 64);
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.capacity() * 8
    }
}

/// A simulated agent.
#[derive(Debug)]
pub(crate) struct Agent {
    /// The agent's replica of the space: the real CRDT. `None` for a relay-only agent (see
    /// `Scenario::replicas`): it keeps the op log (version vector) and forwards, but holds no
    /// materialised state, so 100k agents fit in memory.
    pub(crate) space: Option<Space>,
    /// Updates received (by gossip or sync): the seen cache, and what is buffered.
    pub(crate) known: BitSet,
    /// Per author index: the highest sequence number applied (ops apply in sequence order,
    /// as the protocol's inbox hands them out).
    pub(crate) vv: Vec<u32>,
    /// Updates applied.
    pub(crate) applied: u32,
    /// Length of the prefix of the update table applied (for convergence checks).
    pub(crate) prefix: u32,
    /// Whether the agent is online.
    pub(crate) online: bool,
    /// How it behaves.
    pub(crate) role: Role,
}

impl Agent {
    /// A fresh honest online agent, with an empty space if it holds one.
    pub(crate) fn new(space: Option<SpaceName>, authors: usize) -> Self {
        Agent {
            space: space.map(Space::new),
            known: BitSet::default(),
            vv: vec![0; authors],
            applied: 0,
            prefix: 0,
            online: true,
            role: Role::Honest,
        }
    }

    /// Whether the agent forwards and answers (droppers do not).
    pub(crate) fn forwards(&self) -> bool {
        self.role != Role::Dropper
    }

    /// Whether the agent counts as honest (for reach and convergence).
    pub(crate) fn honest(&self) -> bool {
        matches!(self.role, Role::Honest | Role::Victim)
    }

    /// Bytes held outside the space (estimate of the space itself is separate).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.known.heap_bytes() + self.vv.capacity() * 4
    }
}
