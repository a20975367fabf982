//! Helpers shared by the integration tests: deterministic keys, authors producing valid random
//! ops, and a replica (log + inbox + space) that ingests envelopes the way a node does.
#![allow(dead_code, unreachable_pub)]

use knack_crdt::{
    AgentId, Body, Delta, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind, RelationKind,
    Space, SpaceName,
};
use knack_protocol::{Admitted, Envelope, HybridClock, Inbox, MemoryLog, ProtocolError, agent_id};
use libp2p_identity::Keypair;
use rand::Rng;

/// The ed25519 keypair of a fixed seed (ed25519 signatures are deterministic, so everything it
/// signs is reproducible).
pub fn keypair(seed: u8) -> Keypair {
    Keypair::ed25519_from_bytes([seed; 32]).expect("32 bytes make an ed25519 secret key")
}

/// The agent of `keypair(seed)`.
pub fn agent(seed: u8) -> AgentId {
    agent_id(&keypair(seed)).unwrap()
}

/// The test space.
pub fn space() -> SpaceName {
    SpaceName::new("team").unwrap()
}

/// A new procedure with fixed fields.
pub fn new_procedure(nonce: u64, name: &str) -> NewProcedure {
    NewProcedure {
        nonce,
        name: name.into(),
        description: "how we deploy".into(),
        kind: ProcedureKind::Script,
        tags: vec!["deploy".into()],
        body: Body::Inline(b"make deploy".to_vec()),
    }
}

/// An agent authoring valid ops in its own view of the space.
pub struct Author {
    pub keypair: Keypair,
    pub agent: AgentId,
    pub view: Space,
    pub clock: HybridClock,
    pub next_seq: u64,
    pub procedures: Vec<ProcedureId>,
    pub wall_ms: u64,
}

impl Author {
    pub fn new(seed: u8) -> Self {
        let keypair = keypair(seed);
        Author {
            agent: agent_id(&keypair).unwrap(),
            keypair,
            view: Space::new(space()),
            clock: HybridClock::new(),
            next_seq: 1,
            procedures: Vec::new(),
            wall_ms: 1_000_000,
        }
    }

    /// One random valid op: a new procedure, an outcome of one of ours, or a link.
    pub fn next_op(&mut self, rng: &mut impl Rng) -> (Hlc, Delta) {
        self.wall_ms += rng.gen_range(0..3);
        let hlc = self.clock.now(self.wall_ms);
        let roll = rng.gen_range(0..10);
        let delta = if self.procedures.is_empty() || roll < 4 {
            let nonce = rng.r#gen::<u64>();
            let (id, delta) = self
                .view
                .add_procedure(self.agent, hlc, new_procedure(nonce, "proc"))
                .unwrap();
            self.procedures.push(id);
            delta
        } else if roll < 9 || self.procedures.len() < 2 {
            let id = self.procedures[rng.gen_range(0..self.procedures.len())];
            let outcome = Outcome {
                success: rng.gen_bool(0.7),
                duration_ms: rng.gen_range(1..1000),
                contexts: vec![],
            };
            self.view
                .record_outcome(self.agent, hlc, id, &outcome)
                .unwrap()
        } else {
            let a = self.procedures[0];
            let b = self.procedures[self.procedures.len() - 1];
            self.view
                .link(
                    self.agent,
                    hlc,
                    a,
                    b,
                    RelationKind::Similar,
                    rng.gen_range(0.0..1.0),
                )
                .unwrap()
        };
        self.view.apply(&delta);
        (hlc, delta)
    }

    /// An envelope of the next `n` ops.
    pub fn envelope(&mut self, rng: &mut impl Rng, n: usize) -> Envelope {
        let entries: Vec<_> = (0..n).map(|_| self.next_op(rng)).collect();
        let envelope = Envelope::seal(&self.keypair, space(), self.next_seq, entries).unwrap();
        self.next_seq += n as u64;
        envelope
    }
}

/// What a node holds: the log of envelopes, the inbox ordering them, the space they build.
pub struct Replica {
    pub log: MemoryLog,
    pub inbox: Inbox,
    pub space: Space,
    pub rejected: u64,
}

impl Default for Replica {
    fn default() -> Self {
        let mut log = MemoryLog::new();
        log.add_space(space());
        Replica {
            log,
            inbox: Inbox::new(),
            space: Space::new(space()),
            rejected: 0,
        }
    }
}

impl Replica {
    /// Decodes, verifies, orders, stores and applies an encoded envelope, as a node does.
    pub fn ingest(&mut self, bytes: &[u8]) -> Result<usize, ProtocolError> {
        let result = self.try_ingest(bytes);
        if matches!(&result, Err(e) if !matches!(e, ProtocolError::Replayed { .. })) {
            self.rejected += 1;
        }
        result
    }

    fn try_ingest(&mut self, bytes: &[u8]) -> Result<usize, ProtocolError> {
        let envelope = Envelope::decode(bytes)?;
        let known = self
            .log
            .known(envelope.space())
            .cloned()
            .unwrap_or_default();
        // Cheap check first: an envelope whose ops are all known is dropped unverified.
        if envelope.last_seq() <= known.get(&envelope.author()) {
            return Err(ProtocolError::Replayed {
                author: envelope.author(),
                seq: envelope.last_seq(),
            });
        }

        envelope.verify()?;
        match self.inbox.admit(&known, envelope)? {
            Admitted::Buffered { .. } => Ok(0),
            Admitted::Ready(ready) => {
                let mut applied = 0;
                for r in ready {
                    self.log.insert(&r.envelope)?;
                    for op in &r.ops {
                        self.space.apply(&op.body);
                        applied += 1;
                    }
                }
                Ok(applied)
            }
        }
    }
}
