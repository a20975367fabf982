//! Criterion benchmarks of the memory model: apply throughput of outcome deltas, merge of two
//! 10k-procedure replicas, the digest of a 100k-procedure space, contagion over a
//! 100k-edge relation graph, and evidence weights at 10k procedures / 200k outcomes / 50
//! agents (from scratch, and brought up to date after one outcome: the read-after-write path).
//! Run: `cargo bench -p knack-crdt` (`-- weights` for the weights only).

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use knack_crdt::{
    AgentId, Body, Delta, Filter, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind,
    RelationKind, Space, SpaceName, SpaceSettings,
};

mod common;
use common::XorShift;

const T0: u64 = 1_700_000_000_000;

fn agent(i: usize) -> AgentId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    AgentId(bytes)
}

/// A space of `n` procedures by 16 agents.
fn space_of(n: usize, name: &str) -> (Space, Vec<ProcedureId>) {
    let mut space = Space::new(SpaceName::new(name).unwrap());
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let new = NewProcedure {
            nonce: i as u64,
            name: format!("procedure {i}"),
            description: "a procedure used by the benchmarks".into(),
            kind: ProcedureKind::Steps,
            tags: vec![format!("tag{}", i % 32)],
            body: Body::Inline(format!("step one; step two; step {i}").into_bytes()),
        };
        let (id, delta) = space
            .add_procedure(agent(i % 16), Hlc::at(T0 + i as u64), new)
            .unwrap();
        space.apply(&delta);
        ids.push(id);
    }
    (space, ids)
}

/// Records `count` outcomes by random agents on random procedures; returns the deltas.
fn record_outcomes(space: &mut Space, ids: &[ProcedureId], count: usize, seed: u64) -> Vec<Delta> {
    let mut rng = XorShift(seed);
    let mut deltas = Vec::with_capacity(count);
    for i in 0..count {
        let outcome = Outcome {
            success: !rng.next().is_multiple_of(4),
            duration_ms: rng.next() % 5000,
            contexts: vec![format!("ctx{}", rng.below(8))],
        };
        let id = ids[rng.below(ids.len())];
        let at = Hlc::at(T0 + 1_000_000 + i as u64);
        let delta = space
            .record_outcome(agent(rng.below(64)), at, id, &outcome)
            .unwrap();
        space.apply(&delta);
        deltas.push(delta);
    }
    deltas
}

fn apply_outcomes(c: &mut Criterion) {
    let (base, ids) = space_of(1_000, "apply");
    let mut scratch = base.clone();
    let deltas = record_outcomes(&mut scratch, &ids, 10_000, 7);
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(deltas.len() as u64));
    group.bench_function("10k outcome deltas into 1k procedures", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |space| {
                for delta in &deltas {
                    space.apply(delta);
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn merge_replicas(c: &mut Criterion) {
    // Two replicas sharing 5k procedures, each with 5k of its own, each with 20k outcomes.
    let (shared, shared_ids) = space_of(5_000, "merge");
    let mut a = shared.clone();
    let mut b = shared.clone();
    let mut ids_a = shared_ids.clone();
    let mut ids_b = shared_ids;
    for i in 0..5_000 {
        for (space, ids, who) in [(&mut a, &mut ids_a, 100), (&mut b, &mut ids_b, 200)] {
            let new = NewProcedure {
                nonce: (who * 1_000_000 + i) as u64,
                name: format!("own procedure {i}"),
                description: String::new(),
                kind: ProcedureKind::Script,
                tags: vec![],
                body: Body::Inline(vec![b'x'; 64]),
            };
            let (id, d) = space
                .add_procedure(agent(who), Hlc::at(T0 + i as u64), new)
                .unwrap();
            space.apply(&d);
            ids.push(id);
        }
    }
    record_outcomes(&mut a, &ids_a, 20_000, 1);
    record_outcomes(&mut b, &ids_b, 20_000, 2);
    assert_eq!(a.len(), 10_000);
    let mut group = c.benchmark_group("merge");
    group.sample_size(10);
    group.throughput(Throughput::Elements(b.len() as u64));
    group.bench_function("two 10k-procedure replicas", |bench| {
        bench.iter_batched_ref(|| a.clone(), |a| a.merge(&b), BatchSize::LargeInput)
    });
    group.finish();
}

fn digest(c: &mut Criterion) {
    let (mut space, ids) = space_of(100_000, "digest");
    record_outcomes(&mut space, &ids, 100_000, 3);
    let mut scratch = space.clone();
    let changes = record_outcomes(&mut scratch, &ids, 100, 4);
    let _ = space.digest(); // fill the per-procedure caches
    let mut group = c.benchmark_group("digest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(space.len() as u64));
    group.bench_function("100k procedures, cold (nothing cached)", |b| {
        b.iter_batched_ref(
            || Space::decode(&space.encode()).unwrap(),
            |fresh| black_box(fresh.digest()),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("100k procedures, after 100 outcome deltas", |b| {
        b.iter_batched_ref(
            || {
                let mut warm = space.clone();
                for delta in &changes {
                    warm.apply(delta);
                }
                warm
            },
            |warm| black_box(warm.digest()),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("encode 100k procedures (snapshot)", |b| {
        b.iter(|| black_box(space.encode().len()))
    });
    group.finish();
}

fn contagion(c: &mut Criterion) {
    // 20k procedures, 100k random `similar` edges (average degree 10).
    let (mut space, ids) = space_of(20_000, "contagion");
    let mut rng = XorShift(11);
    let mut edges = 0;
    while edges < 100_000 {
        let (a, b) = (ids[rng.below(ids.len())], ids[rng.below(ids.len())]);
        if a == b {
            continue;
        }
        let strength = 0.1 + (rng.below(900) as f64) / 1000.0;
        let delta = space
            .link(
                agent(0),
                Hlc::at(T0 + edges),
                a,
                b,
                RelationKind::Similar,
                strength,
            )
            .unwrap();
        space.apply(&delta);
        edges += 1;
    }
    let edge_count = space.contagion_graph().edge_count();
    let started = std::time::Instant::now();
    space.settle();
    println!(
        "contagion: settling 20k neighbourhoods after loading {edge_count} edges took {:?}",
        started.elapsed()
    );
    let mut group = c.benchmark_group("contagion");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    let mut pick = XorShift(5);
    group.bench_function(format!("3-hop strongest paths, {edge_count} edges"), |b| {
        b.iter(|| {
            let source = ids[pick.below(ids.len())];
            black_box(space.contagion_graph().strongest_paths(source, 3).len())
        })
    });
    group.bench_function(
        format!("record and apply an outcome (contagion pushed), {edge_count} edges"),
        |b| {
            let outcome = Outcome {
                success: true,
                duration_ms: 10,
                contexts: vec!["ci".into()],
            };
            let mut at = T0 + 10_000_000;
            b.iter(|| {
                let source = ids[pick.below(ids.len())];
                at += 1;
                let delta = space
                    .record_outcome(agent(1), Hlc::at(at), source, &outcome)
                    .unwrap();
                space.apply(&delta);
                black_box(delta.changes.len())
            })
        },
    );
    group.bench_function(
        format!("top 10 of 20k procedures, {edge_count} edges"),
        |b| b.iter(|| black_box(space.top(10, &Filter::default(), T0 + 20_000_000).len())),
    );
    group.finish();
}

/// Weighted evidence at real size: 10k procedures, 200k outcomes from 50 agents (each agent
/// works on its own fifth of the space, so procedures have several reporters), weighting on.
fn weights(c: &mut Criterion) {
    let (mut space, ids) = space_of(10_000, "weights");
    let settings = SpaceSettings {
        evidence_weighting: true,
        ..SpaceSettings::default()
    };
    let d = space
        .update_settings(agent(0), Hlc::at(T0), settings)
        .unwrap();
    space.apply(&d);
    let mut rng = XorShift(13);
    for i in 0..200_000u64 {
        let who = rng.below(50);
        let id = ids[(who * 200 + rng.below(2_000)) % ids.len()];
        let outcome = Outcome {
            success: !rng.next().is_multiple_of(4),
            duration_ms: 10,
            contexts: vec![format!("ctx{}", rng.below(8))],
        };
        let delta = space
            .record_outcome(agent(who), Hlc::at(T0 + 1_000_000 + i), id, &outcome)
            .unwrap();
        space.apply(&delta);
    }
    let started = std::time::Instant::now();
    space.settle();
    let weights = space.evidence_weights();
    println!(
        "weights: first derivation for {} agents over 10k procedures / 200k outcomes took {:?}",
        weights.len(),
        started.elapsed()
    );
    let mut group = c.benchmark_group("weights");
    group.sample_size(10);
    let outcome = Outcome {
        success: true,
        duration_ms: 10,
        contexts: vec!["ctx1".into()],
    };
    let mut at = T0 + 10_000_000;
    let mut pick = XorShift(17);
    group.bench_function(
        "derive from scratch, 10k procedures, 200k outcomes, 50 agents",
        |b| b.iter(|| black_box(space.evidence_weights_from_scratch().len())),
    );
    group.bench_function(
        "settle after one outcome, 10k procedures, 200k outcomes, 50 agents",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    at += 1;
                    let id = ids[pick.below(ids.len())];
                    let delta = space
                        .record_outcome(agent(pick.below(50)), Hlc::at(at), id, &outcome)
                        .unwrap();
                    space.apply(&delta);
                    let started = std::time::Instant::now();
                    space.settle();
                    total += started.elapsed();
                }
                total
            })
        },
    );
    // The read-after-write path: a node answers an outcome write with the procedure's view,
    // whose weighted counts need the weights as of that write.
    group.bench_function(
        "apply one outcome then read weights, 10k procedures, 200k outcomes, 50 agents",
        |b| {
            b.iter(|| {
                at += 1;
                let id = ids[pick.below(ids.len())];
                let delta = space
                    .record_outcome(agent(pick.below(50)), Hlc::at(at), id, &outcome)
                    .unwrap();
                space.apply(&delta);
                let view = space.procedure(&id).unwrap();
                black_box((view.weighted_counts(None), space.evidence_weights().len()))
            })
        },
    );
    group.bench_function("top 10 of 10k procedures, weights derived", |b| {
        b.iter(|| black_box(space.top(10, &Filter::default(), T0 + 20_000_000).len()))
    });
    let mut unweighted = space.clone();
    let d = unweighted
        .update_settings(agent(0), Hlc::at(at + 1), SpaceSettings::default())
        .unwrap();
    unweighted.apply(&d);
    group.bench_function("top 10 of 10k procedures, weighting off", |b| {
        b.iter(|| {
            black_box(
                unweighted
                    .top(10, &Filter::default(), T0 + 20_000_000)
                    .len(),
            )
        })
    });
    // What a node's actor does for a ranking (freezes the space), and what another thread then does.
    group.bench_function("freeze 10k procedures, settled", |b| {
        b.iter(|| black_box(unweighted.freeze()))
    });
    let view = unweighted.freeze();
    group.bench_function("top 10 of 10k procedures frozen, weighting off", |b| {
        b.iter(|| black_box(view.top(10, &Filter::default(), T0 + 20_000_000).len()))
    });
    group.finish();
}

criterion_group!(
    benches,
    apply_outcomes,
    merge_replicas,
    digest,
    contagion,
    weights
);
criterion_main!(benches);
