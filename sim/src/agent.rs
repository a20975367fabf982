//! One simulated agent: a real `knack-crdt` space, whether it is online, and its role.

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

/// A simulated agent.
#[derive(Debug)]
pub(crate) struct Agent {
    /// The agent's replica of the space: the real CRDT. `None` for a relay-only agent (see
    /// `Scenario::replicas`): it keeps the op log (version vector) and forwards, but holds no
    /// materialised state, so 100k agents fit in memory.
    pub(crate) space: Option<Box<Space>>,
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
    pub(crate) fn new(space: Option<SpaceName>) -> Self {
        Agent {
            space: space.map(|name| Box::new(Space::new(name))),
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

    /// Bytes held outside the space's own maps (the estimate of those is separate); what the
    /// agent received and applied is in the world's `Ledger`.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.space
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<Space>())
    }
}
