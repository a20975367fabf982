//! The CRDT laws, by property: for every CRDT and for a whole space, merge is commutative,
//! associative and idempotent; any order and duplication of the same deltas gives the same
//! state, the same canonical bytes and the same digest; a replica that receives every op
//! converges.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use common::{Action, World, action};
use knack_crdt::{AgentId, Delta, Filter, Hlc, Lww, OutcomeSlot, Space, Stamp, TagSet, Versioned};
use proptest::prelude::*;

fn world(actions: &[Action], agents: usize) -> World {
    let mut world = World::new(agents);
    for a in actions {
        world.run(a);
    }
    world
}

fn merged(a: &Space, b: &Space) -> Space {
    let mut out = a.clone();
    out.merge(b);
    out
}

/// Asserts two spaces are equal in state, canonical bytes and digest.
fn assert_same(a: &Space, b: &Space) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.encode(), b.encode());
    prop_assert_eq!(a.digest(), b.digest());
    prop_assert!(a == b);
    prop_assert_eq!(a.contagion_graph(), b.contagion_graph());
    // The count of created procedures is kept as changes and merges arrive, not counted.
    for s in [a, b] {
        prop_assert_eq!(s.len(), s.procedures().count());
    }
    // Derived values, contagion included, are the same on equal states (compared bit for bit:
    // the contagion index keeps exact integer sums whatever order evidence arrived in).
    let now = 1_700_000_000_000 + 3_600_000;
    for context in [None, Some(common::TAGS[0].to_owned())] {
        let filter = Filter {
            context,
            ..Filter::default()
        };
        let rows = |s: &Space| -> Vec<(knack_crdt::ProcedureId, u64, u64, u64)> {
            s.top(usize::MAX, &filter, now)
                .into_iter()
                .map(|r| {
                    (
                        r.id,
                        r.score.to_bits(),
                        r.prior.successes.to_bits(),
                        r.prior.failures.to_bits(),
                    )
                })
                .collect()
        };
        prop_assert_eq!(rows(a), rows(b));
    }
    prop_assert!(
        a.contagion_drift().is_empty(),
        "drift in a: {:?}",
        a.contagion_drift()
    );
    prop_assert!(
        b.contagion_drift().is_empty(),
        "drift in b: {:?}",
        b.contagion_drift()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn space_merge_is_commutative_associative_idempotent(
        actions in proptest::collection::vec(action(3), 1..120)
    ) {
        let w = world(&actions, 3);
        let [a, b, c] = [&w.replicas[0], &w.replicas[1], &w.replicas[2]];
        assert_same(&merged(a, b), &merged(b, a))?;
        assert_same(&merged(&merged(a, b), c), &merged(a, &merged(b, c)))?;
        assert_same(&merged(a, a), a)?;
    }

    #[test]
    fn any_order_and_duplication_of_deltas_gives_the_same_state(
        actions in proptest::collection::vec(action(3), 1..120),
        seed in any::<u64>(),
    ) {
        let w = world(&actions, 3);
        let in_order = World::replay(&w.deltas);
        // A deterministic shuffle with duplicates: every delta at least once.
        let mut order: Vec<usize> = (0..w.deltas.len()).collect();
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        for i in (1..order.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let dups: Vec<usize> = (0..order.len() / 3).map(|_| (next() % order.len() as u64) as usize).collect();
        order.extend(dups);
        let shuffled = World::replay(order.iter().map(|&i| &w.deltas[i]));
        assert_same(&in_order, &shuffled)?;
        let reversed = World::replay(w.deltas.iter().rev());
        assert_same(&in_order, &reversed)?;
    }

    #[test]
    fn a_replica_that_receives_every_op_converges(
        actions in proptest::collection::vec(action(4), 1..120)
    ) {
        let mut w = world(&actions, 4);
        let everything = World::replay(&w.deltas);
        for replica in &mut w.replicas {
            for delta in w.deltas.iter().rev() {
                replica.apply(delta);
            }
            assert_same(replica, &everything)?;
        }
        // Delta path and state path agree: merging the replicas equals applying every delta.
        let mut joined = Space::new(common::space_name());
        for replica in &w.replicas {
            joined.merge(replica);
        }
        assert_same(&joined, &everything)?;
        // The full state as a delta rebuilds the same space.
        assert_same(&World::replay([&everything.to_delta()]), &everything)?;
    }

    #[test]
    fn an_authors_restatement_stands_for_all_its_ops(
        actions in proptest::collection::vec(action(3), 1..120),
        kept in 0..120usize,
    ) {
        let w = world(&actions, 3);
        let everything = World::replay(&w.deltas);
        let by = |author: usize, wanted: bool| {
            w.deltas
                .iter()
                .zip(&w.authors)
                .filter(move |(_, a)| (**a == author) == wanted)
                .map(|(d, _)| d)
        };
        // Author 0's ops alone, restated as author 0 (every change valid as its own).
        let alone = World::replay(by(0, true));
        let restated = Delta::new(alone.restatement());
        // A space that keeps no derived index (what a node's checkpoint replays into) holds
        // and restates the same.
        let mut scratch = Space::for_restatement(common::space_name());
        for delta in by(0, true) {
            scratch.apply(delta);
        }
        prop_assert_eq!(scratch.digest(), alone.digest());
        prop_assert_eq!(scratch.restatement(), restated.changes.clone());
        let late = Hlc { wall_ms: u64::MAX / 2, logical: 0 };
        // The run is signed under the author's next sequence numbers, past all its ops.
        let seq = by(0, true).count() as u64 + 1;
        for change in &restated.changes {
            prop_assert!(change.validate(&w.agents[0], &common::space_name(), late, seq).is_ok());
        }
        // In place of author 0's ops, before or after everyone else's.
        let others: Vec<&Delta> = by(0, false).collect();
        let first = World::replay(std::iter::once(&restated).chain(others.iter().copied()));
        assert_same(&first, &everything)?;
        let last = World::replay(others.iter().copied().chain(std::iter::once(&restated)));
        assert_same(&last, &everything)?;
        // After some of author 0's ops (a replica that was behind), and on top of everything.
        let some = by(0, true).take(kept);
        let behind = World::replay(some.chain(others.iter().copied()).chain(std::iter::once(&restated)));
        assert_same(&behind, &everything)?;
        let mut again = everything.clone();
        again.apply(&restated);
        assert_same(&again, &everything)?;
    }

    #[test]
    fn cached_digests_never_go_stale(actions in proptest::collection::vec(action(3), 1..80)) {
        let mut w = World::new(3);
        for a in &actions {
            w.run(a);
            // Fill every cache, so a mutation that forgets to clear one shows below.
            for replica in &w.replicas {
                let _ = replica.digest();
            }
        }
        for replica in &w.replicas {
            let fresh = Space::decode(&replica.encode()).unwrap();
            prop_assert_eq!(replica.digest(), fresh.digest());
        }
    }

    #[test]
    fn snapshots_round_trip(actions in proptest::collection::vec(action(3), 1..80)) {
        let w = world(&actions, 3);
        for replica in &w.replicas {
            let restored = Space::decode(&replica.encode()).unwrap();
            assert_same(&restored, replica)?;
            prop_assert_eq!(restored.settings(), replica.settings());
            // Streamed: the same bytes written, read back to the same state, and what
            // follows the snapshot is left in the reader.
            let mut streamed = Vec::new();
            replica.snapshot().encode_to(&mut streamed).unwrap();
            prop_assert_eq!(&streamed, &replica.encode());
            streamed.extend_from_slice(b"trailer");
            let mut reader = std::io::Cursor::new(&streamed);
            let restored = Space::decode_from(&mut reader).unwrap();
            assert_same(&restored, replica)?;
            prop_assert_eq!(reader.position() as usize, streamed.len() - b"trailer".len());
        }
    }

    #[test]
    fn incremental_contagion_matches_a_recomputation(
        actions in proptest::collection::vec(action(3), 1..150),
        settle_every in 1..6usize,
    ) {
        // Deltas applied one by one, settling now and then, so outcomes are pushed into fresh
        // neighbourhoods between relation changes: the maintained sums must equal sums
        // recomputed from scratch, and a rebuilt replica must rank identically.
        let w = world(&actions, 3);
        let mut space = Space::new(common::space_name());
        for (i, delta) in w.deltas.iter().enumerate() {
            space.apply(delta);
            if i % settle_every == 0 {
                space.settle();
            }
            prop_assert!(space.contagion_drift().is_empty(), "after delta {}", i);
        }
        let rebuilt = Space::decode(&space.encode()).unwrap();
        assert_same(&space, &rebuilt)?;
    }

    #[test]
    fn tag_set_laws(ops in proptest::collection::vec((0..3usize, 0..4usize, 0..3u8), 1..60)) {
        // op: (replica, tag, 0 = add, 1 = remove, 2 = receive the next replica's state)
        let mut sets = [TagSet::new(), TagSet::new(), TagSet::new()];
        for (r, tag, what) in ops {
            let tag = common::TAGS[tag];
            match what {
                0 => sets[r].add(AgentId([r as u8; 32]), tag.to_string()),
                1 => sets[r].remove(tag),
                _ => { let other = sets[(r + 1) % 3].clone(); sets[r].merge(&other); }
            }
            prop_assert!(sets[r].is_well_formed());
        }
        let m = |a: &TagSet, b: &TagSet| { let mut x = a.clone(); x.merge(b); x };
        let [a, b, c] = &sets;
        prop_assert_eq!(m(a, b), m(b, a));
        prop_assert_eq!(m(&m(a, b), c), m(a, &m(b, c)));
        prop_assert_eq!(m(a, a), a.clone());
    }

    #[test]
    fn lww_laws(xs in proptest::collection::vec((0..4u64, 0..3u8, 0..3u8), 3)) {
        let regs: Vec<Lww<u8>> = xs
            .iter()
            .map(|&(t, agent, v)| Lww::new(Stamp::new(AgentId([agent; 32]), Hlc::at(t)), v))
            .collect();
        let m = |a: &Lww<u8>, b: &Lww<u8>| { let mut x = a.clone(); x.merge(b); x };
        let (a, b, c) = (&regs[0], &regs[1], &regs[2]);
        prop_assert_eq!(m(a, b), m(b, a));
        prop_assert_eq!(m(&m(a, b), c), m(a, &m(b, c)));
        prop_assert_eq!(m(a, a), a.clone());
    }

    #[test]
    fn outcome_slot_laws(xs in proptest::collection::vec((0..4u64, 0..3u64, proptest::option::of(0..2usize)), 3)) {
        let slots: Vec<OutcomeSlot> = xs
            .iter()
            .map(|&(seq, s, ctx)| {
                let counts = knack_crdt::Counts { successes: s, failures: seq, total_duration_ms: 0 };
                let contexts = ctx
                    .map(|c| (common::TAGS[c].to_owned(), Versioned { seq, value: counts }))
                    .into_iter()
                    .collect();
                OutcomeSlot::new(Versioned { seq, value: counts }, contexts)
            })
            .collect();
        let m = |a: &OutcomeSlot, b: &OutcomeSlot| { let mut x = a.clone(); x.merge(b); x };
        let (a, b, c) = (&slots[0], &slots[1], &slots[2]);
        prop_assert_eq!(m(a, b), m(b, a));
        prop_assert_eq!(m(&m(a, b), c), m(a, &m(b, c)));
        prop_assert_eq!(m(a, a), a.clone());
    }
}

#[test]
fn concurrent_add_wins_over_remove() {
    let (alice, bob) = (AgentId([1; 32]), AgentId([2; 32]));
    let mut a = TagSet::new();
    a.add(alice, "db".into());
    let mut b = a.clone();
    b.remove("db");
    a.add(alice, "db".into()); // concurrent re-add
    a.merge(&b);
    assert!(a.contains("db"));
    // A remove that observed every add wins.
    let mut c = a.clone();
    c.remove("db");
    a.merge(&c);
    assert!(!a.contains("db"));
    // An add by another agent, not observed by the remover, survives.
    let mut d = a.clone();
    d.add(bob, "db".into());
    let mut e = a.clone();
    e.remove("db");
    d.merge(&e);
    assert!(d.contains("db"));
}

#[test]
fn a_restated_slot_with_many_contexts_is_split_into_valid_changes() {
    use knack_crdt::{Change, Outcome, SpaceName};
    let me = AgentId([9; 32]);
    let (mut space, ids) = common::space_of("laws", 1, me, 1_700_000_000_000);
    for round in 0..3u64 {
        let contexts = (0..16).map(|i| format!("ctx-{round}-{i}")).collect();
        let at = Hlc::at(1_700_000_000_100 + round);
        let outcome = Outcome {
            success: round != 1,
            duration_ms: 10,
            contexts,
        };
        let delta = space.record_outcome(me, at, ids[0], &outcome).unwrap();
        space.apply(&delta);
    }
    let restated = space.restatement();
    let slots: Vec<&Change> = restated
        .iter()
        .filter(|c| matches!(c, Change::Outcome { .. }))
        .collect();
    assert_eq!(slots.len(), 3, "48 contexts make 3 changes of at most 16");
    let late = Hlc::at(1_800_000_000_000);
    for change in &restated {
        change
            // Signed after the creation and the 3 outcome ops.
            .validate(&me, &SpaceName::new("laws").unwrap(), late, 5)
            .unwrap();
    }
    let rebuilt = World::replay([&Delta::new(restated)]);
    assert_eq!(rebuilt.digest(), space.digest());
}

/// The digest keeps its hasher past the space's head (settings, relations, pins, members)
/// between changes of the head: settings, a pin and a relation each change the digest, which
/// stays the digest of the space encoded afresh.
#[test]
fn a_cached_head_digest_follows_every_change_of_the_head() {
    let alice = AgentId([1; 32]);
    let (mut s, p) = common::space_of("head", 3, alice, 1_700_000_000_000);
    let fresh = |s: &Space| Space::decode(&s.encode()).unwrap().digest();
    let mut seen = vec![s.digest()];
    let settings = knack_crdt::SpaceSettings {
        crystallize_min_outcomes: 7,
        ..Default::default()
    };
    let changes = [
        s.update_settings(alice, Hlc::at(1_700_000_001_000), settings)
            .unwrap(),
        s.pin_content(alice, knack_crdt::ContentHash([4; 32]), "bafy-one".into())
            .unwrap(),
        s.link(
            alice,
            Hlc::at(1_700_000_002_000),
            p[0],
            p[1],
            knack_crdt::RelationKind::Next,
            0.5,
        )
        .unwrap(),
    ];
    for delta in changes {
        s.apply(&delta);
        let digest = s.digest();
        assert_eq!(digest, fresh(&s));
        assert!(!seen.contains(&digest), "the change moved the digest");
        seen.push(digest);
    }
}
