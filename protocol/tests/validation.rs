//! Every validation error, each produced by a crafted input.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{Author, agent, keypair, new_procedure, space};
use knack_crdt::{AgentId, Change, Delta, Hlc, Outcome, OutcomeSlot, Space};
use knack_protocol::{
    Envelope, HybridClock, Inbox, MAX_BUFFERED_OPS_PER_AUTHOR, MAX_ENVELOPE_BYTES,
    MAX_OPS_PER_ENVELOPE, PROTOCOL_VERSION, ProtocolError, VersionVector,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn valid() -> Envelope {
    let mut rng = StdRng::seed_from_u64(1);
    Author::new(1).envelope(&mut rng, 3)
}

#[test]
fn a_valid_envelope_verifies_and_round_trips() {
    let e = valid();
    e.verify().unwrap();
    let decoded = Envelope::decode(&e.encode()).unwrap();
    assert_eq!(decoded, e);
    assert_eq!(decoded.encode(), e.encode());
    assert_eq!(decoded.id(), e.id());
    assert_eq!(e.seq_range(), 1..=3);
    assert_eq!(e.ops().map(|op| op.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[test]
fn oversized() {
    let bytes = vec![PROTOCOL_VERSION; MAX_ENVELOPE_BYTES + 1];
    let err = Envelope::decode(&bytes).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::Oversized {
            len: MAX_ENVELOPE_BYTES + 1,
            max: MAX_ENVELOPE_BYTES
        }
    );
    assert_eq!(err.reason(), "oversized");
}

#[test]
fn unknown_version() {
    // The previous version (1: replicated boosts) and a future one are both refused.
    for got in [1, PROTOCOL_VERSION + 1] {
        let mut bytes = valid().encode();
        bytes[0] = got;
        assert_eq!(
            Envelope::decode(&bytes).unwrap_err(),
            ProtocolError::UnknownVersion {
                got,
                supported: PROTOCOL_VERSION
            }
        );
    }
}

#[test]
fn garbage_and_truncation_are_malformed() {
    for bytes in [
        vec![],
        vec![PROTOCOL_VERSION],
        vec![PROTOCOL_VERSION, 0xff, 0xff, 0xff],
        [&[PROTOCOL_VERSION][..], b"hello world"].concat(),
    ] {
        let err = Envelope::decode(&bytes).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{bytes:?}: {err}");
    }
    let bytes = valid().encode();
    for cut in [2, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(
            Envelope::decode(&bytes[..cut]).unwrap_err().reason(),
            "malformed"
        );
    }
}

#[test]
fn trailing_bytes() {
    let mut bytes = valid().encode();
    bytes.push(0);
    assert!(matches!(
        Envelope::decode(&bytes).unwrap_err(),
        ProtocolError::Malformed(m) if m.contains("trailing")
    ));
}

#[test]
fn bad_signature() {
    let mut bytes = valid().encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // inside the signature
    let e = Envelope::decode(&bytes).unwrap();
    assert_eq!(e.verify().unwrap_err(), ProtocolError::BadSignature);
    // A byte of the signed part: the wall time of the first op's timestamp is hard to find, but
    // the space name is right after the version byte and its length.
    let mut bytes = valid().encode();
    bytes[2] = b'x'; // "team" -> "xeam"
    let e = Envelope::decode(&bytes).unwrap();
    assert_eq!(e.verify().unwrap_err(), ProtocolError::BadSignature);
}

#[test]
fn wrong_author_outcome_slot() {
    // Bob signs a delta writing Alice's outcome slot.
    let alice = agent(1);
    let bob = keypair(2);
    let view = Space::new(space());
    let (id, create) = view
        .add_procedure(alice, Hlc::at(1), new_procedure(7, "p"))
        .unwrap();
    let mut view = view;
    view.apply(&create);
    let outcome = Outcome {
        success: true,
        duration_ms: 5,
        contexts: vec![],
    };
    let forged = view
        .record_outcome(alice, Hlc::at(2), id, &outcome)
        .unwrap();
    let err = Envelope::seal(&bob, space(), 1, vec![(Hlc::at(2), forged.clone())]).unwrap_err();
    assert_eq!(err.reason(), "wrong_author");
    let e = Envelope::seal_unchecked(&bob, space(), 1, vec![(Hlc::at(2), forged)]).unwrap();
    let e = Envelope::decode(&e.encode()).unwrap();
    assert!(matches!(
        e.verify().unwrap_err(),
        ProtocolError::WrongAuthor(_)
    ));
    // The same with a bare outcome change.
    let slot = Delta::new(vec![Change::Outcome {
        id,
        agent: alice,
        slot: OutcomeSlot::default(),
    }]);
    let e = Envelope::seal_unchecked(&bob, space(), 1, vec![(Hlc::at(3), slot)]).unwrap();
    assert_eq!(e.verify().unwrap_err().reason(), "wrong_author");
}

#[test]
fn author_that_is_not_a_key() {
    // Craft the envelope bytes by hand: replace the author with a small-order point. The
    // signature cannot match anyway, but the key is refused first.
    let e = valid();
    let author = e.author();
    let mut bytes = e.encode();
    let at = bytes
        .windows(32)
        .position(|w| w == author.0)
        .expect("the author is in the bytes");
    let mut weak = [0u8; 32];
    weak[0] = 1;
    bytes[at..at + 32].copy_from_slice(&weak);
    let e = Envelope::decode(&bytes).unwrap();
    assert_eq!(e.author(), AgentId(weak));
    assert!(matches!(
        e.verify().unwrap_err(),
        ProtocolError::WrongAuthor(_)
    ));
}

#[test]
fn invalid_delta() {
    let kp = keypair(1);
    let err = Envelope::seal(&kp, space(), 1, vec![(Hlc::at(1), Delta::default())]).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::InvalidDelta(knack_crdt::CrdtError::EmptyDelta)
    );
}

#[test]
fn hlc_not_increasing() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut author = Author::new(1);
    let (h1, d1) = author.next_op(&mut rng);
    let (_, d2) = author.next_op(&mut rng);
    let entries = vec![(h1, d1), (h1, d2)];
    assert_eq!(
        Envelope::seal(&author.keypair, space(), 1, entries.clone()).unwrap_err(),
        ProtocolError::HlcNotIncreasing { seq: 2 }
    );
    let e = Envelope::seal_unchecked(&author.keypair, space(), 1, entries).unwrap();
    let e = Envelope::decode(&e.encode()).unwrap();
    assert_eq!(
        e.verify().unwrap_err(),
        ProtocolError::HlcNotIncreasing { seq: 2 }
    );
}

#[test]
fn empty_envelope_and_bad_sequences() {
    let kp = keypair(1);
    let e = Envelope::seal_unchecked(&kp, space(), 1, vec![]).unwrap();
    let e = Envelope::decode(&e.encode()).unwrap();
    assert_eq!(e.verify().unwrap_err(), ProtocolError::EmptyEnvelope);
    assert_eq!(e.verify().unwrap_err().reason(), "empty_envelope");

    let mut rng = StdRng::seed_from_u64(4);
    let mut author = Author::new(1);
    let op = author.next_op(&mut rng);
    let op2 = author.next_op(&mut rng);
    let zero = Envelope::seal_unchecked(&kp, space(), 0, vec![op.clone()]).unwrap();
    assert_eq!(zero.verify().unwrap_err().reason(), "bad_sequence");
    let overflow = Envelope::seal_unchecked(&kp, space(), u64::MAX, vec![op.clone(), op2]).unwrap();
    assert_eq!(overflow.verify().unwrap_err().reason(), "bad_sequence");
    assert_eq!(overflow.last_seq(), u64::MAX);
    let at_max = Envelope::seal(&kp, space(), u64::MAX, vec![op]).unwrap();
    assert_eq!(at_max.seq_range(), u64::MAX..=u64::MAX);
    // Regression: sequence arithmetic at u64::MAX overflowed (a debug-build panic) before it
    // saturated; unverified envelopes reach `ops` and the inbox too.
    assert_eq!(
        at_max.ops().map(|op| op.seq).collect::<Vec<_>>(),
        vec![u64::MAX]
    );
    assert_eq!(overflow.ops().count(), 2);
}

#[test]
fn too_many_ops() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut author = Author::new(1);
    let entries: Vec<_> = (0..=MAX_OPS_PER_ENVELOPE)
        .map(|_| author.next_op(&mut rng))
        .collect();
    let e = Envelope::seal_unchecked(&author.keypair, space(), 1, entries).unwrap();
    assert_eq!(
        e.verify().unwrap_err(),
        ProtocolError::TooManyOps {
            count: MAX_OPS_PER_ENVELOPE + 1,
            max: MAX_OPS_PER_ENVELOPE
        }
    );
    // Refused while decoding, before anything is allocated for the ops.
    assert_eq!(
        Envelope::decode(&e.encode()).unwrap_err().reason(),
        "malformed"
    );
}

#[test]
fn non_ed25519_keys_cannot_seal() {
    // No other key type is compiled in; the error exists for the node's sake.
    assert_eq!(ProtocolError::UnsupportedKey.reason(), "unsupported_key");
}

#[test]
fn clock_skew() {
    let e = valid();
    let mut clock = HybridClock::with_max_drift(60_000);
    let last = e.entries().last().unwrap().0;
    let err = clock.observe(last, last.wall_ms - 60_001).unwrap_err();
    assert_eq!(err.reason(), "clock_skew");
    assert!(clock.observe(last, last.wall_ms - 60_000).is_ok());
}

#[test]
fn replayed_and_sequence_gap_in_the_inbox() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut author = Author::new(1);
    let first = author.envelope(&mut rng, 2);
    let mut inbox = Inbox::new();
    let mut known = VersionVector::new();
    known.observe(author.agent, 2);
    assert_eq!(
        inbox.admit(&known, first).unwrap_err(),
        ProtocolError::Replayed {
            author: author.agent,
            seq: 2
        }
    );
    // Fill the author's gap buffer, then one more envelope is dropped.
    let known = VersionVector::new();
    author.envelope(&mut rng, 1); // seq 3: the gap
    let per = MAX_OPS_PER_ENVELOPE;
    let mut held = 0;
    while held + per <= MAX_BUFFERED_OPS_PER_AUTHOR {
        let e = author.envelope(&mut rng, per);
        assert!(matches!(
            inbox.admit(&known, e).unwrap(),
            knack_protocol::Admitted::Buffered { expected: 1, .. }
        ));
        held += per;
    }
    let e = author.envelope(&mut rng, per);
    let got = e.first_seq();
    let err = inbox.admit(&known, e).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::SequenceGap {
            author: author.agent,
            expected: 1,
            got
        }
    );
    assert_eq!(err.reason(), "sequence_gap");
    assert_eq!(inbox.stats().dropped, 1);
    assert_eq!(inbox.stats().buffered_ops, held);
}
