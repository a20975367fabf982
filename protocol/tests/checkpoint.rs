//! Author checkpoints: a run restating an author's ops stands in for them, a log compacted
//! below it still brings a fresh replica to the same state, and a replica that was behind
//! jumps to it.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{Author, Replica, space};
use knack_crdt::{Change, Delta};
use knack_protocol::checkpoint::{CheckpointPlan, seal_checkpoint, seal_checkpoint_into};
use knack_protocol::{CheckpointSpan, Envelope, OpLog, ProtocolError};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The author's checkpoint run of everything it wrote so far.
fn checkpoint(author: &mut Author) -> Vec<Envelope> {
    let changes = author.view.restatement();
    let clock = &mut author.clock;
    let wall = author.wall_ms;
    let run = seal_checkpoint(&author.keypair, &space(), author.next_seq, changes, || {
        clock.now(wall)
    })
    .unwrap();
    author.next_seq += run.len() as u64;
    run
}

/// Pulls everything `from` holds into `to`, author by author, as anti-entropy does (small
/// budgets, so several rounds). Returns how many envelopes `to` verified.
fn pull_all(from: &Replica, to: &mut Replica) -> usize {
    let mut verified = 0;
    loop {
        let theirs = from.log.version_vector(&space());
        let ours = to.log.version_vector(&space());
        let missing = ours.missing(&theirs);
        if missing.is_empty() {
            return verified;
        }
        let mut progressed = false;
        for range in missing {
            let batch = from
                .log
                .envelopes_after(&space(), &range.author, range.after, 4096);
            for bytes in batch.envelopes {
                verified += 1;
                if to.ingest(&bytes).is_ok() {
                    progressed = true;
                }
            }
        }
        assert!(progressed, "a pull round brought nothing");
    }
}

/// Two authors writing 400 ops each into a replica that holds everything.
fn setup() -> (Author, Author, Replica, StdRng) {
    let mut rng = StdRng::seed_from_u64(7);
    let (mut a, mut b) = (Author::new(1), Author::new(2));
    let mut full = Replica::default();
    for _ in 0..100 {
        full.ingest(&a.envelope(&mut rng, 4).encode()).unwrap();
        full.ingest(&b.envelope(&mut rng, 4).encode()).unwrap();
    }
    (a, b, full, rng)
}

#[test]
fn a_compacted_log_brings_a_fresh_replica_to_the_same_state() {
    let (mut a, _b, mut full, _rng) = setup();
    let before = full.space.digest();
    let envelopes_before = full.log.envelope_count(&space());
    let run = checkpoint(&mut a);
    assert!(!run.is_empty());
    let span = run[0].checkpoint().unwrap();
    assert!(run.iter().all(|e| e.checkpoint() == Some(span)));
    assert!(run[0].starts_checkpoint());
    assert_eq!(run.last().unwrap().ends_checkpoint(), Some(span));
    for e in &run {
        full.ingest(&e.encode()).unwrap();
    }
    // The run restates: applying it changes nothing.
    assert_eq!(full.space.digest(), before);
    let removed = full.log.compact(&space(), &a.agent, span.first);
    assert_eq!(removed, 100, "author 1's 100 envelopes below the run");
    assert_eq!(
        full.log.envelope_count(&space()),
        envelopes_before + run.len() - 100
    );

    let mut fresh = Replica::default();
    let verified = pull_all(&full, &mut fresh);
    assert_eq!(fresh.space.digest(), before);
    assert_eq!(
        fresh.log.version_vector(&space()),
        full.log.version_vector(&space())
    );
    assert_eq!(fresh.inbox.stats().jumps, 1);
    assert_eq!(
        verified,
        100 + run.len(),
        "author 2's envelopes and the run"
    );
}

#[test]
fn a_replica_behind_jumps_to_the_run_and_later_ops_follow_it() {
    let (mut a, mut b, mut full, mut rng) = setup();
    // A replica that saw only author 1's first envelope.
    let mut behind = Replica::default();
    let batch = full.log.envelopes_after(&space(), &a.agent, 0, 1);
    behind.ingest(&batch.envelopes[0]).unwrap();
    let run = checkpoint(&mut a);
    for e in &run {
        full.ingest(&e.encode()).unwrap();
    }
    full.log
        .compact(&space(), &a.agent, run[0].checkpoint().unwrap().first);
    // Both authors write on after the checkpoint.
    for _ in 0..5 {
        full.ingest(&a.envelope(&mut rng, 3).encode()).unwrap();
        full.ingest(&b.envelope(&mut rng, 3).encode()).unwrap();
    }
    pull_all(&full, &mut behind);
    assert_eq!(behind.space.digest(), full.space.digest());
    assert_eq!(behind.inbox.stats().jumps, 1);
}

#[test]
fn a_run_received_out_of_order_waits_for_its_first_envelope() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut a = Author::new(1);
    let mut full = Replica::default();
    // Enough ops that the run needs several envelopes (inline bodies, many procedures).
    for _ in 0..60 {
        full.ingest(&a.envelope(&mut rng, 50).encode()).unwrap();
    }
    let changes = a.view.restatement();
    let clock = &mut a.clock;
    let wall = a.wall_ms;
    // Force a run of several envelopes by sealing in small pieces.
    let run: Vec<Envelope> = {
        let n = 4usize;
        let per = changes.len().div_ceil(n);
        let span = CheckpointSpan {
            first: a.next_seq,
            last: a.next_seq + n as u64 - 1,
        };
        changes
            .chunks(per)
            .zip(a.next_seq..)
            .map(|(chunk, seq)| {
                let entries = vec![(clock.now(wall), Delta::new(chunk.to_vec()))];
                Envelope::seal_in(&a.keypair, space(), seq, Some(span), entries).unwrap()
            })
            .collect()
    };
    let mut fresh = Replica::default();
    for e in run.iter().skip(1).rev() {
        assert_eq!(
            fresh.ingest(&e.encode()).unwrap(),
            0,
            "held: a gap before it"
        );
    }
    assert_eq!(fresh.ingest(&run[0].encode()).unwrap(), run.len());
    assert_eq!(fresh.space.digest(), full.space.digest());
}

#[test]
fn a_checkpoint_span_must_cover_its_envelope() {
    let mut a = Author::new(1);
    let hlc = a.clock.now(a.wall_ms);
    let (id, create) = a
        .view
        .add_procedure(a.agent, hlc, common::new_procedure(1, "x"))
        .unwrap();
    assert!(matches!(create.changes[0], Change::Create { id: i, .. } if i == id));
    let entries = vec![(hlc, create)];
    for span in [
        CheckpointSpan { first: 6, last: 9 }, // starts after the envelope
        CheckpointSpan { first: 1, last: 4 }, // ends before it
        CheckpointSpan { first: 0, last: 9 }, // sequence 0
    ] {
        let sealed = Envelope::seal_in(&a.keypair, space(), 5, Some(span), entries.clone());
        assert!(
            matches!(sealed, Err(ProtocolError::BadCheckpoint { .. })),
            "{span:?}: {sealed:?}"
        );
        let forged =
            Envelope::seal_unchecked_in(&a.keypair, space(), 5, Some(span), entries.clone())
                .unwrap();
        let decoded = Envelope::decode(&forged.encode()).unwrap();
        assert!(matches!(
            decoded.verify(),
            Err(ProtocolError::BadCheckpoint { .. })
        ));
    }
    // The span is signed: changing it breaks the signature.
    let good = Envelope::seal_in(
        &a.keypair,
        space(),
        5,
        Some(CheckpointSpan { first: 5, last: 5 }),
        entries.clone(),
    )
    .unwrap();
    let plain = Envelope::seal(&a.keypair, space(), 5, entries).unwrap();
    assert_ne!(good.signature(), plain.signature());
    assert!(good.starts_checkpoint() && !plain.starts_checkpoint());
}

/// A run sealed as its restatement streams (planned in one walk, sealed in a second, each
/// envelope handed over as it is sealed) is byte for byte the run sealed from the whole
/// restatement; a restatement that changed between the two walks is refused.
#[test]
fn a_run_sealed_as_it_streams_is_the_run_sealed_whole() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut a = Author::new(1);
    // Enough ops (inline bodies, many procedures) for a run of several envelopes.
    for _ in 0..60 {
        a.envelope(&mut rng, 50);
    }
    let wall = a.wall_ms;
    let mut clock = a.clock.clone();
    let whole = seal_checkpoint(
        &a.keypair,
        &space(),
        a.next_seq,
        a.view.restatement(),
        || clock.now(wall),
    )
    .unwrap();
    assert!(whole.len() > 1, "{} envelopes", whole.len());

    let plan = CheckpointPlan::of(a.view.restatement_changes());
    assert_eq!(plan.envelopes(), whole.len());
    assert_eq!(plan.changes(), a.view.restatement().len());
    let mut clock = a.clock.clone();
    let mut streamed = Vec::new();
    let span = seal_checkpoint_into(
        &a.keypair,
        &space(),
        a.next_seq,
        &plan,
        a.view.restatement_changes(),
        || clock.now(wall),
        |envelope| {
            streamed.push(envelope.encode());
            Ok::<(), ProtocolError>(())
        },
    )
    .unwrap();
    assert_eq!(span, whole[0].checkpoint());
    let whole: Vec<Vec<u8>> = whole.iter().map(Envelope::encode).collect();
    assert_eq!(streamed, whole);

    // One change fewer on the second walk: refused, not sealed short.
    let mut clock = a.clock.clone();
    let changed = seal_checkpoint_into(
        &a.keypair,
        &space(),
        a.next_seq,
        &plan,
        a.view.restatement_changes().skip(1),
        || clock.now(wall),
        |_| Ok::<(), ProtocolError>(()),
    );
    assert!(
        matches!(changed, Err(ProtocolError::RestatementChanged(_))),
        "{changed:?}"
    );
}

/// A run planned over the restatement of an earlier state and topped up with the ops written
/// since, raw (how a node seals a checkpoint while it goes on writing), restates everything:
/// a replica holding the whole log does not change, and a fresh replica pulling the log
/// compacted below the run reaches the same state.
#[test]
fn a_run_topped_up_with_later_ops_restates_the_whole_log() {
    let (mut a, _b, mut full, mut rng) = setup();
    let earlier = a.view.clone();
    let mut later = Vec::new();
    for _ in 0..30 {
        let envelope = a.envelope(&mut rng, 3);
        later.extend(envelope.ops_after(0).flat_map(|op| op.body.changes.clone()));
        full.ingest(&envelope.encode()).unwrap();
    }
    let before = full.space.digest();

    let plan =
        CheckpointPlan::of(earlier.restatement_changes()).followed_by(CheckpointPlan::of(&later));
    let bulk = CheckpointPlan::of(earlier.restatement_changes());
    assert_eq!(
        plan.envelopes(),
        bulk.envelopes() + 1,
        "the later ops fit one envelope"
    );
    assert_eq!(plan.changes(), bulk.changes() + later.len());
    let wall = a.wall_ms;
    let clock = &mut a.clock;
    let mut run = Vec::new();
    let span = seal_checkpoint_into(
        &a.keypair,
        &space(),
        a.next_seq,
        &plan,
        earlier.restatement_changes().chain(later),
        || clock.now(wall),
        |envelope| {
            run.push(envelope);
            Ok::<(), ProtocolError>(())
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(span.last - span.first + 1, run.len() as u64);
    for e in &run {
        full.ingest(&e.encode()).unwrap();
    }
    assert_eq!(
        full.space.digest(),
        before,
        "the run restates: nothing changes"
    );
    assert_eq!(full.log.compact(&space(), &a.agent, span.first), 130);

    let mut fresh = Replica::default();
    pull_all(&full, &mut fresh);
    assert_eq!(fresh.space.digest(), before);
    assert_eq!(fresh.inbox.stats().jumps, 1);
}
