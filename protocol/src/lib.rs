//! # knack-protocol: how knack replicas talk
//!
//! knack's memory is a CRDT ([`knack_crdt::Space`]): replicas converge whatever order they
//! hear of changes in. This crate moves those changes between peers: it names, signs, encodes,
//! checks and orders them, and runs the anti-entropy protocol that repairs whatever gossip lost.
//! It does no IO: time (`now_ms`), peers (a generic id) and randomness come in as arguments, so
//! the node (over libp2p) and the simulator run the very same code.
//!
//! ## Ops and envelopes
//! An **op** ([`Op`]) is one [`knack_crdt::Delta`] by one agent in one space, with the author's
//! sequence number (`1, 2, 3, ...`, no gap) and a hybrid logical clock timestamp
//! ([`HybridClock`], after Kulkarni et al. 2014). An agent is its ed25519 public key
//! ([`knack_crdt::AgentId`]); its libp2p peer id embeds the same key ([`peer_id`],
//! [`agent_of`]).
//!
//! An **envelope** ([`Envelope`]) carries consecutive ops of one author in one space, signed
//! by the author over a domain-separated encoding (`b"knack/envelope/v4" || fields`). It is the
//! unit of gossip, storage and sync: stored and forwarded as its encoded bytes, named by their
//! blake3 hash ([`Envelope::id`]). A receiver checks it with [`Envelope::verify`]: size, op
//! count, sequence range, increasing timestamps, the author's key, the signature, and every
//! delta's validity, including that each owner-only slot it writes belongs to the author (so
//! nobody can write another agent's outcomes). Then the [`Inbox`] orders it: ops already known
//! are trimmed ([`ProtocolError::Replayed`] if nothing is new), ops past a gap wait (bounded)
//! until the gap fills.
//!
//! ## The wire
//! Every top-level message is a [`PROTOCOL_VERSION`] byte then bincode 2 (standard config:
//! little endian, varints), size-checked before decoding, with trailing bytes and non-canonical
//! encodings refused; `WIRE.md` gives every field. Errors are one enum, [`ProtocolError`], with
//! a stable [`ProtocolError::reason`] label per variant for metrics.
//!
//! ## Anti-entropy (`/knack/sync/1`)
//! Gossip repairs losses only within its message cache window, so peers also run rounds of a
//! request-response protocol, on connect and then periodically, per space ([`sync`]):
//!
//! 1. `Pull { have }`: the requester's [`VersionVector`] (author -> highest gap-free seq);
//! 2. `Envelopes { envelopes, have, more }`: what the requester lacks, within a byte budget,
//!    and the responder's own vector (`more`: pull again at once);
//! 3. `Push { envelopes }` -> `Ack`: if that vector lacks ops the requester holds.
//!
//! [`SyncEngine`] is the state machine (timeouts, exponential backoff, one request per peer in
//! flight, bounded state); the op log is behind the small [`OpLog`] trait ([`MemoryLog`] in
//! memory).
//!
//! **Why version vectors.** An op is named by `(author, seq)` and each author's ops are
//! gap-free, so one number per author says exactly what a replica has, and the difference of
//! two vectors is a list of ranges to send. That costs O(authors) bytes per round: fine for
//! thousands of authors. Past that, range-based set reconciliation over `(author, seq)`
//! (Meyer, "Range-Based Set Reconciliation", 2023) sends O(differences · log n) instead and is
//! the known better answer; the simulator should measure before we switch. Version vectors
//! are `crdts::VClock` underneath, so merging them is the vector-clock join.
//!
//! ## Blobs (`/knack/blob/1`)
//! Bodies too large to travel inline are fetched by blake3 hash in chunks of at most
//! [`MAX_BLOB_CHUNK_BYTES`] ([`blob`]). Each chunk travels as a bao slice (BLAKE3 verified
//! streaming) and is checked on arrival against the hash; [`BlobFetch`] spreads chunks over
//! several peers, drops any that sends a bad one, and resumes from a verified prefix.
//!
//! ## Example: two replicas sync
//! ```
//! use knack_crdt::{Body, Hlc, NewProcedure, ProcedureKind, Space, SpaceName};
//! use knack_protocol::{
//!     Admitted, Envelope, HybridClock, Inbox, MemoryLog, SyncConfig, SyncEngine, SyncOutput,
//!     agent_id,
//! };
//! use libp2p_identity::Keypair;
//!
//! let team = SpaceName::new("team")?;
//! // Alice authors an op on replica 0: a delta, stamped, sealed into a signed envelope.
//! let alice = Keypair::ed25519_from_bytes([1u8; 32])?;
//! let mut clock = HybridClock::new();
//! let view = Space::new(team.clone());
//! let (_, delta) = view.add_procedure(agent_id(&alice).unwrap(), clock.now(1_000), NewProcedure {
//!     nonce: 7,
//!     name: "deploy".into(),
//!     description: String::new(),
//!     kind: ProcedureKind::Script,
//!     tags: vec![],
//!     body: Body::Inline(b"make deploy".to_vec()),
//! })?;
//! let envelope = Envelope::seal(&alice, team.clone(), 1, vec![(clock.last(), delta)])?;
//!
//! // Each replica: an op log, an inbox, the space, a sync engine (peers are plain numbers).
//! struct Replica { log: MemoryLog, inbox: Inbox, space: Space, sync: SyncEngine<u32> }
//! let mut replicas: Vec<Replica> = (0..2).map(|_| {
//!     let mut log = MemoryLog::new();
//!     log.add_space(team.clone());
//!     let mut sync = SyncEngine::new(SyncConfig::default());
//!     sync.add_space(team.clone());
//!     Replica { log, inbox: Inbox::new(), space: Space::new(team.clone()), sync }
//! }).collect();
//! // What every replica does with envelope bytes, from gossip, sync or its own agent.
//! let ingest = |r: &mut Replica, bytes: &[u8]| -> Result<(), knack_protocol::ProtocolError> {
//!     let envelope = Envelope::decode(bytes)?;
//!     envelope.verify()?;
//!     let known = r.log.known(envelope.space()).cloned().unwrap_or_default();
//!     if let Admitted::Ready(ready) = r.inbox.admit(&known, envelope)? {
//!         for ready in ready {
//!             r.log.insert(&ready.envelope)?;
//!             ready.ops.iter().for_each(|op| r.space.apply(&op.body));
//!         }
//!     }
//!     Ok(())
//! };
//! ingest(&mut replicas[0], &envelope.encode())?;
//!
//! // Connect them and run sync rounds until neither has anything to send.
//! replicas[0].sync.peer_connected(1, 0);
//! replicas[1].sync.peer_connected(0, 0);
//! let now = 0;
//! for me in [1usize, 0] {
//!     let peer = 1 - me;
//!     let r = &mut replicas[me];
//!     for (_, request) in r.sync.poll_requests(now, &r.log) {
//!         // The request travels as bytes; the peer answers it.
//!         let request = knack_protocol::SyncRequest::decode(&request.encode())?;
//!         let responder = &mut replicas[peer];
//!         let (response, pushed) = responder.sync.handle_request(&(me as u32), request, &responder.log);
//!         for bytes in pushed { ingest(responder, &bytes)?; }
//!         let requester = &mut replicas[me];
//!         for output in requester.sync.handle_response(&(peer as u32), response, now, &requester.log) {
//!             if let SyncOutput::Ingest { envelopes, .. } = output {
//!                 for bytes in envelopes { ingest(requester, &bytes)?; }
//!             }
//!         }
//!     }
//! }
//! assert_eq!(replicas[1].log.known(&team), replicas[0].log.known(&team));
//! assert_eq!(replicas[1].space.digest(), replicas[0].space.digest());
//! assert_eq!(replicas[1].space.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod blob;
pub mod checkpoint;
mod clock;
mod codec;
mod envelope;
mod error;
mod identity;
mod inbox;
pub mod sync;
mod version_vector;

pub use blob::{BlobFetch, BlobRequest, BlobResponse, FetchStatus, MAX_BLOB_CHUNK_BYTES, Penalty};
pub use clock::{DEFAULT_MAX_DRIFT_MS, HybridClock};
pub use codec::PROTOCOL_VERSION;
pub use envelope::{
    CheckpointSpan, Envelope, EnvelopeId, MAX_ENVELOPE_BYTES, MAX_OPS_PER_ENVELOPE, Op,
};
pub use error::ProtocolError;
pub use identity::{Signature, agent_id, agent_of, check_agent, peer_id, sign, verify};
pub use inbox::{
    Admitted, Inbox, InboxStats, MAX_BUFFERED_BYTES, MAX_BUFFERED_BYTES_PER_AUTHOR,
    MAX_BUFFERED_OPS, MAX_BUFFERED_OPS_PER_AUTHOR, Ready,
};
pub use sync::{MemoryLog, OpLog, SyncConfig, SyncEngine, SyncOutput, SyncRequest, SyncResponse};
pub use version_vector::{SeqRange, VersionVector};
