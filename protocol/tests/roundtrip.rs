//! Every message type survives encode/decode unchanged, and re-encodes to the same bytes.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::Author;
use knack_crdt::{AgentId, ContentHash, SpaceName};
use knack_protocol::blob::BlobRefuseReason;
use knack_protocol::sync::RefuseReason;
use knack_protocol::{
    BlobRequest, BlobResponse, Envelope, SyncRequest, SyncResponse, VersionVector,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn arb_space() -> impl Strategy<Value = SpaceName> {
    "[a-z0-9._-]{1,64}".prop_map(|s| SpaceName::new(s).unwrap())
}

fn arb_vv() -> impl Strategy<Value = VersionVector> {
    proptest::collection::vec((any::<[u8; 32]>(), 1u64..), 0..8)
        .prop_map(|v| v.into_iter().map(|(a, s)| (AgentId(a), s)).collect())
}

fn arb_blobs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..5)
}

fn arb_sync_request() -> impl Strategy<Value = SyncRequest> {
    prop_oneof![
        (arb_space(), arb_vv()).prop_map(|(space, have)| SyncRequest::Pull { space, have }),
        (arb_space(), arb_vv(), arb_blobs()).prop_map(|(space, have, envelopes)| {
            SyncRequest::Push {
                space,
                have,
                envelopes,
            }
        }),
    ]
}

fn arb_sync_response() -> impl Strategy<Value = SyncResponse> {
    prop_oneof![
        (arb_space(), arb_vv(), arb_blobs(), any::<bool>()).prop_map(
            |(space, have, envelopes, more)| SyncResponse::Envelopes {
                space,
                have,
                envelopes,
                more
            }
        ),
        (arb_space(), arb_vv()).prop_map(|(space, have)| SyncResponse::Ack { space, have }),
        (
            arb_space(),
            prop_oneof![
                Just(RefuseReason::UnknownSpace),
                Just(RefuseReason::Forbidden),
                Just(RefuseReason::Busy)
            ]
        )
            .prop_map(|(space, reason)| SyncResponse::Refused { space, reason }),
    ]
}

fn arb_blob_response() -> impl Strategy<Value = BlobResponse> {
    let hash = any::<[u8; 32]>().prop_map(ContentHash);
    prop_oneof![
        (
            hash.clone(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..2000)
        )
            .prop_map(|(hash, offset, slice)| BlobResponse::Chunk {
                hash,
                offset,
                slice
            }),
        hash.clone()
            .prop_map(|hash| BlobResponse::NotFound { hash }),
        (
            hash,
            prop_oneof![
                Just(BlobRefuseReason::Busy),
                Just(BlobRefuseReason::Forbidden)
            ]
        )
            .prop_map(|(hash, reason)| BlobResponse::Refused { hash, reason }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sync_requests(m in arb_sync_request()) {
        let bytes = m.encode();
        prop_assert_eq!(m.encoded_len(), bytes.len());
        let back = SyncRequest::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn sync_responses(m in arb_sync_response()) {
        let bytes = m.encode();
        prop_assert_eq!(m.encoded_len(), bytes.len());
        let back = SyncResponse::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn blob_requests(hash in any::<[u8; 32]>(), offset in any::<u64>(), max_len in any::<u32>()) {
        let m = BlobRequest { hash: ContentHash(hash), offset, max_len };
        prop_assert_eq!(BlobRequest::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn blob_responses(m in arb_blob_response()) {
        let bytes = m.encode();
        let back = BlobResponse::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn envelopes(seed in any::<u64>(), author in 1u8..5, ops in 1usize..6) {
        let mut rng = StdRng::seed_from_u64(seed);
        let e = Author::new(author).envelope(&mut rng, ops);
        let back = Envelope::decode(&e.encode()).unwrap();
        back.verify().unwrap();
        prop_assert_eq!(back.encode(), e.encode());
        prop_assert_eq!(back.ops().collect::<Vec<_>>(), e.ops().collect::<Vec<_>>());
        prop_assert_eq!(back, e);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Envelope::decode(&bytes).map(|e| e.verify());
        let _ = SyncRequest::decode(&bytes);
        let _ = SyncResponse::decode(&bytes);
        let _ = BlobRequest::decode(&bytes);
        let _ = BlobResponse::decode(&bytes);
    }
}
