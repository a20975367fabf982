//! Settling many stale contagion neighbourhoods on another thread ([`Space::settle_job`]):
//! at the size a team reaches (6,000 procedures in dense `similar` clusters, a backlog past
//! the push budget), with outcomes, new procedures, links and unlinks applied while the job
//! runs. What is installed equals a recomputation from scratch, frozen views taken meanwhile
//! answer as an inline settle would, and a job the space dropped is never installed.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use knack_crdt::{
    AgentId, Body, Filter, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind, Ranked,
    RelationKind, Space, SpaceSettings,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ALICE: AgentId = AgentId([1; 32]);
const BOB: AgentId = AgentId([2; 32]);
const T0: u64 = 1_700_000_000_000;
const N: usize = 6_000;

fn outcome(space: &mut Space, at_ms: u64, id: ProcedureId, success: bool, context: &str) {
    let outcome = Outcome {
        success,
        duration_ms: 10,
        contexts: vec![context.into()],
    };
    let delta = space
        .record_outcome(BOB, Hlc::at(at_ms), id, &outcome)
        .unwrap();
    space.apply(&delta);
}

fn link(space: &mut Space, at_ms: u64, a: ProcedureId, b: ProcedureId, strength: Option<f64>) {
    let delta = match strength {
        Some(s) => space.link(ALICE, Hlc::at(at_ms), a, b, RelationKind::Similar, s),
        None => space.unlink(ALICE, Hlc::at(at_ms), a, b, RelationKind::Similar),
    };
    space.apply(&delta.unwrap());
}

/// `N` procedures in clusters of 40, each linked `similar` to 3 others of its cluster, then
/// more outcomes than the push budget with no read: every neighbourhood is stale.
fn backlogged_space() -> (Space, Vec<ProcedureId>) {
    let (mut s, p) = common::space_of("settle-job", N, ALICE, T0);
    for i in 0..N {
        let cluster = i / 40 * 40;
        for step in [1, 3, 11] {
            let j = cluster + (i - cluster + step) % 40;
            let strength = [0.5, 0.7, 0.9][(i + step) % 3];
            link(&mut s, T0 + 1, p[i], p[j], Some(strength));
        }
    }
    for i in 0..(N + 1_500) {
        let id = p[i * 7 % N];
        outcome(
            &mut s,
            T0 + 10 + i as u64,
            id,
            i % 4 != 0,
            ["ci", "prod"][i % 2],
        );
    }
    assert!(s.needs_settle(), "past the push budget every sum is stale");
    (s, p)
}

fn top(space: &Space, now: u64) -> Vec<Ranked> {
    space.top(50, &Filter::default(), now)
}

fn ids_and_scores(rows: &[Ranked]) -> Vec<(ProcedureId, f64, f64)> {
    rows.iter().map(|r| (r.id, r.score, r.boost)).collect()
}

/// Writes that may land while a job runs: outcomes in both contexts, a new procedure linked
/// into a cluster, new links and unlinks.
fn writes_meanwhile(s: &mut Space, p: &[ProcedureId], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let at = T0 + 100_000;
    for i in 0..400u64 {
        let id = p[rng.gen_range(0..N)];
        outcome(
            s,
            at + i,
            id,
            rng.gen_bool(0.7),
            ["ci", "prod", "dev"][i as usize % 3],
        );
    }
    let new = NewProcedure {
        nonce: N as u64,
        name: format!("P{N}"),
        description: String::new(),
        kind: ProcedureKind::Steps,
        tags: vec![],
        body: Body::Inline(b"a newcomer".to_vec()),
    };
    let (newcomer, delta) = s.add_procedure(ALICE, Hlc::at(at + 400), new).unwrap();
    s.apply(&delta);
    link(s, at + 500, newcomer, p[rng.gen_range(0..N)], Some(0.8));
    for i in 0..60u64 {
        let a = rng.gen_range(0..N);
        let b = a / 40 * 40 + rng.gen_range(0..40);
        if a == b {
            continue;
        }
        let strength = (i % 3 != 0).then(|| rng.gen_range(0.2..1.0));
        link(s, at + 600 + i, p[a], p[b], strength);
    }
    for i in 0..200u64 {
        let id = p[rng.gen_range(0..N)];
        outcome(s, at + 1_000 + i, id, rng.gen_bool(0.6), "ci");
    }
}

#[test]
fn sums_installed_after_writes_made_meanwhile_equal_a_recomputation_from_scratch() {
    for seed in [1, 2, 3] {
        let (mut s, p) = backlogged_space();
        let now = T0 + 200_000;
        let summed_before = s.contagion_summed_here();

        // A frozen view of the stale space answers as an inline settle does, lazily or
        // summed on every core at once.
        let mut inline = s.clone();
        inline.settle();
        let frozen = s.freeze();
        let expected = ids_and_scores(&top(&inline, now));
        assert_eq!(
            ids_and_scores(&frozen.top(50, &Filter::default(), now)),
            expected
        );
        let mut summed = frozen.clone();
        summed.settle();
        assert_eq!(
            ids_and_scores(&summed.top(50, &Filter::default(), now)),
            expected
        );

        let job = s.settle_job().expect("many stale: a job");
        assert!(
            job.len() >= N,
            "every neighbourhood is in the job: {}",
            job.len()
        );
        assert!(s.settle_job().is_none(), "one job out at a time");
        writes_meanwhile(&mut s, &p, seed);
        // A view taken now takes the job's sums with the pushes made since its start.
        let mut during = s.freeze();
        let mut inline_now = s.clone();
        inline_now.settle();
        let settled = job.run();
        during.settle();
        assert_eq!(
            ids_and_scores(&during.top(50, &Filter::default(), now)),
            ids_and_scores(&top(&inline_now, now)),
            "a view taken while the job was out"
        );
        let installed = s.install_settled(settled);
        assert!(
            installed > N / 2 && installed < N,
            "most installed, those relinked meanwhile not: {installed}"
        );
        assert_eq!(
            s.contagion_summed_here(),
            summed_before,
            "nothing was summed by the writing thread"
        );
        assert!(s.contagion_drift().is_empty(), "installed sums are exact");

        // The same writes applied to a replica that settled inline give the same rankings.
        let (mut reference, _) = backlogged_space();
        reference.settle();
        writes_meanwhile(&mut reference, &p, seed);
        reference.settle();
        assert_eq!(
            ids_and_scores(&top(&s, now)),
            ids_and_scores(&top(&reference, now))
        );
        for id in p.iter().step_by(7) {
            for context in [None, Some("ci"), Some("dev")] {
                assert_eq!(
                    s.procedure(id).unwrap().prior(context, now),
                    reference.procedure(id).unwrap().prior(context, now),
                    "seed {seed}, {context:?}"
                );
            }
        }
        s.settle();
        assert!(!s.needs_settle());
        assert!(s.contagion_drift().is_empty());
        assert_eq!(
            ids_and_scores(&top(&s, now)),
            ids_and_scores(&top(&reference, now))
        );
    }
}

/// More outcomes than the push budget (from `at_ms`, on every `stride`-th procedure).
fn past_the_budget(s: &mut Space, p: &[ProcedureId], at_ms: u64, stride: usize) {
    for i in 0..(N + 1_500) {
        outcome(s, at_ms + i as u64, p[i * stride % N], i % 3 != 0, "ci");
    }
}

#[test]
fn a_job_the_space_dropped_is_not_installed() {
    let (mut s, p) = backlogged_space();
    // Dropped by an inline settle: everything it would bring is already there.
    let job = s.settle_job().unwrap();
    s.settle();
    assert_eq!(s.install_settled(job.run()), 0);
    assert!(s.contagion_drift().is_empty());

    // Dropped when the writes made meanwhile ran past the push budget again.
    past_the_budget(&mut s, &p, T0 + 300_000, 11);
    let job = s.settle_job().unwrap();
    past_the_budget(&mut s, &p, T0 + 400_000, 13);
    assert_eq!(s.install_settled(job.run()), 0);
    assert!(s.needs_settle());

    // Dropped with the hop limit changed meanwhile (every sum is of the old limit).
    let job = s.settle_job().unwrap();
    let settings = SpaceSettings {
        contagion_hops: 2,
        ..SpaceSettings::default()
    };
    common::set_settings(&mut s, ALICE, T0, settings);
    assert_eq!(s.install_settled(job.run()), 0);

    // Another space's job is not installed either.
    let (mut other, _) = backlogged_space();
    let job = other.settle_job().unwrap();
    assert_eq!(s.install_settled(job.run()), 0);
    s.settle();
    assert!(s.contagion_drift().is_empty());
}

#[test]
fn a_view_whose_job_is_dropped_unrun_sums_for_itself() {
    let (mut s, p) = backlogged_space();
    let job = s.settle_job().unwrap();
    outcome(&mut s, T0 + 800_000, p[3], true, "ci");
    let mut view = s.freeze();
    let mut reference = s.clone();
    reference.settle();
    drop(job);
    view.settle();
    let now = T0 + 900_000;
    assert_eq!(
        ids_and_scores(&view.top(50, &Filter::default(), now)),
        ids_and_scores(&top(&reference, now))
    );
}

#[test]
fn a_quiet_space_gives_a_job_and_a_busy_one_does_not() {
    let (mut s, p) = backlogged_space();
    assert!(
        s.settle_job_if_quiet().is_none(),
        "the backlog was just applied"
    );
    assert!(
        s.settle_job_if_quiet().is_some(),
        "nothing since the last look"
    );
    let (mut busy, _) = backlogged_space();
    busy.settle_job_if_quiet();
    outcome(&mut busy, T0 + 500_000, p[0], true, "ci");
    assert!(busy.settle_job_if_quiet().is_none());
}

#[test]
fn a_read_of_one_procedure_sums_only_its_neighbourhood_when_many_are_stale() {
    let (mut s, p) = backlogged_space();
    let mut reference = s.clone();
    reference.settle();
    let job = s.settle_job().unwrap();
    let before = s.contagion_summed_here();
    s.settle_for(&p[17]);
    assert_eq!(s.contagion_summed_here(), before + 1);
    outcome(&mut s, T0 + 600_000, p[18], true, "ci");
    outcome(&mut reference, T0 + 600_000, p[18], true, "ci");
    let now = T0 + 700_000;
    assert_eq!(
        s.procedure(&p[17]).unwrap().prior(None, now),
        reference.procedure(&p[17]).unwrap().prior(None, now)
    );
    s.install_settled(job.run());
    assert!(s.contagion_drift().is_empty());
    assert_eq!(
        ids_and_scores(&top(&s, now)),
        ids_and_scores(&top(&reference, now))
    );
}
