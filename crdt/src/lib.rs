//! # knack-crdt: procedural memory as conflict-free replicated data types
//!
//! A **space** is the memory a team of agents shares. It holds **procedures** (how to do a
//! task: steps, a script, a prompt, a tool recipe), the **outcome** of every use each agent
//! made of them, and typed and weighted **relations** between them, over which evidence spreads
//! to related procedures ("success contagion", derived on every replica). Every replica of a space converges to
//! the same state, whatever order it hears of changes in, because the whole space is a
//! state-based CRDT (Shapiro et al., "Conflict-free Replicated Data Types", 2011) and every
//! change is a small piece of state joined into it — a delta-state CRDT in the sense of
//! Almeida et al., "Delta State Replicated Data Types" (2018), with one simplification: each
//! delta is self-contained (a register, an owner-sequenced slot, a max, a whole tag set), so no
//! causal delivery is needed.
//!
//! ## The pieces
//! - names, descriptions, kinds, relation strengths, settings: last-writer-wins registers
//!   ([`Lww`]) ordered by hybrid logical clock [`Stamp`]s;
//! - tags: an add-wins observed-remove set ([`TagSet`]) over compact vector clocks;
//! - outcomes: one slot per agent, written only by that agent with a rising sequence number
//!   ([`OutcomeSlot`]), merged counter by counter (max); global counts are exact sums;
//! - bodies: a grow-only map of versions ([`ContentRef`] by stamp), the newest is current;
//! - `last_used`: a max-register; crystallization proposals: a grow-only set of epochs;
//! - IPFS pins: one CID per content per agent.
//!
//! Derived, never stored, identical on converged replicas: `rate = (s+1)/(s+f+2)`,
//! `confidence` = Wilson lower bound (z = 1.96), the contagion [`Prior`] (neighbours' evidence
//! as bounded pseudo-counts, see [`contagion`]) and `score` = the Wilson lower bound of own
//! counts plus prior. Crystallization is the one place we depart from "derived": hysteresis
//! needs memory, so it is a latch derived from replicated proposals (see [`crystal`]).
//!
//! ## Purity
//! No IO, no clock, no randomness: time ([`Hlc`], wall milliseconds) and nonces are arguments,
//! so the node, the simulator and the tests run the same code deterministically. The crate
//! builds for `wasm32-unknown-unknown`.
//!
//! ## Example
//! ```
//! use knack_crdt::{AgentId, Body, Hlc, NewProcedure, Outcome, ProcedureKind, RelationKind,
//!                  Space, SpaceName};
//!
//! let alice = AgentId([1; 32]);
//! let bob = AgentId([2; 32]);
//! let mut a = Space::new(SpaceName::new("team")?);
//! let mut b = Space::new(SpaceName::new("team")?);
//!
//! let new = |nonce, name: &str| NewProcedure {
//!     nonce,
//!     name: name.into(),
//!     description: String::new(),
//!     kind: ProcedureKind::Script,
//!     tags: vec!["deploy".into()],
//!     body: Body::Inline(b"make deploy".to_vec()),
//! };
//! let (p, d1) = a.add_procedure(alice, Hlc::at(1), new(1, "deploy with make"))?;
//! a.apply(&d1);
//! let (q, d2) = a.add_procedure(alice, Hlc::at(2), new(2, "deploy with just"))?;
//! a.apply(&d2);
//! let d3 = a.link(alice, Hlc::at(3), p, q, RelationKind::Similar, 0.8)?;
//! a.apply(&d3);
//!
//! // Bob hears of it all, out of order, and records a success of P.
//! for d in [&d3, &d2, &d1, &d1] {
//!     b.apply(d);
//! }
//! let success = Outcome { success: true, duration_ms: 900, contexts: vec![] };
//! let d4 = b.record_outcome(bob, Hlc::at(4), p, &success)?;
//! b.apply(&d4);
//! a.apply(&d4);
//!
//! assert_eq!(a.digest(), b.digest());
//! // Contagion: Bob's success of P is 0.1 * 0.8 of a success in Q's prior, on both replicas.
//! let prior = a.procedure(&q).unwrap().prior(None, 4);
//! assert!((prior.successes - 0.1 * 0.8).abs() < 1e-12);
//! assert_eq!(prior, b.procedure(&q).unwrap().prior(None, 4));
//! assert!(a.procedure(&q).unwrap().score(4) > 0.0); // lifted above an unrelated unused one
//! # Ok::<(), knack_crdt::CrdtError>(())
//! ```

mod authoring;
mod change;
mod clock;
mod compact;
pub mod contagion;
mod content;
pub mod crystal;
mod digest_cache;
mod error;
pub mod explore;
mod fraction;
mod frozen_space;
mod held;
mod held_tags;
mod ids;
mod intern;
mod kind;
pub mod limits;
mod lww;
pub mod membership;
mod outcome;
mod procedure;
mod ranking;
mod relation;
mod relation_map;
mod restate;
mod settings;
mod slot_state;
mod space;
pub mod stats;
mod tag_set;
pub mod weights;

pub use authoring::{Edit, NewProcedure, Outcome};
pub use change::{Change, Creation, Delta};
pub use clock::{Hlc, Stamp};
pub use contagion::{ContagionGraph, Prior, SettleJob, SettledSums};
pub use content::{Body, ContentRef};
pub use error::CrdtError;
pub use explore::Policy;
pub use fraction::Fraction;
pub use frozen_space::FrozenSpace;
pub use ids::{AgentId, ContentHash, ProcedureId, SpaceName};
pub use kind::ProcedureKind;
pub use lww::Lww;
pub use membership::{MemberRecord, MemberRecords, Membership, Role};
pub use outcome::{Counts, OutcomeSlot, SlotCounts, Versioned};
pub use procedure::{Procedure, ProcedureText};
pub use ranking::{Filter, Ranked};
pub use relation::{RelationKey, RelationKind};
pub use settings::{MAX_CONTAGION_HOPS, SpaceSettings};
pub use space::{Space, SpaceSnapshot, StateDigest};
pub use tag_set::TagSet;
pub use weights::{AgentWeight, EvidenceWeights, WeightedCounts};
