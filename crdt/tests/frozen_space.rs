//! A frozen space (`Space::freeze`) answers exactly as its space did when it was taken, for
//! every filter, policy and setting; on another thread; and it keeps that answer while the
//! space goes on changing (the writer copies on write what it changes, the frozen copy never sees it).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use knack_crdt::{
    AgentId, Filter, FrozenSpace, Hlc, Outcome, Policy, ProcedureId, ProcedureKind, RelationKind,
    Space, SpaceSettings,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const ALICE: AgentId = AgentId([1; 32]);
const T0: u64 = 1_700_000_000_000;

/// The filters a view is checked with: none, a context, a tag, a kind, crystallized only.
fn filters() -> Vec<Filter> {
    vec![
        Filter::default(),
        Filter {
            context: Some(common::TAGS[0].to_owned()),
            ..Filter::default()
        },
        Filter {
            tag: Some(common::TAGS[1].to_owned()),
            ..Filter::default()
        },
        Filter {
            kind: Some(ProcedureKind::Steps),
            ..Filter::default()
        },
        Filter {
            crystallized_only: true,
            ..Filter::default()
        },
    ]
}

/// Writes the space's settings; each call stamped later than the one before.
fn set(space: &mut Space, settings: SpaceSettings) {
    common::set_settings(space, ALICE, T0, settings);
}

/// Every ranking of `view` equals the same ranking of `space`, at `now`.
fn assert_same_rankings(view: &FrozenSpace, space: &Space, now: u64) {
    for filter in filters() {
        for n in [0, 1, 3, usize::MAX] {
            assert_eq!(
                view.top(n, &filter, now),
                space.top(n, &filter, now),
                "{filter:?} {n}"
            );
        }
        let mut a = ChaCha8Rng::seed_from_u64(7);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        assert_eq!(
            view.rank(5, &filter, now, Policy::Thompson, &mut a),
            space.rank(5, &filter, now, Policy::Thompson, &mut b),
            "{filter:?} thompson"
        );
    }
    let ids: Vec<ProcedureId> = space.procedures().map(|p| p.id()).collect();
    let view_ids: Vec<ProcedureId> = view.procedures().map(|p| p.id()).collect();
    assert_eq!(view_ids, ids);
    for id in ids {
        let (v, s) = (view.procedure(&id).unwrap(), space.procedure(&id).unwrap());
        assert_eq!(v.name(), s.name());
        assert_eq!(v.crystallized(), s.crystallized());
        assert_eq!(v.prior(None, now), s.prior(None, now));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random histories of three agents (procedures, tags, outcomes in contexts, relations of
    /// every kind, unlinks), ranked with evidence weighting off and on, failure contagion off
    /// and on.
    #[test]
    fn a_frozen_space_ranks_as_its_space(
        actions in proptest::collection::vec(common::action(3), 1..120),
        negative in any::<bool>(),
    ) {
        let mut world = common::World::new(3);
        for action in &actions {
            world.run(action);
        }
        let mut space = common::World::replay(&world.deltas);
        let now = world.wall_ms + 1_000;
        for weighting in [false, true] {
            set(&mut space, SpaceSettings {
                evidence_weighting: weighting,
                negative_contagion: negative,
                ..SpaceSettings::default()
            });
            let view = space.freeze();
            assert_same_rankings(&view, &space, now);
        }
    }
}

/// `clusters` dense clusters of `size` procedures (each linked to every other at 0.9) and an
/// outcome history in three contexts from 50 agents, `outcomes` in all.
fn clustered(clusters: usize, size: usize, outcomes: usize) -> (Space, Vec<ProcedureId>) {
    let (mut s, p) = common::space_of("rank-view", clusters * size, ALICE, T0);
    let mut at = T0 + 1;
    for cluster in p.chunks(size) {
        for (i, a) in cluster.iter().enumerate() {
            for b in &cluster[i + 1..] {
                let d = s
                    .link(ALICE, Hlc::at(at), *a, *b, RelationKind::Similar, 0.9)
                    .unwrap();
                s.apply(&d);
                at += 1;
            }
        }
    }
    for i in 0..outcomes {
        let agent = AgentId([10 + (i % 50) as u8; 32]);
        // A deterministic spread: procedure i*7919 mod n, success 70% of the time.
        let id = p[(i * 7919) % p.len()];
        record(
            &mut s,
            agent,
            at + i as u64,
            id,
            i % 10 < 7,
            ["ci", "deploy", "prod"][i % 3],
        );
    }
    (s, p)
}

fn record(s: &mut Space, by: AgentId, at_ms: u64, id: ProcedureId, success: bool, ctx: &str) {
    let outcome = Outcome {
        success,
        duration_ms: 5,
        contexts: vec![ctx.into()],
    };
    let d = s.record_outcome(by, Hlc::at(at_ms), id, &outcome).unwrap();
    s.apply(&d);
}

/// At real size (10k procedures in dense clusters of 10, 40k outcomes), a view handed to
/// another thread ranks there exactly as the space did when it was taken, while this thread
/// goes on writing: outcomes that lift an unused procedure to the top, new relations, a new
/// procedure and a settings change. The space's own ranking does move; a new view follows it.
#[test]
fn a_frozen_space_keeps_its_answer_on_another_thread_while_the_space_changes() {
    let (mut s, p) = clustered(1_000, 10, 40_000);
    let now = T0 + 10_000_000;
    let all = Filter::default();
    let ci = Filter {
        context: Some("ci".into()),
        ..Filter::default()
    };
    s.settle();
    let before = (s.top(20, &all, now), s.top(20, &ci, now));
    let view = s.freeze();
    assert_same_rankings(&view, &s, now);

    let (all_there, ci_there) = (all.clone(), ci.clone());
    let reader = std::thread::spawn(move || {
        // Rank many times while the writer runs: every answer is the view's.
        let answers: Vec<_> = (0..5)
            .map(|_| (view.top(20, &all_there, now), view.top(20, &ci_there, now)))
            .collect();
        (view, answers)
    });

    // An unused procedure (never in the spread above: the spread hits every procedure, so pick
    // the lowest ranked) collects 200 successes in "ci": it must lead both rankings after.
    let last = s
        .top(usize::MAX, &Filter::default(), now)
        .last()
        .unwrap()
        .id;
    for i in 0..200 {
        record(&mut s, AgentId([99; 32]), now - 5_000 + i, last, true, "ci");
    }
    for w in p.windows(2).step_by(97).take(100) {
        let d = s
            .link(
                ALICE,
                Hlc::at(now - 1_000),
                w[0],
                w[1],
                RelationKind::Context,
                0.5,
            )
            .unwrap();
        s.apply(&d);
    }
    set(
        &mut s,
        SpaceSettings {
            contagion_factor: knack_crdt::Fraction::from_f64("contagion_factor", 0.2).unwrap(),
            ..SpaceSettings::default()
        },
    );

    let (view, answers) = reader.join().unwrap();
    for answer in &answers {
        assert_eq!(answer, &before);
    }
    let after = (s.top(20, &all, now), s.top(20, &ci, now));
    assert_eq!(after.0[0].id, last);
    assert_eq!(after.1[0].id, last);
    assert_ne!(after, before);
    assert_eq!((view.top(20, &all, now), view.top(20, &ci, now)), before);
    let fresh = s.freeze();
    assert_same_rankings(&fresh, &s, now);
}
