//! One simulated agent: whether it is online, and its role. What it received and applied is in
//! the world's `Ledger`, its replica (if it holds one) in `Replicas`.

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
    /// A fresh honest online agent.
    pub(crate) fn new() -> Self {
        Agent {
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
}
