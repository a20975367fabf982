//! Golden byte vectors: the wire format must not change by accident.
//!
//! Each message built from fixed inputs is encoded and compared with the hex file of the same
//! name in `tests/golden/`. After an intended change of the wire format (or of the CRDT's
//! encoding), run `KNACK_BLESS=1 cargo test -p knack-protocol --test golden` to rewrite the
//! files, and review the diff.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use std::path::PathBuf;

use common::{agent, keypair, new_procedure, space};
use knack_crdt::{ContentHash, Hlc, Outcome, Space};
use knack_protocol::blob::BlobRefuseReason;
use knack_protocol::sync::RefuseReason;
use knack_protocol::{
    BlobRequest, BlobResponse, CheckpointSpan, Envelope, SyncRequest, SyncResponse, VersionVector,
};

/// Compares `bytes` with `tests/golden/<name>.hex`, or rewrites the file when `KNACK_BLESS=1`.
fn check(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.hex"));
    let hex = hex::encode(bytes);
    if std::env::var("KNACK_BLESS").as_deref() == Ok("1") {
        let mut text = String::new();
        for line in hex.as_bytes().chunks(64) {
            text.push_str(std::str::from_utf8(line).unwrap());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (KNACK_BLESS=1 writes it)", path.display()));
    let expected: String = expected.split_whitespace().collect();
    assert!(
        expected == hex,
        "{name}: encoding differs from {} (KNACK_BLESS=1 rewrites it after an intended change)\n\
         expected {expected}\n     got {hex}",
        path.display()
    );
}

/// The fixed envelope: agent 7 creates a procedure and records a success of it.
fn envelope() -> Envelope {
    let kp = keypair(7);
    let me = agent(7);
    let mut view = Space::new(space());
    let t0 = Hlc::at(1_700_000_000_000);
    let t1 = Hlc {
        wall_ms: 1_700_000_000_000,
        logical: 1,
    };
    let (id, create) = view
        .add_procedure(me, t0, new_procedure(42, "deploy"))
        .unwrap();
    view.apply(&create);
    let outcome = Outcome {
        success: true,
        duration_ms: 1_200,
        contexts: vec!["ci".into()],
    };
    let used = view.record_outcome(me, t1, id, &outcome).unwrap();
    Envelope::seal(&kp, space(), 1, vec![(t0, create), (t1, used)]).unwrap()
}

fn have() -> VersionVector {
    [(agent(7), 2), (agent(8), 5)].into_iter().collect()
}

#[test]
fn envelope_bytes() {
    let e = envelope();
    check("envelope", &e.encode());
    let back = Envelope::decode(&e.encode()).unwrap();
    back.verify().unwrap();
}

#[test]
fn checkpoint_envelope_bytes() {
    let plain = envelope();
    let span = CheckpointSpan { first: 1, last: 4 };
    let entries = plain.entries().to_vec();
    let e = Envelope::seal_in(&keypair(7), space(), 1, Some(span), entries).unwrap();
    check("checkpoint_envelope", &e.encode());
    let back = Envelope::decode(&e.encode()).unwrap();
    back.verify().unwrap();
    assert_eq!(back.checkpoint(), Some(span));
}

#[test]
fn sync_message_bytes() {
    let e = envelope().encode();
    check(
        "sync_pull",
        &SyncRequest::Pull {
            space: space(),
            have: have(),
        }
        .encode(),
    );
    check(
        "sync_push",
        &SyncRequest::Push {
            space: space(),
            have: have(),
            envelopes: vec![e.clone()],
        }
        .encode(),
    );
    check(
        "sync_envelopes",
        &SyncResponse::Envelopes {
            space: space(),
            have: have(),
            envelopes: vec![e],
            more: true,
        }
        .encode(),
    );
    check(
        "sync_ack",
        &SyncResponse::Ack {
            space: space(),
            have: have(),
        }
        .encode(),
    );
    check(
        "sync_refused",
        &SyncResponse::Refused {
            space: space(),
            reason: RefuseReason::UnknownSpace,
        }
        .encode(),
    );
}

#[test]
fn blob_message_bytes() {
    let data = b"make deploy".to_vec();
    let mut outboard = std::io::Cursor::new(Vec::new());
    let hash = knack_protocol::blob::write_outboard(&data[..], &mut outboard).expect("outboard");
    assert_eq!(hash, ContentHash::of(&data));
    let outboard = outboard.into_inner();
    check(
        "blob_request",
        &BlobRequest {
            hash,
            offset: 0,
            max_len: 262_144,
        }
        .encode(),
    );
    check(
        "blob_chunk",
        &knack_protocol::blob::extract_chunk(
            std::io::Cursor::new(&data),
            std::io::Cursor::new(&outboard),
            data.len() as u64,
            &BlobRequest {
                hash,
                offset: 0,
                max_len: 262_144,
            },
        )
        .expect("a chunk")
        .encode(),
    );
    check("blob_not_found", &BlobResponse::NotFound { hash }.encode());
    check(
        "blob_refused",
        &BlobResponse::Refused {
            hash,
            reason: BlobRefuseReason::Busy,
        }
        .encode(),
    );
}
