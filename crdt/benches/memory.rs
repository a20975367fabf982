//! Memory of a space at real size, part by part: the heap a replica holds once built the way
//! a node builds it (procedures added, then `similar` links, then outcomes, each applied as a
//! delta) and once restored from its snapshot (how a restarted node holds it), plus the
//! transient bytes of a snapshot copy, a digest and an encoding.
//!
//! Run: `cargo bench -p knack-crdt --bench memory` (100k procedures in clusters of 20 with
//! ~5 `similar` links each, 1M outcomes from 50 agents in 3 contexts: the scale bench's
//! shape). `KNACK_BENCH_PROCEDURES` and `KNACK_BENCH_OUTCOMES` change the size.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use cap::Cap;
use knack_crdt::{
    AgentId, Body, Hlc, NewProcedure, Outcome, ProcedureId, ProcedureKind, RelationKind, Space,
    SpaceName,
};

/// Counts every allocation of this process.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

mod common;
use common::XorShift;

const T0: u64 = 1_700_000_000_000;
const AGENTS: usize = 50;
const CLUSTER: usize = 20;
const LINKS_PER_PROCEDURE: usize = 5;
const CONTEXTS: [&str; 3] = ["deploy", "incident", "migration"];
const WORDS: [&str; 24] = [
    "restart",
    "service",
    "rotate",
    "keys",
    "drain",
    "node",
    "rollback",
    "release",
    "scale",
    "cluster",
    "backup",
    "database",
    "flush",
    "cache",
    "renew",
    "certificate",
    "patch",
    "kernel",
    "compact",
    "logs",
    "migrate",
    "schema",
    "purge",
    "queue",
];

/// `n` words of the vocabulary, space-separated.
fn words(rng: &mut XorShift, n: usize) -> String {
    (0..n)
        .map(|_| WORDS[rng.below(WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn agent(i: usize) -> AgentId {
    AgentId(*blake3::hash(&(i as u64).to_le_bytes()).as_bytes())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn live() -> usize {
    ALLOCATOR.allocated()
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// Prints one row: bytes as built and as restored from a snapshot, and per item.
fn row(what: &str, built: usize, restored: Option<usize>, per: (usize, &str)) {
    let (n, unit) = per;
    let per_item = |bytes: usize| bytes as f64 / n.max(1) as f64;
    match restored {
        Some(restored) => println!(
            "  {what:<44} {:>8.1} MB {:>6.0} B/{unit:<10} {:>8.1} MB {:>6.0} B/{unit}",
            mb(built),
            per_item(built),
            mb(restored),
            per_item(restored)
        ),
        None => println!(
            "  {what:<44} {:>8.1} MB {:>6.0} B/{unit}",
            mb(built),
            per_item(built)
        ),
    }
}

/// The heap a copy of `space` restored from its snapshot holds.
fn restored_size(space: &Space) -> usize {
    let encoded = space.encode();
    let before = live();
    let restored = Space::decode(&encoded).unwrap();
    let bytes = live() - before;
    drop(restored);
    bytes
}

fn main() {
    // `cargo bench` passes `--bench`; this harness-less bench takes no arguments.
    let n = env_usize("KNACK_BENCH_PROCEDURES", 100_000);
    let outcomes = env_usize("KNACK_BENCH_OUTCOMES", 1_000_000);
    println!(
        "space memory: {n} procedures in clusters of {CLUSTER}, {LINKS_PER_PROCEDURE} similar \
         links each, {outcomes} outcomes from {AGENTS} agents"
    );
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let agents: Vec<AgentId> = (0..AGENTS).map(agent).collect();
    let started = Instant::now();

    let base = live();
    let mut space = Space::new(SpaceName::new("memory").unwrap());
    let mut ids: Vec<ProcedureId> = Vec::with_capacity(n);
    let mut body_bytes = 0;
    for i in 0..n {
        let body = format!(
            "#!/bin/sh\n# {}\n{}\n",
            words(&mut rng, 8),
            words(&mut rng, 50)
        );
        body_bytes += body.len();
        let new = NewProcedure {
            nonce: i as u64,
            name: words(&mut rng, 4),
            description: words(&mut rng, 12),
            kind: ProcedureKind::Script,
            tags: vec![
                WORDS[rng.below(WORDS.len())].to_owned(),
                format!("team-{}", i % 7),
            ],
            body: Body::Inline(body.into_bytes()),
        };
        let (id, delta) = space
            .add_procedure(agents[i % AGENTS], Hlc::at(T0 + i as u64), new)
            .unwrap();
        space.apply(&delta);
        ids.push(id);
    }
    let after_procedures = live();
    let restored_procedures = restored_size(&space);

    let mut links = 0;
    for (i, &from) in ids.iter().enumerate() {
        let cluster = i / CLUSTER * CLUSTER;
        for _ in 0..LINKS_PER_PROCEDURE {
            let to = ids[(cluster + rng.below(CLUSTER)).min(n - 1)];
            if to == from {
                continue;
            }
            let strength = 0.5 + rng.below(400) as f64 / 1000.0;
            let at = Hlc::at(T0 + n as u64 + links as u64);
            let delta = space
                .link(
                    agents[i % AGENTS],
                    at,
                    from,
                    to,
                    RelationKind::Similar,
                    strength,
                )
                .unwrap();
            space.apply(&delta);
            links += 1;
        }
    }
    space.settle();
    let relations = space.relations().count();
    let after_relations = live();
    let restored_relations = restored_size(&space);

    for i in 0..outcomes {
        let outcome = Outcome {
            success: rng.below(10) < 7,
            duration_ms: rng.below(60_000) as u64,
            contexts: vec![CONTEXTS[rng.below(CONTEXTS.len())].to_owned()],
        };
        let at = Hlc::at(T0 + 10_000_000 + i as u64);
        let id = ids[rng.below(n)];
        let delta = space
            .record_outcome(agents[rng.below(AGENTS)], at, id, &outcome)
            .unwrap();
        space.apply(&delta);
    }
    space.settle();
    let after_outcomes = live();
    let built_in = started.elapsed();

    println!(
        "built as a node builds it, in {:.1} s (first columns); restored from its snapshot, as \
         a restarted node holds it (last columns):",
        built_in.as_secs_f64()
    );
    let restored_all = restored_size(&space);
    row(
        "procedures (inline bodies included)",
        after_procedures - base,
        Some(restored_procedures),
        (n, "procedure"),
    );
    row("  of which body bytes", body_bytes, None, (n, "procedure"));
    row(
        &format!("relations ({relations} live, {links} links)"),
        after_relations - after_procedures,
        Some(restored_relations - restored_procedures),
        (relations, "relation"),
    );
    row(
        &format!("outcomes ({outcomes})"),
        after_outcomes - after_relations,
        Some(restored_all - restored_relations),
        (outcomes, "outcome"),
    );
    row(
        "the whole space",
        after_outcomes - base,
        Some(restored_all),
        (n, "procedure"),
    );

    println!("transients:");
    let before = live();
    let snapshot = space.snapshot();
    row(
        "a snapshot copy (Space::snapshot)",
        live() - before,
        None,
        (n, "procedure"),
    );
    let encoded = snapshot.encode();
    drop(snapshot);
    row(
        "its encoding (Space::encode)",
        encoded.len(),
        None,
        (n, "procedure"),
    );
    drop(encoded);
    let peak = ALLOCATOR.max_allocated();
    let t = Instant::now();
    black_box(space.digest());
    let cold = t.elapsed();
    let t = Instant::now();
    black_box(space.digest());
    println!(
        "  a digest: {:.1} ms, {:.1} ms again (procedure hashes cached)",
        cold.as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 1e3
    );
    if ALLOCATOR.max_allocated() > peak {
        row(
            "a digest: the process's peak rose by",
            ALLOCATOR.max_allocated() - peak,
            None,
            (n, "procedure"),
        );
    } else {
        println!("  a digest held less than the build's peak");
    }
}
