//! What a hostile writer cannot do with a well-formed, signed change (issue 15, part 1):
//! latch a procedure crystallized, jump its counters, lower them, or hide a good IPFS pin.
//! Each hole is checked twice: validation refuses the crafted change where it can be judged
//! alone, and the state's join makes the rest harmless whatever order changes arrive in.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{
    AgentId, Body, Change, ContentHash, Counts, CrdtError, Delta, Hlc, NewProcedure, Outcome,
    OutcomeSlot, ProcedureId, ProcedureKind, Space, SpaceName, Versioned,
};
use litemap::LiteMap;

const ALICE: AgentId = AgentId([1; 32]);
const BOB: AgentId = AgentId([2; 32]);
const MALLORY: AgentId = AgentId([9; 32]);
const LATE: Hlc = Hlc::at(1_000_000);

fn name() -> SpaceName {
    SpaceName::new("forged").unwrap()
}

fn space() -> (Space, ProcedureId) {
    let mut space = Space::new(name());
    let new = NewProcedure {
        nonce: 1,
        name: "rotate the keys".into(),
        description: String::new(),
        kind: ProcedureKind::Steps,
        tags: vec![],
        body: Body::Inline(b"vault rotate".to_vec()),
    };
    let (id, delta) = space.add_procedure(ALICE, Hlc::at(1), new).unwrap();
    space.apply(&delta);
    (space, id)
}

fn counts(successes: u64, failures: u64) -> Counts {
    Counts {
        successes,
        failures,
        total_duration_ms: 0,
    }
}

fn slot(seq: u64, value: Counts) -> OutcomeSlot {
    OutcomeSlot::new(Versioned { seq, value }, LiteMap::new())
}

fn crystal(id: ProcedureId, epoch: u32) -> Delta {
    Delta::new(vec![Change::Crystal { id, epoch }])
}

/// Records `n` outcomes of `id` by `by`, each as its own op, applied to `space`.
fn record(space: &mut Space, by: AgentId, id: ProcedureId, n: u64, success: bool, clock: &mut u64) {
    for _ in 0..n {
        *clock += 1;
        let outcome = Outcome {
            success,
            duration_ms: 1,
            contexts: vec![],
        };
        let delta = space
            .record_outcome(by, Hlc::at(*clock), id, &outcome)
            .unwrap();
        space.apply(&delta);
    }
}

#[test]
fn an_epoch_past_the_limit_is_refused_and_one_within_it_takes_no_effect_alone() {
    let (mut s, id) = space();
    for epoch in [0, u32::MAX, knack_crdt::crystal::MAX_CRYSTAL_EPOCH + 1] {
        assert_eq!(
            crystal(id, epoch).validate(&MALLORY, &name(), LATE, 1),
            Err(CrdtError::CrystalEpoch(epoch))
        );
    }
    // Within the limit, a skipped epoch passes validation but never takes effect.
    let skip = crystal(id, 1001);
    assert_eq!(skip.validate(&MALLORY, &name(), LATE, 1), Ok(()));
    s.apply(&skip);
    let p = s.procedure(&id).unwrap();
    assert_eq!(p.crystal_epoch(), 0);
    assert!(!p.crystallized());
}

#[test]
fn a_lone_writer_cannot_crystallize_a_procedure_with_no_evidence() {
    let (mut s, id) = space();
    // Epoch 1 proposed by Mallory with 5 uses: below `crystallize_min_outcomes` (20) and one
    // agent: no effect, whatever else it claims.
    let mut clock = 10;
    record(&mut s, MALLORY, id, 5, true, &mut clock);
    s.apply(&crystal(id, 1));
    assert!(!s.procedure(&id).unwrap().crystallized());
    // The same proposal takes effect once the counts an honest proposer saw have merged in:
    // 40 successes from two agents.
    record(&mut s, ALICE, id, 20, true, &mut clock);
    record(&mut s, BOB, id, 15, true, &mut clock);
    assert!(s.procedure(&id).unwrap().crystallized());
}

#[test]
fn the_latch_is_the_same_whatever_order_proposals_and_counts_arrive_in() {
    // An honest history: Alice and Bob prove the procedure, it crystallizes (epoch 1), failures
    // arrive and it melts (epoch 2).
    let (mut honest, id) = space();
    let mut clock = 10;
    let mut deltas = Vec::new();
    for (by, n, success) in [(ALICE, 30, true), (BOB, 20, true), (BOB, 30, false)] {
        for _ in 0..n {
            clock += 1;
            let outcome = Outcome {
                success,
                duration_ms: 1,
                contexts: vec![],
            };
            let d = honest
                .record_outcome(by, Hlc::at(clock), id, &outcome)
                .unwrap();
            honest.apply(&d);
            deltas.push(d);
        }
    }
    let p = honest.procedure(&id).unwrap();
    assert_eq!(p.crystal_epoch(), 2, "crystallized, then melted");
    // Replay the same deltas in reverse (proposals before the counts that justify them) and
    // interleaved: the same latch and the same digest.
    let (mut reversed, _) = space();
    for d in deltas.iter().rev() {
        reversed.apply(d);
    }
    let (mut odd_first, _) = space();
    for d in deltas
        .iter()
        .skip(1)
        .step_by(2)
        .chain(deltas.iter().step_by(2))
    {
        odd_first.apply(d);
    }
    for replica in [&reversed, &odd_first] {
        assert_eq!(replica.procedure(&id).unwrap().crystal_epoch(), 2);
        assert_eq!(replica.digest(), honest.digest());
    }
}

#[test]
fn an_outcome_slot_claims_at_most_one_outcome_per_write_and_one_write_per_op() {
    let (_, id) = space();
    let outcome = |slot: OutcomeSlot| {
        Delta::new(vec![Change::Outcome {
            id,
            agent: MALLORY,
            slot,
        }])
    };
    // A million successes in the author's first op.
    let jump = outcome(slot(1, counts(1_000_000, 0)));
    assert!(matches!(
        jump.validate(&MALLORY, &name(), LATE, 1),
        Err(CrdtError::ImplausibleOutcome { part: "totals", .. })
    ));
    // A million writes claimed in the author's op 7.
    let writes = outcome(slot(1_000_000, counts(1_000_000, 0)));
    assert!(matches!(
        writes.validate(&MALLORY, &name(), LATE, 7),
        Err(CrdtError::ImplausibleOutcome { part: "totals", .. })
    ));
    assert_eq!(writes.validate(&MALLORY, &name(), LATE, 1_000_000), Ok(()));
    // A context claiming more outcomes than its writes.
    let ctx = OutcomeSlot::new(
        Versioned {
            seq: 3,
            value: counts(3, 0),
        },
        [(
            "prod".to_owned(),
            Versioned {
                seq: 2,
                value: counts(50, 0),
            },
        )]
        .into_iter()
        .collect(),
    );
    assert!(matches!(
        outcome(ctx).validate(&MALLORY, &name(), LATE, 3),
        Err(CrdtError::ImplausibleOutcome {
            part: "context",
            ..
        })
    ));
    // An honest slot: 3 writes, 2 successes and a failure, in op 5.
    assert_eq!(
        outcome(slot(3, counts(2, 1))).validate(&MALLORY, &name(), LATE, 5),
        Ok(())
    );
}

#[test]
fn a_later_write_cannot_lower_an_agents_counters() {
    let (mut s, id) = space();
    let mut clock = 10;
    record(&mut s, MALLORY, id, 8, false, &mut clock);
    let before = s.procedure(&id).unwrap().counts();
    assert_eq!((before.successes, before.failures), (0, 8));
    // A higher sequence with its failures wiped: plausible on its own (9 writes, 1 outcome),
    // but the join keeps every counter's maximum.
    let wipe = Delta::new(vec![Change::Outcome {
        id,
        agent: MALLORY,
        slot: slot(9, counts(1, 0)),
    }]);
    assert_eq!(wipe.validate(&MALLORY, &name(), LATE, 9), Ok(()));
    s.apply(&wipe);
    let after = s.procedure(&id).unwrap().counts();
    assert_eq!((after.successes, after.failures), (1, 8));
}

#[test]
fn a_pin_is_its_authors_and_a_bogus_one_does_not_hide_a_good_one() {
    let (mut s, _) = space();
    let hash = ContentHash([7; 32]);
    let good = "bafkreigoodgoodgoodgoodgoodgoodgoodgoodgoodgoodgoodgoodgood".to_owned();
    let bogus = "bafkreaaaa".to_owned();
    let mallorys = s.pin_content(MALLORY, hash, bogus.clone()).unwrap();
    // Attributed to Alice but sent by Mallory: refused.
    let forged = Delta::new(vec![Change::Pin {
        hash,
        cid: bogus.clone(),
        by: ALICE,
    }]);
    assert!(matches!(
        forged.validate(&MALLORY, &name(), LATE, 1),
        Err(CrdtError::NotOwner { change: "pin" })
    ));
    s.apply(&s.pin_content(ALICE, hash, good.clone()).unwrap());
    s.apply(&mallorys);
    // The smaller bogus CID used to win the single register; now both are kept.
    assert_eq!(s.cids(&hash), vec![bogus.as_str(), good.as_str()]);
    assert_eq!(s.pin_by(&hash, &ALICE), Some(good.as_str()));
    // And they survive the snapshot round trip.
    let decoded = Space::decode(&s.encode()).unwrap();
    assert_eq!(decoded.cids(&hash), s.cids(&hash));
}
