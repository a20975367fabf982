//! Exploration: Thompson sampling tries the unproven, settles on the proven, and is
//! deterministic for a seeded generator.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use knack_crdt::{AgentId, Filter, Hlc, Outcome, Policy, ProcedureId, Space};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const ALICE: AgentId = AgentId([1; 32]);
const T0: u64 = 1_700_000_000_000;

/// A space with `n` procedures P0..Pn-1 created by Alice.
fn space_with(n: usize) -> (Space, Vec<ProcedureId>) {
    common::space_of("explore", n, ALICE, T0)
}

fn record_n(space: &mut Space, id: ProcedureId, successes: u64, failures: u64) {
    for i in 0..successes + failures {
        let outcome = Outcome {
            success: i < successes,
            duration_ms: 1,
            contexts: vec![],
        };
        let delta = space
            .record_outcome(ALICE, Hlc::at(T0 + i), id, &outcome)
            .unwrap();
        space.apply(&delta);
    }
}

/// How often each procedure comes first in `draws` Thompson rankings.
fn first_counts(space: &Space, ids: &[ProcedureId], draws: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = vec![0; ids.len()];
    for _ in 0..draws {
        let top = space.rank(1, &Filter::default(), T0, Policy::Thompson, &mut rng);
        assert!(top[0].draw.is_some());
        counts[ids.iter().position(|id| *id == top[0].id).unwrap()] += 1;
    }
    counts
}

#[test]
fn greedy_locks_onto_an_early_lucky_one_where_thompson_keeps_trying_the_untried() {
    let (mut s, p) = space_with(2);
    record_n(&mut s, p[0], 1, 0); // one lucky success; P1 never tried
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..100 {
        let greedy = s.rank(1, &Filter::default(), T0, Policy::Greedy, &mut rng);
        assert_eq!(greedy[0].id, p[0]);
        assert_eq!(greedy[0].draw, None);
    }
    // Beta(2, 1) vs Beta(1, 1): the untried one is first a third of the time.
    let counts = first_counts(&s, &p, 3000, 7);
    assert!((800..1200).contains(&counts[1]), "{counts:?}");
}

#[test]
fn thompson_settles_on_the_proven_procedure() {
    let (mut s, p) = space_with(3);
    record_n(&mut s, p[0], 90, 10);
    record_n(&mut s, p[1], 5, 45);
    record_n(&mut s, p[2], 40, 40);
    let counts = first_counts(&s, &p, 2000, 3);
    assert!(counts[0] >= 1990, "{counts:?}");
}

#[test]
fn the_same_seed_gives_the_same_ranking() {
    let (mut s, p) = space_with(6);
    for (i, id) in p.iter().enumerate() {
        record_n(&mut s, *id, i as u64, 3);
    }
    let ranking = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        s.rank(6, &Filter::default(), T0, Policy::Thompson, &mut rng)
            .into_iter()
            .map(|r| (r.id, r.draw.unwrap().to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ranking(11), ranking(11));
    assert_ne!(ranking(11), ranking(12));
    assert_eq!(Policy::parse("thompson"), Some(Policy::Thompson));
    assert_eq!(Policy::parse(Policy::Greedy.as_str()), Some(Policy::Greedy));
    assert_eq!(Policy::parse("ucb"), None);
}
