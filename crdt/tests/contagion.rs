//! Success contagion on hand-computed graphs: 1, 2 and 3 hops, strongest path, nothing past
//! the hop limit, decay by the half-life, negative contagion, and ranking effects.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{
    AgentId, Body, Filter, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind, RelationKind,
    Space, SpaceName, SpaceSettings,
};

const ALICE: AgentId = AgentId([1; 32]);
const BOB: AgentId = AgentId([2; 32]);
const T0: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A space with `n` procedures P0..Pn-1 created by Alice.
fn space_with(n: usize) -> (Space, Vec<ProcedureId>) {
    let mut space = Space::new(SpaceName::new("contagion").unwrap());
    let mut ids = Vec::new();
    for i in 0..n {
        let new = NewProcedure {
            nonce: i as u64,
            name: format!("P{i}"),
            description: String::new(),
            kind: ProcedureKind::Steps,
            tags: vec![],
            body: Body::Inline(format!("body {i}").into_bytes()),
        };
        let (id, delta) = space.add_procedure(ALICE, Hlc::at(T0), new).unwrap();
        space.apply(&delta);
        ids.push(id);
    }
    (space, ids)
}

fn link(space: &mut Space, a: ProcedureId, b: ProcedureId, kind: RelationKind, s: f64) {
    let delta = space.link(ALICE, Hlc::at(T0 + 1), a, b, kind, s).unwrap();
    space.apply(&delta);
}

fn record(space: &mut Space, by: AgentId, at_ms: u64, id: ProcedureId, success: bool) {
    let outcome = Outcome {
        success,
        duration_ms: 10,
        contexts: vec![],
    };
    let delta = space
        .record_outcome(by, Hlc::at(at_ms), id, &outcome)
        .unwrap();
    space.apply(&delta);
}

fn boost(space: &Space, id: ProcedureId, at_ms: u64) -> f64 {
    space.procedure(&id).unwrap().boost(at_ms)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// rate after the first success with no other evidence: (1 + 1) / (1 + 2).
const RATE_1_0: f64 = 2.0 / 3.0;

#[test]
fn one_two_and_three_hops_multiply_strengths_and_stop_at_the_limit() {
    // P0 -0.8- P1 -0.5- P2 -0.5- P3 -0.9- P4 (a chain: P4 is 4 hops away)
    let (mut s, p) = space_with(5);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.8);
    link(&mut s, p[1], p[2], RelationKind::Context, 0.5);
    link(&mut s, p[3], p[2], RelationKind::Similar, 0.5); // direction does not matter
    link(&mut s, p[3], p[4], RelationKind::Similar, 0.9);
    record(&mut s, BOB, T0 + 10, p[0], true);
    let t = T0 + 10;
    assert!(close(boost(&s, p[1], t), 0.1 * RATE_1_0 * 0.8));
    assert!(close(boost(&s, p[2], t), 0.1 * RATE_1_0 * 0.8 * 0.5));
    assert!(close(boost(&s, p[3], t), 0.1 * RATE_1_0 * 0.8 * 0.5 * 0.5));
    assert_eq!(boost(&s, p[4], t), 0.0, "4 hops away: out of reach");
    assert_eq!(boost(&s, p[0], t), 0.0, "the source is not boosted");
}

#[test]
fn the_strongest_path_is_chosen_within_the_hop_limit() {
    // Direct P0-P3 at 0.2; P0-P1-P3 at 0.9 * 0.9 = 0.81 wins.
    // P0-P1-P2-P4-P5 strong chain (4 hops, 1.0 each) vs P0-P5 direct 0.1: only 0.1 counts.
    let (mut s, p) = space_with(6);
    link(&mut s, p[0], p[3], RelationKind::Similar, 0.2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.9);
    link(&mut s, p[1], p[3], RelationKind::Similar, 0.9);
    link(&mut s, p[1], p[2], RelationKind::Similar, 1.0);
    link(&mut s, p[2], p[4], RelationKind::Similar, 1.0);
    link(&mut s, p[4], p[5], RelationKind::Similar, 1.0);
    link(&mut s, p[0], p[5], RelationKind::Context, 0.1);
    let paths = s.contagion_graph().strongest_paths(p[0], 3);
    assert!(close(paths[&p[3]], 0.81));
    assert!(close(paths[&p[4]], 0.9), "P0-P1-P2-P4 is 3 hops");
    // P5: through P4 would be 4 hops; P0-P3... no edge to P5; so the direct 0.1 edge wins.
    assert!(close(paths[&p[5]], 0.1));
    // With 4 hops allowed, the chain wins.
    let paths = s.contagion_graph().strongest_paths(p[0], 4);
    assert!(close(paths[&p[5]], 0.9));
}

#[test]
fn only_similar_and_context_edges_carry_contagion() {
    let (mut s, p) = space_with(4);
    link(&mut s, p[0], p[1], RelationKind::Next, 1.0);
    link(&mut s, p[0], p[2], RelationKind::Depends, 1.0);
    link(&mut s, p[0], p[3], RelationKind::Supersedes, 1.0);
    record(&mut s, BOB, T0 + 10, p[0], true);
    for q in &p[1..] {
        assert_eq!(boost(&s, *q, T0 + 10), 0.0);
    }
}

#[test]
fn the_pair_strength_is_the_strongest_live_relation_and_unlink_removes_it() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.3);
    link(&mut s, p[1], p[0], RelationKind::Context, 0.6);
    assert!(close(
        s.contagion_graph().strongest_paths(p[0], 3)[&p[1]],
        0.6
    ));
    let delta = s
        .unlink(ALICE, Hlc::at(T0 + 2), p[0], p[1], RelationKind::Context)
        .unwrap();
    s.apply(&delta);
    assert!(close(
        s.contagion_graph().strongest_paths(p[0], 3)[&p[1]],
        0.3
    ));
    let delta = s
        .unlink(ALICE, Hlc::at(T0 + 3), p[1], p[0], RelationKind::Similar)
        .unwrap();
    s.apply(&delta);
    assert!(s.contagion_graph().strongest_paths(p[0], 3).is_empty());
    assert_eq!(s.contagion_graph().edge_count(), 0);
}

#[test]
fn boosts_decay_by_the_half_life_and_accumulate_after_decay() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 1.0);
    record(&mut s, BOB, T0, p[0], true);
    let first = 0.1 * RATE_1_0;
    let half_life = SpaceSettings::default().boost_half_life_ms;
    assert_eq!(half_life, 7 * DAY_MS);
    assert!(close(boost(&s, p[1], T0), first));
    assert!(close(boost(&s, p[1], T0 + half_life), first / 2.0));
    assert!(close(boost(&s, p[1], T0 + 2 * half_life), first / 4.0));
    // A second success one half-life later: the slot decays to first/2, then adds
    // 0.1 * rate(2 successes) = 0.1 * 3/4.
    record(&mut s, BOB, T0 + half_life, p[0], true);
    assert!(close(
        boost(&s, p[1], T0 + half_life),
        first / 2.0 + 0.1 * 0.75
    ));
    // Clock skew: asking before the slot's time never inflates it.
    assert!(close(boost(&s, p[1], T0), first / 2.0 + 0.1 * 0.75));
}

#[test]
fn boosts_of_several_agents_add_up() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.5);
    record(&mut s, BOB, T0, p[0], true); // rate 2/3
    record(&mut s, ALICE, T0, p[0], true); // rate 3/4 (two successes in all)
    assert!(close(
        boost(&s, p[1], T0),
        0.1 * RATE_1_0 * 0.5 + 0.1 * 0.75 * 0.5
    ));
}

#[test]
fn failures_spread_nothing_unless_negative_contagion_is_on() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 1.0);
    record(&mut s, BOB, T0, p[0], false);
    assert_eq!(boost(&s, p[1], T0), 0.0);

    let settings = SpaceSettings {
        negative_contagion: true,
        ..SpaceSettings::default()
    };
    let delta = s.update_settings(ALICE, Hlc::at(T0 + 1), settings).unwrap();
    s.apply(&delta);
    record(&mut s, BOB, T0 + 2, p[0], false);
    // Two failures: rate = 1/4, so the delta is -0.1 * (1 - 1/4) * 1.0.
    assert!(close(boost(&s, p[1], T0 + 2), -0.1 * 0.75));
    // The score is clamped at zero.
    assert_eq!(s.procedure(&p[1]).unwrap().score(T0 + 2), 0.0);
}

#[test]
fn a_boosted_procedure_ranks_above_an_unrelated_one_with_equal_outcomes() {
    let (mut s, p) = space_with(3);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.8);
    for q in [p[1], p[2]] {
        record(&mut s, ALICE, T0, q, true);
    }
    for i in 0..5 {
        record(&mut s, BOB, T0 + i, p[0], true);
    }
    let top = s.top(3, &Filter::default(), T0 + 10);
    let pos = |id| top.iter().position(|r| r.id == id).unwrap();
    assert!(pos(p[1]) < pos(p[2]));
    assert!(top[pos(p[1])].boost > 0.0);
    assert_eq!(top[pos(p[2])].boost, 0.0);
    assert_eq!(top[pos(p[1])].confidence, top[pos(p[2])].confidence);
}

#[test]
fn the_contagion_preview_matches_what_a_success_writes() {
    let (mut s, p) = space_with(3);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.8);
    link(&mut s, p[1], p[2], RelationKind::Similar, 0.5);
    record(&mut s, ALICE, T0, p[0], true);
    let preview = s.contagion(p[0]);
    // rate(P0) is 2/3 now; the preview uses it as is.
    assert_eq!(preview.len(), 2);
    for (id, delta) in preview {
        let w = if id == p[1] { 0.8 } else { 0.4 };
        assert!(close(delta, 0.1 * RATE_1_0 * w));
    }
}
