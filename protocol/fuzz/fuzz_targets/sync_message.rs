//! Sync and blob message decoding, and the sync engine serving a decoded request, never panic.
#![no_main]

use knack_crdt::SpaceName;
use knack_protocol::{
    BlobRequest, BlobResponse, MemoryLog, SyncConfig, SyncEngine, SyncRequest, SyncResponse,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BlobRequest::decode(data);
    let _ = BlobResponse::decode(data);
    let mut engine = SyncEngine::<u8>::new(SyncConfig::default());
    let log = MemoryLog::new();
    if let Ok(space) = SpaceName::new("team") {
        engine.add_space(space);
    }
    engine.peer_connected(1, 0);
    if let Ok(request) = SyncRequest::decode(data) {
        assert_eq!(request.encode(), data);
        let _ = engine.handle_request(&1, request, &log);
    }
    let _ = engine.poll_requests(0, &log);
    if let Ok(response) = SyncResponse::decode(data) {
        assert_eq!(response.encode(), data);
        let _ = engine.handle_response(&1, response, 1, &log);
    }
});
