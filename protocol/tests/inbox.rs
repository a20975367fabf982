//! The inbox orders envelopes: duplicates trimmed, gaps held until they fill.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{Author, Replica};
use knack_protocol::{Admitted, Inbox, ProtocolError, VersionVector};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

fn seqs(admitted: &Admitted) -> Vec<u64> {
    match admitted {
        Admitted::Ready(ready) => ready
            .iter()
            .flat_map(|r| r.ops.iter().map(|op| op.seq))
            .collect(),
        Admitted::Buffered { .. } => vec![],
    }
}

#[test]
fn gaps_are_held_until_filled_and_overlaps_trimmed() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut a = Author::new(1);
    let e1 = a.envelope(&mut rng, 3); // 1..=3
    let e2 = a.envelope(&mut rng, 2); // 4..=5
    let e3 = a.envelope(&mut rng, 2); // 6..=7
    let mut inbox = Inbox::new();
    let mut known = VersionVector::new();

    let held = inbox.admit(&known, e3.clone()).unwrap();
    assert_eq!(
        held,
        Admitted::Buffered {
            author: a.agent,
            expected: 1,
            got: 6
        }
    );
    // The same envelope again is held once.
    inbox.admit(&known, e3).unwrap();
    assert_eq!(inbox.stats().buffered_envelopes, 1);
    assert_eq!(inbox.stats().buffered_ops, 2);

    let ready = inbox.admit(&known, e1).unwrap();
    assert_eq!(seqs(&ready), vec![1, 2, 3]);
    known.observe(a.agent, 3);
    let ready = inbox.admit(&known, e2.clone()).unwrap();
    assert_eq!(seqs(&ready), vec![4, 5, 6, 7]);
    known.observe(a.agent, 7);
    assert_eq!(inbox.stats().buffered_ops, 0);
    assert_eq!(inbox.stats().buffered_bytes, 0);
    assert!(matches!(
        inbox.admit(&known, e2),
        Err(ProtocolError::Replayed { seq: 5, .. })
    ));

    // Partial overlap: an envelope 6..=9 when 7 is known yields 8 and 9.
    let mut b = Author::new(2);
    let _ = b.envelope(&mut rng, 5);
    b.next_seq = 6;
    let overlap = b.envelope(&mut rng, 4);
    let mut known_b = VersionVector::new();
    known_b.observe(b.agent, 7);
    assert_eq!(seqs(&inbox.admit(&known_b, overlap).unwrap()), vec![8, 9]);
}

#[test]
fn any_delivery_order_gives_the_same_space() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut authors: Vec<Author> = (1..=3).map(Author::new).collect();
    let mut envelopes = Vec::new();
    for _ in 0..10 {
        for a in &mut authors {
            let n = rand::Rng::gen_range(&mut rng, 1..4);
            envelopes.push(a.envelope(&mut rng, n).encode());
        }
    }
    let mut in_order = Replica::default();
    for e in &envelopes {
        in_order.ingest(e).unwrap();
    }
    for _ in 0..5 {
        let mut shuffled = envelopes.clone();
        shuffled.extend(envelopes.iter().take(7).cloned()); // duplicates
        shuffled.shuffle(&mut rng);
        let mut r = Replica::default();
        for e in &shuffled {
            match r.ingest(e) {
                Ok(_) | Err(ProtocolError::Replayed { .. }) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(
            r.log.known(&common::space()),
            in_order.log.known(&common::space())
        );
        assert_eq!(r.space.digest(), in_order.space.digest());
        assert_eq!(r.inbox.stats().buffered_ops, 0);
    }
}
