//! Fault injection for the store's integrity check: random appends and flushes, crashes that
//! drop every unflushed write, and damage that loses flushed envelopes (sled truncating its log
//! after a bad byte, or a single envelope gone). After any history, a restart either proves the
//! store holds everything the manifest recorded, or refuses it as damaged: a flushed op is never
//! lost silently.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::collections::BTreeMap;

use knack_crdt::{AgentId, SpaceName};
use knack_node::NodeError;
use knack_node::store::integrity::Manifest;
use knack_node::store::{EnvelopeKey, MemoryStore, Store};
use knack_protocol::VersionVector;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    /// Each author appends its next op.
    Append { author: u8 },
    /// Flush, then record the manifest (what a node does after a flush).
    Flush,
    /// A crash: every write since the last flush is gone.
    Crash,
    /// Damage: the author's flushed ops from a point on are gone (sled's truncation).
    Truncate { author: u8, keep: u64 },
    /// Damage: one flushed envelope of the author is gone.
    Hole { author: u8, seq: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..3u8).prop_map(|author| Step::Append { author }),
        3 => Just(Step::Flush),
        1 => Just(Step::Crash),
        1 => (0..3u8, 0..20u64).prop_map(|(author, keep)| Step::Truncate { author, keep }),
        1 => (0..3u8, 1..20u64).prop_map(|(author, seq)| Step::Hole { author, seq }),
    ]
}

fn space() -> SpaceName {
    SpaceName::new("default").unwrap()
}

/// The store a restart sees: the durable envelopes only.
fn store_of(durable: &BTreeMap<(u8, u64), Vec<u8>>) -> MemoryStore {
    let store = MemoryStore::new();
    for ((author, seq), bytes) in durable {
        let key = EnvelopeKey {
            space: space(),
            author: AgentId([*author; 32]),
            first_seq: *seq,
            last_seq: *seq,
        };
        store.append_envelope(&key, bytes).unwrap();
    }
    store
}

/// The version vector a restart rebuilds: per author, the gap-free prefix of its ops.
fn restored_vv(store: &MemoryStore) -> VersionVector {
    let mut vv = VersionVector::new();
    for author in store.authors(&space()).unwrap() {
        let mut next = 1;
        for (key, _) in store
            .envelopes_after(&space(), &author, 0, usize::MAX)
            .unwrap()
        {
            if key.first_seq != next {
                break;
            }
            next = key.last_seq + 1;
        }
        if next > 1 {
            vv.observe(author, next - 1);
        }
    }
    vv
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_flushed_op_is_never_lost_silently(steps in prop::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::load(dir.path()).unwrap();
        let mut durable: BTreeMap<(u8, u64), Vec<u8>> = BTreeMap::new();
        let mut pending: BTreeMap<(u8, u64), Vec<u8>> = BTreeMap::new();
        let mut next: BTreeMap<u8, u64> = BTreeMap::new();
        // What the manifest recorded, per author.
        let mut recorded: BTreeMap<u8, u64> = BTreeMap::new();
        let mut damaged = false;
        for step in steps {
            match step {
                Step::Append { author } => {
                    let seq = next.entry(author).or_insert(0);
                    *seq += 1;
                    pending.insert((author, *seq), vec![author, *seq as u8]);
                }
                Step::Flush => {
                    durable.append(&mut pending);
                    let store = store_of(&durable);
                    let vv = restored_vv(&store);
                    let space = space();
                    manifest.record([(&space, &vv)]).unwrap();
                    for (author, seq) in vv.iter() {
                        recorded.insert(author.0[0], seq);
                    }
                }
                Step::Crash => {
                    pending.clear();
                    // The authors' next numbers follow what survived.
                    next = durable.keys().fold(BTreeMap::new(), |mut m, (a, s)| {
                        let e = m.entry(*a).or_insert(0);
                        *e = (*e).max(*s);
                        m
                    });
                }
                Step::Truncate { author, keep } => {
                    let before = durable.len();
                    durable.retain(|(a, s), _| *a != author || *s <= keep);
                    damaged |= durable.len() < before;
                }
                Step::Hole { author, seq } => {
                    damaged |= durable.remove(&(author, seq)).is_some();
                }
            }
            // A restart after every step: the check refuses exactly when a recorded op is gone.
            let store = store_of(&durable);
            let vv = restored_vv(&store);
            let lost = recorded
                .iter()
                .any(|(author, seq)| vv.get(&AgentId([*author; 32])) < *seq);
            let space = space();
            let checked = Manifest::load(dir.path())
                .unwrap()
                .check(dir.path(), &store, [(&space, &vv)]);
            match checked {
                Ok(()) => prop_assert!(!lost, "a recorded op was lost silently"),
                Err(NodeError::StoreDamaged { reason, .. }) => {
                    prop_assert!(lost, "refused an intact store: {reason}");
                    prop_assert!(damaged);
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
            if lost {
                break; // a node stops here; `knack repair` is the way on
            }
        }
    }
}
