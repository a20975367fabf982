//! Envelope decoding, verification and ordering never panic, whatever the bytes.
#![no_main]

use knack_protocol::{Envelope, Inbox, VersionVector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::decode(data) else {
        return;
    };
    // Decoding is canonical: the bytes are the encoding.
    assert_eq!(envelope.encode(), data);
    let verified = envelope.verify().is_ok();
    // The inbox must not panic even on unverified envelopes (odd sequence numbers and all).
    let mut inbox = Inbox::new();
    let mut known = VersionVector::new();
    let _ = inbox.admit(&known, envelope.clone());
    known.observe(envelope.author(), envelope.first_seq().saturating_sub(1));
    let _ = inbox.admit(&known, envelope.clone());
    known.observe(envelope.author(), envelope.last_seq());
    let _ = inbox.admit(&known, envelope.clone());
    let _ = envelope.ops().count();
    if verified {
        let mut log = knack_protocol::MemoryLog::new();
        log.add_space(envelope.space().clone());
        let _ = log.insert(&envelope);
    }
});
