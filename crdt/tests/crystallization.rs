//! Crystallization: thresholds, the two-agent rule, hysteresis, the frozen body, and the latch
//! converging across replicas.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{
    AgentId, Body, CrdtError, Edit, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind, Space,
    SpaceName, SpaceSettings,
};

const ALICE: AgentId = AgentId([1; 32]);
const BOB: AgentId = AgentId([2; 32]);

fn space() -> (Space, ProcedureId) {
    let mut space = Space::new(SpaceName::new("crystal").unwrap());
    let new = NewProcedure {
        nonce: 1,
        name: "restart the pod".into(),
        description: String::new(),
        kind: ProcedureKind::Steps,
        tags: vec![],
        body: Body::Inline(b"kubectl rollout restart".to_vec()),
    };
    let (id, delta) = space.add_procedure(ALICE, Hlc::at(1), new).unwrap();
    space.apply(&delta);
    (space, id)
}

struct Recorder {
    clock: u64,
}

impl Recorder {
    fn record(&mut self, space: &mut Space, by: AgentId, id: ProcedureId, success: bool) {
        self.clock += 1;
        let outcome = Outcome {
            success,
            duration_ms: 1,
            contexts: vec![],
        };
        let delta = space
            .record_outcome(by, Hlc::at(self.clock), id, &outcome)
            .unwrap();
        space.apply(&delta);
    }
}

fn crystallized(space: &Space, id: ProcedureId) -> bool {
    space.procedure(&id).unwrap().crystallized()
}

// Wilson lower bounds (z = 1.96), computed by hand:
//   34/34 = 0.89848 (< 0.9), 35/35 = 0.90110 (>= 0.9);
//   35 s + 4 f = 0.76421 (>= 0.75), 35 s + 5 f = 0.73888 (< 0.75).

#[test]
fn crystallizes_at_the_confidence_threshold_with_two_agents() {
    let (mut s, id) = space();
    let mut r = Recorder { clock: 10 };
    for i in 0..34 {
        r.record(&mut s, if i % 2 == 0 { ALICE } else { BOB }, id, true);
    }
    assert!(!crystallized(&s, id), "34/34 has confidence 0.898 < 0.9");
    r.record(&mut s, ALICE, id, true);
    assert!(crystallized(&s, id), "35/35 has confidence 0.901 >= 0.9");
}

#[test]
fn a_single_agent_cannot_crystallize_a_procedure() {
    let (mut s, id) = space();
    let mut r = Recorder { clock: 10 };
    for _ in 0..60 {
        r.record(&mut s, ALICE, id, true);
    }
    assert!(!crystallized(&s, id));
    // Bob's failures do not count as a second successful agent.
    r.record(&mut s, BOB, id, false);
    assert!(!crystallized(&s, id));
    r.record(&mut s, BOB, id, true);
    assert!(crystallized(&s, id));
}

#[test]
fn the_outcome_minimum_applies() {
    let (mut s, id) = space();
    let settings = SpaceSettings {
        crystallize_confidence: knack_crdt::Fraction::from_f64("c", 0.5).unwrap(),
        melt_confidence: knack_crdt::Fraction::from_f64("m", 0.4).unwrap(),
        ..SpaceSettings::default()
    };
    let delta = s.update_settings(ALICE, Hlc::at(2), settings).unwrap();
    s.apply(&delta);
    let mut r = Recorder { clock: 10 };
    for i in 0..19 {
        r.record(&mut s, if i % 2 == 0 { ALICE } else { BOB }, id, true);
    }
    assert!(
        !crystallized(&s, id),
        "19 uses < 20, though confidence is 0.83"
    );
    r.record(&mut s, ALICE, id, true);
    assert!(crystallized(&s, id));
}

#[test]
fn melting_has_hysteresis_and_recrystallizing_needs_the_full_threshold() {
    let (mut s, id) = space();
    let mut r = Recorder { clock: 10 };
    for i in 0..35 {
        r.record(&mut s, if i % 2 == 0 { ALICE } else { BOB }, id, true);
    }
    assert!(crystallized(&s, id));
    for f in 1..=4 {
        r.record(&mut s, BOB, id, false);
        assert!(
            crystallized(&s, id),
            "35 s + {f} f is above 0.75: still crystallized"
        );
    }
    r.record(&mut s, BOB, id, false);
    assert!(!crystallized(&s, id), "35 s + 5 f = 0.739 < 0.75 melts");
    assert_eq!(s.procedure(&id).unwrap().crystal_epoch(), 2);
    // Back above 0.75 is not enough: it needs 0.9 again.
    for _ in 0..10 {
        r.record(&mut s, ALICE, id, true);
    }
    let conf = s.procedure(&id).unwrap().confidence();
    assert!(conf > 0.75 && conf < 0.9, "confidence {conf}");
    assert!(!crystallized(&s, id));
}

#[test]
fn a_crystallized_body_is_frozen_but_metadata_can_change() {
    let (mut s, id) = space();
    let mut r = Recorder { clock: 10 };
    for i in 0..35 {
        r.record(&mut s, if i % 2 == 0 { ALICE } else { BOB }, id, true);
    }
    let edit = Edit {
        body: Some(Body::Inline(b"rm -rf /".to_vec())),
        ..Edit::default()
    };
    let err = s.edit(BOB, Hlc::at(100), id, edit).unwrap_err();
    assert_eq!(err, CrdtError::Crystallized(id));
    assert!(err.to_string().contains("supersedes"));
    let rename = Edit {
        name: Some("restart the pod (proven)".into()),
        ..Edit::default()
    };
    let delta = s.edit(BOB, Hlc::at(101), id, rename).unwrap();
    s.apply(&delta);
    assert_eq!(s.procedure(&id).unwrap().name(), "restart the pod (proven)");
    assert_eq!(
        s.procedure(&id).unwrap().body().unwrap().inline.as_deref(),
        Some(&b"kubectl rollout restart"[..])
    );
}

#[test]
fn the_latch_converges_and_replicas_can_propose_missing_transitions() {
    // Alice and Bob each record successes on their own replica; neither alone crystallizes
    // (one agent each). After exchanging outcomes, the counts call for crystallization.
    let (mut a, id) = space();
    let mut b = a.clone();
    let mut r = Recorder { clock: 10 };
    for _ in 0..20 {
        r.record(&mut a, ALICE, id, true);
        r.record(&mut b, BOB, id, true);
    }
    assert!(!crystallized(&a, id) && !crystallized(&b, id));
    let (a0, b0) = (a.clone(), b.clone());
    a.merge(&b0);
    b.merge(&a0);
    assert_eq!(a.digest(), b.digest());
    // Both propose the same transition concurrently; the proposals merge into one.
    let da = a.crystal_transitions();
    let db = b.crystal_transitions();
    assert_eq!(da, db);
    assert_eq!(da.changes.len(), 1);
    a.apply(&db);
    a.apply(&da);
    b.apply(&da);
    assert!(crystallized(&a, id) && crystallized(&b, id));
    assert_eq!(a.digest(), b.digest());
    assert!(a.crystal_transitions().is_empty());
}

#[test]
fn scoped_transitions_match_the_full_scan_for_the_procedures_named() {
    let (mut a, id) = space();
    let mut b = a.clone();
    let mut r = Recorder { clock: 10 };
    for _ in 0..20 {
        r.record(&mut a, ALICE, id, true);
        r.record(&mut b, BOB, id, true);
    }
    a.merge(&b);
    assert_eq!(a.crystal_transitions_of(&[id]), a.crystal_transitions());
    assert!(a.crystal_transitions_of(&[]).is_empty());
    assert!(
        a.crystal_transitions_of(&[ProcedureId([42; 32])])
            .is_empty()
    );
}
