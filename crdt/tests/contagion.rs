//! Success contagion on hand-computed graphs: the prior it derives over 1, 2 and 3 hops, the
//! strongest path, nothing past the hop limit, decay, failure contagion, contexts, the bound
//! (own evidence outweighs any neighbourhood, in dense clusters too), and the size of an
//! outcome op, which does not grow with the graph.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use knack_crdt::{
    AgentId, Filter, Hlc, Outcome, Prior, ProcedureId, RelationKind, Space, SpaceSettings,
};

const ALICE: AgentId = AgentId([1; 32]);
const BOB: AgentId = AgentId([2; 32]);
const T0: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A space with `n` procedures P0..Pn-1 created by Alice.
fn space_with(n: usize) -> (Space, Vec<ProcedureId>) {
    common::space_of("contagion", n, ALICE, T0)
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

fn prior(space: &Space, id: ProcedureId, at_ms: u64) -> Prior {
    space.procedure(&id).unwrap().prior(None, at_ms)
}

fn score(space: &Space, id: ProcedureId, at_ms: u64) -> f64 {
    space.procedure(&id).unwrap().score(at_ms)
}

/// Writes the space's settings; each call stamped later than the one before.
fn set(space: &mut Space, settings: SpaceSettings) {
    common::set_settings(space, ALICE, T0, settings);
}

/// Equal up to rounding and to the decay of a few milliseconds (half-life 7 days).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn record_n(space: &mut Space, by: AgentId, id: ProcedureId, successes: u64, failures: u64) {
    for i in 0..successes + failures {
        record(space, by, T0 + i, id, i < successes);
    }
}

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
    // A success of P0 is factor * w of a success in the prior of each procedure within reach.
    assert!(close(prior(&s, p[1], t).successes, 0.1 * 0.8));
    assert!(close(prior(&s, p[2], t).successes, 0.1 * 0.8 * 0.5));
    assert!(close(prior(&s, p[3], t).successes, 0.1 * 0.8 * 0.5 * 0.5));
    assert_eq!(
        prior(&s, p[4], t),
        Prior::default(),
        "4 hops away: out of reach"
    );
    assert_eq!(
        prior(&s, p[0], t),
        Prior::default(),
        "nothing flows back to the source"
    );
    for q in &p[1..4] {
        assert_eq!(prior(&s, *q, t).failures, 0.0);
        assert!(
            score(&s, *q, t) > 0.0,
            "lifted above an unused, unrelated procedure"
        );
    }
    assert_eq!(score(&s, p[4], t), 0.0);
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
    assert!(close(paths[&p[5]], 0.1));
    let paths = s.contagion_graph().strongest_paths(p[0], 4);
    assert!(close(paths[&p[5]], 0.9));
    // The walk is symmetric: the weight from P5 to P0 is the weight from P0 to P5.
    assert!(close(
        s.contagion_graph().strongest_paths(p[5], 3)[&p[0]],
        0.1
    ));
    // And the prior uses it: 3 successes of P3 reach P0 at 0.81.
    record_n(&mut s, BOB, p[3], 3, 0);
    assert!(close(prior(&s, p[0], T0 + 3).successes, 0.1 * 0.81 * 3.0));
}

#[test]
fn only_similar_and_context_edges_carry_contagion() {
    let (mut s, p) = space_with(6);
    link(&mut s, p[0], p[1], RelationKind::Next, 1.0);
    link(&mut s, p[0], p[2], RelationKind::Depends, 1.0);
    link(&mut s, p[0], p[3], RelationKind::Supersedes, 1.0);
    link(&mut s, p[0], p[4], RelationKind::Similar, 1.0);
    link(&mut s, p[0], p[5], RelationKind::Context, 1.0);
    record(&mut s, BOB, T0 + 10, p[0], true);
    for q in &p[1..4] {
        assert_eq!(prior(&s, *q, T0 + 10), Prior::default());
    }
    // The same success does reach the `similar` and `context` neighbours: factor 0.1 x 1.0.
    for q in &p[4..] {
        let got = prior(&s, *q, T0 + 10);
        assert!(close(got.successes, 0.1) && got.failures == 0.0, "{got:?}");
    }
}

#[test]
fn the_pair_strength_is_the_strongest_live_relation_and_unlink_removes_it() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 0.3);
    link(&mut s, p[1], p[0], RelationKind::Context, 0.6);
    record(&mut s, BOB, T0 + 1, p[0], true);
    assert!(close(prior(&s, p[1], T0 + 1).successes, 0.1 * 0.6));
    let delta = s
        .unlink(ALICE, Hlc::at(T0 + 2), p[0], p[1], RelationKind::Context)
        .unwrap();
    s.apply(&delta);
    assert!(close(prior(&s, p[1], T0 + 2).successes, 0.1 * 0.3));
    let delta = s
        .unlink(ALICE, Hlc::at(T0 + 3), p[1], p[0], RelationKind::Similar)
        .unwrap();
    s.apply(&delta);
    assert!(s.contagion_graph().strongest_paths(p[0], 3).is_empty());
    assert_eq!(s.contagion_graph().edge_count(), 0);
    assert_eq!(prior(&s, p[1], T0 + 3), Prior::default());
    s.settle();
    assert_eq!(prior(&s, p[1], T0 + 3), Prior::default());
    assert!(s.contagion_drift().is_empty());
}

#[test]
fn the_prior_decays_with_the_neighbourhoods_last_use() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 1.0);
    record(&mut s, BOB, T0, p[0], true);
    let half_life = SpaceSettings::default().contagion_half_life_ms;
    assert_eq!(half_life, 7 * DAY_MS);
    assert!(close(prior(&s, p[1], T0).successes, 0.1));
    assert!(close(prior(&s, p[1], T0 + half_life).successes, 0.05));
    assert!(close(prior(&s, p[1], T0 + 2 * half_life).successes, 0.025));
    // A new use of the neighbour refreshes the whole neighbourhood's evidence.
    record(&mut s, BOB, T0 + 2 * half_life, p[0], true);
    assert!(close(prior(&s, p[1], T0 + 2 * half_life).successes, 0.2));
    // Clock skew: asking before the last use never inflates it.
    assert!(close(prior(&s, p[1], T0).successes, 0.2));
}

#[test]
fn evidence_of_several_agents_and_neighbours_adds_up_to_the_cap() {
    let (mut s, p) = space_with(3);
    link(&mut s, p[0], p[2], RelationKind::Similar, 0.5);
    link(&mut s, p[1], p[2], RelationKind::Similar, 0.5);
    record(&mut s, BOB, T0, p[0], true);
    record(&mut s, ALICE, T0, p[0], true);
    record(&mut s, ALICE, T0, p[1], false);
    let q = prior(&s, p[2], T0);
    assert!(close(q.successes, 0.1 * 0.5 * 2.0));
    assert!(close(q.failures, 0.1 * 0.5));
    // Past the cap, successes and failures are scaled down together (their ratio is kept).
    record_n(&mut s, BOB, p[0], 300, 100);
    record_n(&mut s, ALICE, p[1], 0, 100);
    let q = prior(&s, p[2], T0 + 500);
    let cap = f64::from(SpaceSettings::default().contagion_prior_max);
    assert!(close(q.uses(), cap), "{q:?}");
    assert!(close(q.successes / q.failures, 302.0 / 201.0), "{q:?}");
}

#[test]
fn failures_lower_the_lift_and_rank_below_own_evidence_only_with_negative_contagion() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 1.0);
    record_n(&mut s, ALICE, p[1], 4, 0);
    let own = s.procedure(&p[1]).unwrap().confidence();
    record_n(&mut s, BOB, p[0], 0, 40);
    let t = T0 + 100;
    // The neighbour's failures are pseudo-failures of P1's prior...
    assert!(close(prior(&s, p[1], t).failures, 4.0));
    // ...but with failure contagion off (the default) contagion only lifts.
    assert!(close(score(&s, p[1], t), own));
    set(
        &mut s,
        SpaceSettings {
            negative_contagion: true,
            ..SpaceSettings::default()
        },
    );
    assert!(
        score(&s, p[1], t) < own - 0.2,
        "{} vs {own}",
        score(&s, p[1], t)
    );
}

#[test]
fn context_rankings_use_the_neighbours_evidence_in_that_context() {
    let (mut s, p) = space_with(2);
    link(&mut s, p[0], p[1], RelationKind::Similar, 1.0);
    for i in 0..10 {
        let outcome = Outcome {
            success: true,
            duration_ms: 1,
            contexts: vec!["ci".into()],
        };
        let delta = s
            .record_outcome(BOB, Hlc::at(T0 + i), p[0], &outcome)
            .unwrap();
        s.apply(&delta);
    }
    let view = s.procedure(&p[1]).unwrap();
    assert!(close(view.prior(Some("ci"), T0 + 10).successes, 1.0));
    assert_eq!(view.prior(Some("deploy"), T0 + 10), Prior::default());
    let ci = Filter {
        context: Some("ci".into()),
        ..Filter::default()
    };
    let top = s.top(2, &ci, T0 + 10);
    assert_eq!(top[0].id, p[0]);
    assert!(top[1].score > 0.0 && close(top[1].prior.successes, 1.0));
}

/// A dense cluster: `n` procedures all linked to each other and to `hub` at 0.9.
fn dense_cluster(s: &mut Space, hub: ProcedureId, members: &[ProcedureId]) {
    for (i, a) in members.iter().enumerate() {
        link(s, *a, hub, RelationKind::Similar, 0.9);
        for b in &members[i + 1..] {
            link(s, *a, *b, RelationKind::Similar, 0.9);
        }
    }
}

#[test]
fn own_evidence_outranks_any_neighbourhood_in_a_dense_cluster() {
    // A: 45 successes of 50. B: 2 of 5, in a dense cluster whose other members collect
    // thousands of successes. A and B are similar too.
    let (mut s, p) = space_with(32);
    let (a, b, cluster) = (p[0], p[1], &p[2..]);
    dense_cluster(&mut s, b, cluster);
    link(&mut s, a, b, RelationKind::Similar, 0.9);
    record_n(&mut s, ALICE, a, 45, 5);
    record_n(&mut s, BOB, b, 2, 3);
    let cap = f64::from(SpaceSettings::default().contagion_prior_max);
    // By construction B can reach at most the bound of its own counts plus `cap` successes.
    let ceiling = knack_crdt::stats::confidence_of(2.0 + cap, 3.0);
    for round in 0..5 {
        for q in cluster {
            record_n(&mut s, BOB, *q, 200, 0);
        }
        let t = T0 + 1_000;
        let top = s.top(32, &Filter::default(), t);
        let pos = |id| top.iter().position(|r| r.id == id).unwrap();
        assert!(
            pos(a) < pos(b),
            "round {round}: {:?} vs {:?}",
            top[pos(a)],
            top[pos(b)]
        );
        assert!(top[pos(b)].prior.uses() <= cap + 1e-9);
        assert!(top.iter().all(|r| (0.0..=1.0).contains(&r.score)));
        assert!(top[pos(b)].score <= ceiling + 1e-12, "{:?}", top[pos(b)]);
        assert!(top[pos(b)].boost > 0.0, "B is still lifted");
    }
}

#[test]
fn contagion_lifts_an_unused_neighbour_of_a_proven_procedure_above_an_unused_stranger() {
    let (mut s, p) = space_with(3);
    let (proven, neighbour, stranger) = (p[0], p[1], p[2]);
    link(&mut s, proven, neighbour, RelationKind::Similar, 0.8);
    record_n(&mut s, ALICE, proven, 45, 5);
    let top = s.top(3, &Filter::default(), T0 + 100);
    let ids: Vec<ProcedureId> = top.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![proven, neighbour, stranger]);
    assert!(top[1].score > 0.0 && top[1].boost > 0.0);
    assert_eq!(top[2].score, 0.0);
    // It is lifted, not crowned: the proven one stays far ahead and the neighbour does not
    // crystallize on borrowed evidence.
    assert!(top[0].score > top[1].score + 0.3);
    assert!(!s.procedure(&neighbour).unwrap().crystallized());
}

#[test]
fn an_outcome_op_does_not_grow_with_the_graph() {
    let encoded = |s: &Space, id: ProcedureId| {
        let outcome = Outcome {
            success: true,
            duration_ms: 5,
            contexts: vec!["ci".into()],
        };
        let delta = s
            .record_outcome(BOB, Hlc::at(T0 + 50), id, &outcome)
            .unwrap();
        bincode::serde::encode_to_vec(&delta, bincode::config::standard())
            .unwrap()
            .len()
    };
    let (lone, p) = space_with(1);
    let alone = encoded(&lone, p[0]);
    // 2,000 procedures, each linked to its 5 next ones: 3 hops reach hundreds.
    let (mut dense, q) = space_with(2_000);
    for i in 0..q.len() {
        for d in [1, 7, 31, 101, 337] {
            let j = (i + d) % q.len();
            link(&mut dense, q[i], q[j], RelationKind::Similar, 0.9);
        }
    }
    assert!(dense.contagion_graph().strongest_paths(q[0], 3).len() >= 200);
    assert_eq!(encoded(&dense, q[0]), alone);
    record(&mut dense, BOB, T0 + 60, q[0], true);
    assert_eq!(encoded(&dense, q[0]), alone, "still after a first success");
    // That success did reach q[0]'s neighbours: derived on the replica, not carried in ops.
    assert!(prior(&dense, q[1], T0 + 60).successes > 0.0);
}

#[test]
fn a_backlog_of_outcomes_with_no_reader_is_recomputed_once_not_walked_per_outcome() {
    // A replica catching up (thousands of outcomes, no ranking in between) stops walking and
    // recomputes at the next settle: the result is the same as the incremental one.
    let (mut s, p) = space_with(40);
    for i in 0..40 {
        link(&mut s, p[i], p[(i + 1) % 40], RelationKind::Similar, 0.6);
        link(&mut s, p[i], p[(i + 7) % 40], RelationKind::Context, 0.9);
    }
    s.settle();
    let mut reference = s.clone();
    for i in 0..3_000u64 {
        let id = p[(i * 13 % 40) as usize];
        let outcome = Outcome {
            success: i % 3 != 0,
            duration_ms: 1,
            contexts: vec![["ci", "deploy"][(i % 2) as usize].into()],
        };
        let delta = s
            .record_outcome(BOB, Hlc::at(T0 + i), id, &outcome)
            .unwrap();
        s.apply(&delta);
        reference.apply(&delta);
        if i % 500 == 0 {
            reference.settle(); // a reader now and then keeps this one incremental
        }
    }
    assert!(
        s.needs_settle(),
        "past the push budget the index went stale"
    );
    s.settle();
    reference.settle();
    assert!(s.contagion_drift().is_empty());
    for context in [None, Some("ci")] {
        for id in &p {
            let view = s.procedure(id).unwrap();
            let other = reference.procedure(id).unwrap();
            let got = view.prior(context, T0 + 3_000);
            assert_eq!(got, other.prior(context, T0 + 3_000));
            // Equal and not trivially so: every procedure has neighbours with evidence.
            assert!(
                got.successes > 0.0 && got.failures > 0.0,
                "{context:?}: {got:?}"
            );
        }
    }
}

#[test]
fn a_backlog_of_links_with_no_reader_is_recomputed_once_and_matches_an_incremental_replica() {
    backlog_of_links_matches_an_incremental_replica(600);
}

/// The same at a size whose recompute is summed on every core (6,000 stale neighbourhoods).
#[test]
fn a_large_backlog_summed_on_every_core_matches_an_incremental_replica() {
    backlog_of_links_matches_an_incremental_replica(6_000);
}

/// A fresh node syncing a space applies its relations in bulk (480k `similar` edges at 100k
/// procedures) with no ranking read in between: past the walk budget the index stops
/// computing the reach of every edge and recomputes at the next settle. Same answer as a
/// replica that settled now and then and so stayed incremental.
fn backlog_of_links_matches_an_incremental_replica(n: usize) {
    let (mut s, p) = space_with(n);
    for i in 0..n as u64 {
        record(&mut s, BOB, T0 + i, p[i as usize], i % 4 != 0);
    }
    s.settle();
    let mut reference = s.clone();
    let mut links = 0;
    for i in 0..n {
        for step in [1, 5, 17] {
            let strength = [0.5, 0.7, 0.9][(i + step) % 3];
            let delta = s
                .link(
                    ALICE,
                    Hlc::at(T0 + 1_000 + links),
                    p[i],
                    p[(i + step) % n],
                    RelationKind::Similar,
                    strength,
                )
                .unwrap();
            s.apply(&delta);
            reference.apply(&delta);
            links += 1;
            if links % 200 == 0 {
                reference.settle();
            }
        }
    }
    assert!(
        links > 1024.max(n as u64),
        "more relation changes than the walk budget"
    );
    assert!(s.needs_settle());
    s.settle();
    reference.settle();
    assert!(s.contagion_drift().is_empty());
    assert!(reference.contagion_drift().is_empty());
    for id in &p {
        let got = prior(&s, *id, T0 + 5_000);
        assert_eq!(got, prior(&reference, *id, T0 + 5_000));
        assert!(
            got.successes > 0.0,
            "every procedure has linked evidence: {got:?}"
        );
    }
}

#[test]
fn the_index_stays_exact_through_link_changes_settings_and_settle() {
    let (mut s, p) = space_with(12);
    for i in 0..12 {
        link(&mut s, p[i], p[(i + 1) % 12], RelationKind::Similar, 0.7);
        record_n(&mut s, BOB, p[i], i as u64, 1);
    }
    assert!(s.contagion_drift().is_empty());
    let before: Vec<Prior> = p.iter().map(|id| prior(&s, *id, T0 + 50)).collect();
    link(&mut s, p[0], p[6], RelationKind::Context, 0.9);
    assert!(s.needs_settle());
    let unsettled: Vec<Prior> = p.iter().map(|id| prior(&s, *id, T0 + 50)).collect();
    s.settle();
    assert!(!s.needs_settle());
    let settled: Vec<Prior> = p.iter().map(|id| prior(&s, *id, T0 + 50)).collect();
    assert_eq!(
        unsettled, settled,
        "a stale read is computed, not served stale"
    );
    assert_ne!(before, settled);
    record(&mut s, ALICE, T0 + 60, p[3], true);
    assert!(s.contagion_drift().is_empty());
    set(
        &mut s,
        SpaceSettings {
            contagion_hops: 1,
            ..SpaceSettings::default()
        },
    );
    s.settle();
    assert!(s.contagion_drift().is_empty());
    // One hop: P0's prior is its two ring neighbours and P6 only.
    // (P1: 1 success and 1 failure; P11: 11 and 1; P6: 6 and 1.)
    let q = prior(&s, p[0], T0 + 60);
    assert!(
        close(q.successes, 0.1 * (0.7 * 1.0 + 0.7 * 11.0 + 0.9 * 6.0)),
        "{q:?}"
    );
    assert!(close(q.failures, 0.1 * (0.7 + 0.7 + 0.9)), "{q:?}");
    // Contagion off: no prior anywhere.
    set(
        &mut s,
        SpaceSettings {
            contagion_hops: 0,
            ..SpaceSettings::default()
        },
    );
    assert!(
        p.iter()
            .all(|id| prior(&s, *id, T0 + 60) == Prior::default())
    );
    // A snapshot rebuilds the same index.
    let restored = Space::decode(&s.encode()).unwrap();
    for id in &p {
        assert_eq!(prior(&restored, *id, T0 + 60), prior(&s, *id, T0 + 60));
    }
}
