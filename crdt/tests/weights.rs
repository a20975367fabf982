//! Weighted evidence (`evidence_weighting`): a liar or a burst of 1,000 fresh identities can
//! neither lift a bad procedure above one with broad honest evidence nor crystallize it; with
//! weighting off they can (so each test can fail). Weights are the same whatever order the
//! outcomes arrive in, and honest agents who agree keep weights near 1.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{
    AgentId, Body, Change, Counts, Delta, Filter, Hlc, NewProcedure, Outcome, OutcomeSlot,
    ProcedureId, ProcedureKind, Space, SpaceName, SpaceSettings, Versioned,
};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Honest agents, procedures each of them uses, uses per procedure and agent.
const HONEST: usize = 20;
const PROCEDURES: usize = 30;
const USES: usize = 3;
/// The good procedure (true rate 0.95) and the bad one (0.2).
const GOOD: usize = 0;
const BAD: usize = 1;
/// A procedure that always works.
const PERFECT: usize = 2;

fn agent(i: usize) -> AgentId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes[31] = 1;
    AgentId(bytes)
}

fn sybil(i: usize) -> AgentId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes[31] = 2;
    AgentId(bytes)
}

const LIAR: AgentId = AgentId([9; 32]);

/// The true success rate of procedure `i`.
fn rate(i: usize) -> f64 {
    match i {
        GOOD => 0.95,
        BAD => 0.2,
        PERFECT => 1.0,
        _ => 0.3 + 0.6 * (i as f64 / PROCEDURES as f64),
    }
}

/// A world: the space's setup and every honest outcome as deltas, in authoring order.
struct World {
    ids: Vec<ProcedureId>,
    deltas: Vec<Delta>,
    space: Space,
    clock: u64,
}

impl World {
    /// 30 procedures tagged `t`; 20 honest agents use each 3 times and report what happened
    /// (seeded draws from the true rates).
    fn new(weighting: bool) -> World {
        let mut space = Space::new(SpaceName::new("weights").unwrap());
        let mut world = World {
            ids: Vec::new(),
            deltas: Vec::new(),
            space: Space::new(SpaceName::new("weights").unwrap()),
            clock: 1,
        };
        let settings = SpaceSettings {
            evidence_weighting: weighting,
            ..SpaceSettings::default()
        };
        let d = space
            .update_settings(agent(0), Hlc::at(1), settings)
            .unwrap();
        world.push(&mut space, d);
        for i in 0..PROCEDURES {
            let new = NewProcedure {
                nonce: i as u64,
                name: format!("procedure {i}"),
                description: String::new(),
                kind: ProcedureKind::Steps,
                tags: vec!["t".into()],
                body: Body::Inline(format!("step {i}").into_bytes()),
            };
            world.clock += 1;
            let (id, d) = space
                .add_procedure(agent(0), Hlc::at(world.clock), new)
                .unwrap();
            world.ids.push(id);
            world.push(&mut space, d);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for round in 0..USES {
            for a in 0..HONEST {
                for p in 0..PROCEDURES {
                    let success = rng.r#gen::<f64>() < rate(p);
                    let _ = round;
                    world.record(&mut space, agent(a), p, success);
                }
            }
        }
        space.settle();
        world.space = space;
        world
    }

    fn push(&mut self, space: &mut Space, d: Delta) {
        space.apply(&d);
        self.deltas.push(d);
    }

    /// Records an outcome of procedure `p` by `by` through the authoring code.
    fn record(&mut self, space: &mut Space, by: AgentId, p: usize, success: bool) {
        self.clock += 1;
        let outcome = Outcome {
            success,
            duration_ms: 1,
            contexts: vec!["t".into()],
        };
        let d = space
            .record_outcome(by, Hlc::at(self.clock), self.ids[p], &outcome)
            .unwrap();
        self.push(space, d);
    }

    /// `by` records `count` outcomes of `p`.
    fn report(&mut self, by: AgentId, p: usize, success: bool, count: usize) {
        let mut space = std::mem::replace(
            &mut self.space,
            Space::new(SpaceName::new("weights").unwrap()),
        );
        for _ in 0..count {
            self.record(&mut space, by, p, success);
        }
        self.space = space;
    }

    /// Applies the transitions the counts call for (what a replica does after merging).
    fn settle_crystals(&mut self) {
        self.space.settle();
        let d = self.space.crystal_transitions();
        self.space.apply(&d);
        self.deltas.push(d);
    }

    fn crystallized(&self, p: usize) -> bool {
        self.space.procedure(&self.ids[p]).unwrap().crystallized()
    }

    fn score(&self, p: usize) -> f64 {
        self.space.procedure(&self.ids[p]).unwrap().score(u64::MAX)
    }

    /// The position of `p` in the ranking of tag `t`.
    fn position(&self, p: usize) -> usize {
        let filter = Filter {
            tag: Some("t".into()),
            ..Filter::default()
        };
        self.space
            .top(PROCEDURES, &filter, 1_000)
            .iter()
            .position(|r| r.id == self.ids[p])
            .unwrap()
    }
}

#[test]
fn one_liar_cannot_lift_a_bad_procedure_above_one_with_broad_honest_evidence() {
    for weighting in [false, true] {
        let mut w = World::new(weighting);
        assert!(w.position(GOOD) < w.position(BAD));
        // One identity reports 1,000 successes of the bad procedure.
        w.report(LIAR, BAD, true, 1_000);
        w.space.settle();
        let (good, bad) = (w.score(GOOD), w.score(BAD));
        if weighting {
            assert!(w.position(GOOD) < w.position(BAD), "good {good} bad {bad}");
            let row = &w.space.top(PROCEDURES, &Filter::default(), 1_000)[w.position(BAD)];
            assert!(row.weighted.successes_f64() < 20.0, "{row:?}");
            assert!(w.space.evidence_weights().weight(&LIAR) < 10_000);
        } else {
            // Without weights the lie wins: the test can fail.
            assert!(bad > good, "good {good} bad {bad}");
            assert!(w.position(BAD) < w.position(GOOD));
        }
    }
}

#[test]
fn a_burst_of_1000_fresh_identities_neither_crystallizes_nor_lifts_a_bad_procedure() {
    for weighting in [false, true] {
        let mut w = World::new(weighting);
        w.settle_crystals();
        assert!(!w.crystallized(BAD));
        let before = w.deltas.len();
        for i in 0..1_000 {
            w.report(sybil(i), BAD, true, 1);
        }
        // Proposals made by the Sybils' own writes, then by a replica that merged them.
        let proposed = w.deltas[before..]
            .iter()
            .flat_map(|d| d.changes.iter())
            .any(|c| matches!(c, knack_crdt::Change::Crystal { .. }));
        w.settle_crystals();
        if weighting {
            assert!(!proposed);
            assert!(!w.crystallized(BAD));
            assert!(w.position(GOOD) < w.position(BAD));
            let weights = w.space.evidence_weights();
            let total: u64 = (0..1_000)
                .map(|i| u64::from(weights.weight(&sybil(i))))
                .sum();
            assert!(total < 2_000_000, "the burst weighs {total} millionths");
            let p = w.space.procedure(&w.ids[BAD]).unwrap();
            assert!(p.trusted_success_agents() < p.success_agents());
        } else {
            assert!(
                w.crystallized(BAD),
                "without weights the burst crystallizes"
            );
            assert!(w.position(BAD) < w.position(GOOD));
        }
    }
}

#[test]
fn honest_agents_keep_weights_near_one_and_procedures_that_work_still_crystallize() {
    let mut w = World::new(true);
    // Two liars who say the opposite of what they see: successes of the procedures that
    // mostly fail, failures of those that mostly work, 3 of each procedure.
    let liars = [AgentId([7; 32]), AgentId([8; 32])];
    for liar in liars {
        for p in 0..PROCEDURES {
            w.report(liar, p, rate(p) < 0.5, USES);
        }
    }
    // A patient liar: reports what others see on every procedure but lies 10 times on two.
    let patient = AgentId([6; 32]);
    for p in 3..PROCEDURES {
        w.report(patient, p, rate(p) > 0.6, 2);
    }
    w.report(patient, BAD, true, 10);
    w.report(patient, GOOD, false, 10);
    w.space.settle();
    let weights = w.space.evidence_weights();
    for a in 0..HONEST {
        let aw = weights.get(&agent(a)).unwrap();
        assert!(aw.weight > 850_000, "honest agent {a}: {aw:?}");
    }
    for liar in liars {
        let lw = weights.get(&liar).unwrap();
        assert!(lw.weight < 400_000, "{lw:?}");
    }
    // The documented limit: the patient liar keeps most of its weight.
    assert!(weights.weight(&patient) > 500_000);
    assert!(w.position(GOOD) < w.position(BAD));
    // The procedure that always works (60 honest successes) crystallizes on honest evidence.
    let mut honest = World::new(true);
    honest.settle_crystals();
    let perfect = honest.space.procedure(&honest.ids[PERFECT]).unwrap();
    assert!(
        perfect.crystallized(),
        "{:?}",
        perfect.weighted_counts(None)
    );
    assert_eq!(perfect.trusted_success_agents(), HONEST);
}

#[test]
fn weights_are_the_same_whatever_order_outcomes_arrive_in() {
    let mut w = World::new(true);
    w.report(LIAR, BAD, true, 200);
    for i in 0..100 {
        w.report(sybil(i), BAD, true, 1);
    }
    w.space.settle();
    let expected = w.space.evidence_weights().clone();
    assert_eq!(expected.len(), HONEST + 1 + 100);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..3 {
        let mut deltas = w.deltas.clone();
        deltas.shuffle(&mut rng);
        // Two replicas get halves in shuffled order, then merge.
        let (left, right) = deltas.split_at(deltas.len() / 3);
        let mut a = Space::new(SpaceName::new("weights").unwrap());
        let mut b = Space::new(SpaceName::new("weights").unwrap());
        for d in left {
            a.apply(d);
        }
        for d in right {
            b.apply(d);
            a.apply(d);
        }
        b.merge(&a);
        for replica in [&a, &b] {
            assert_eq!(replica.evidence_weights(), &expected);
            let row = |s: &Space| s.top(PROCEDURES, &Filter::default(), 1_000);
            let mine = row(replica);
            let theirs = row(&w.space);
            assert_eq!(mine.len(), theirs.len());
            for (x, y) in mine.iter().zip(&theirs) {
                assert_eq!((x.id, x.weighted), (y.id, y.weighted));
                assert_eq!(x.score.to_bits(), y.score.to_bits());
            }
        }
    }
}

/// One write of an outcome slot: `agent`'s totals on procedure `proc` (any counts, as a forged
/// or restated slot may carry; the join keeps the larger of each counter).
#[derive(Clone, Debug)]
struct SlotWrite {
    agent: usize,
    proc: usize,
    successes: u64,
    failures: u64,
}

/// The delta of a slot write (the totals, and one context so that a slot with no uses
/// exists too).
fn slot_delta(ids: &[ProcedureId], w: &SlotWrite) -> Delta {
    let counts = Counts {
        successes: w.successes,
        failures: w.failures,
        total_duration_ms: 0,
    };
    let slot = OutcomeSlot::new(
        Versioned {
            seq: w.successes + w.failures,
            value: counts,
        },
        [(
            "t".to_owned(),
            Versioned {
                seq: 1,
                value: Counts::default(),
            },
        )]
        .into_iter()
        .collect(),
    );
    Delta::new(vec![Change::Outcome {
        id: ids[w.proc % ids.len()],
        agent: agent(w.agent),
        slot,
    }])
}

/// `procedures` procedures (their creations as deltas) and their ids.
fn creations(procedures: usize) -> (Vec<ProcedureId>, Vec<Delta>) {
    let mut space = Space::new(SpaceName::new("weights").unwrap());
    let (mut ids, mut deltas) = (Vec::new(), Vec::new());
    let settings = SpaceSettings {
        evidence_weighting: true,
        ..SpaceSettings::default()
    };
    deltas.push(
        space
            .update_settings(agent(0), Hlc::at(1), settings)
            .unwrap(),
    );
    for i in 0..procedures {
        let new = NewProcedure {
            nonce: i as u64,
            name: format!("procedure {i}"),
            description: String::new(),
            kind: ProcedureKind::Steps,
            tags: vec![],
            body: Body::Inline(vec![i as u8]),
        };
        let (id, d) = space
            .add_procedure(agent(0), Hlc::at(2 + i as u64), new)
            .unwrap();
        space.apply(&d);
        ids.push(id);
        deltas.push(d);
    }
    (ids, deltas)
}

/// The incrementally maintained weights of `space` equal a derivation from scratch.
fn check(space: &Space) -> Result<(), TestCaseError> {
    let scratch = space.evidence_weights_from_scratch();
    prop_assert_eq!(space.evidence_weights(), &scratch);
    Ok(())
}

fn slot_writes() -> impl Strategy<Value = Vec<SlotWrite>> {
    prop::collection::vec(
        (0..8usize, 0..12usize, 0..9u64, 0..9u64).prop_map(|(agent, proc, successes, failures)| {
            SlotWrite {
                agent,
                proc,
                successes,
                failures,
            }
        }),
        1..80,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random slot writes applied in random orders to two replicas, read at random points,
    /// merged, restored from a snapshot and cloned, and written again: the weights maintained
    /// between reads always equal a derivation from scratch, and the replicas that hold the
    /// same slots hold the same weights.
    #[test]
    fn maintained_weights_equal_a_derivation_from_scratch(
        procedures in 1..12usize,
        writes in slot_writes(),
        later in slot_writes(),
        seed in any::<u64>(),
        split in 0.0..1.0f64,
        read_every in 1..5usize,
    ) {
        let (ids, setup) = creations(procedures);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut deltas: Vec<Delta> = setup.clone();
        deltas.extend(writes.iter().map(|w| slot_delta(&ids, w)));
        deltas.shuffle(&mut rng);
        let at = (deltas.len() as f64 * split) as usize;
        let mut a = Space::new(SpaceName::new("weights").unwrap());
        let mut b = Space::new(SpaceName::new("weights").unwrap());
        for (i, d) in deltas.iter().enumerate() {
            let replica = if i < at { &mut a } else { &mut b };
            replica.apply(d);
            if rng.gen_range(0..read_every) == 0 {
                check(replica)?;
            }
        }
        check(&a)?;
        check(&b)?;
        // A clone shares the maintained state until it reads again; both go on correctly.
        let mut c = b.clone();
        b.merge(&a);
        check(&b)?;
        for d in deltas[..at].iter().rev() {
            c.apply(d);
            if rng.gen_range(0..read_every) == 0 {
                check(&c)?;
            }
        }
        check(&c)?;
        prop_assert_eq!(c.evidence_weights(), b.evidence_weights());
        // A restored snapshot, then more writes on it and on the live replica.
        let mut restored = Space::decode(&b.encode()).unwrap();
        check(&restored)?;
        let mut more: Vec<Delta> = later.iter().map(|w| slot_delta(&ids, w)).collect();
        for d in &more {
            restored.apply(d);
            if rng.gen_range(0..read_every) == 0 {
                check(&restored)?;
            }
        }
        check(&restored)?;
        more.shuffle(&mut rng);
        for d in &more {
            b.apply(d);
        }
        b.settle();
        check(&b)?;
        prop_assert_eq!(b.evidence_weights(), restored.evidence_weights());
    }
}

/// Weights maintained through the honest world's writes, a liar's and a burst of fresh
/// identities, read after every write, equal a derivation from scratch; so do those of a
/// replica that merges a large one (more than 256 procedures changed: derived again).
#[test]
fn weights_read_after_every_write_equal_a_derivation_from_scratch() {
    let mut w = World::new(true);
    assert_eq!(
        w.space.evidence_weights(),
        &w.space.evidence_weights_from_scratch()
    );
    for i in 0..40 {
        w.report(LIAR, i % PROCEDURES, i % 3 == 0, 1);
        w.space.evidence_weights();
        w.report(sybil(i), BAD, true, 1);
        assert_eq!(
            w.space.evidence_weights(),
            &w.space.evidence_weights_from_scratch()
        );
    }
    let (ids, setup) = creations(400);
    let mut big = Space::new(SpaceName::new("weights").unwrap());
    for d in &setup {
        big.apply(d);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..3_000 {
        let write = SlotWrite {
            agent: rng.gen_range(0..12),
            proc: rng.gen_range(0..ids.len()),
            successes: rng.gen_range(0..6),
            failures: rng.gen_range(0..3),
        };
        big.apply(&slot_delta(&ids, &write));
    }
    let mut small = Space::new(SpaceName::new("weights").unwrap());
    for d in &setup[..10] {
        small.apply(d);
    }
    small.apply(&slot_delta(
        &ids,
        &SlotWrite {
            agent: 1,
            proc: 2,
            successes: 3,
            failures: 1,
        },
    ));
    assert_eq!(
        small.evidence_weights(),
        &small.evidence_weights_from_scratch()
    );
    small.merge(&big);
    assert_eq!(
        small.evidence_weights(),
        &small.evidence_weights_from_scratch()
    );
    assert_eq!(small.evidence_weights(), big.evidence_weights());
    assert!(big.evidence_weights().len() == 12);
}
