//! Helpers of the integration tests: a daemon per test, test data, and a tiny HTTP client that
//! asks the daemon directly, independently of the crate under test.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::io::Read;

use knack_ipfs::{DevDaemon, KuboRpc};
use tempfile::TempDir;

/// A running daemon, its client and its repository (deleted after the daemon stops: fields
/// drop in declaration order).
pub(crate) struct Daemon {
    pub(crate) daemon: DevDaemon,
    pub(crate) ipfs: KuboRpc,
    pub(crate) dir: TempDir,
}

pub(crate) fn start() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DevDaemon::start(dir.path().join("repo")).unwrap_or_else(|e| panic!("{e}"));
    let ipfs = KuboRpc::new(&daemon.api_url()).unwrap();
    Daemon { daemon, ipfs, dir }
}

/// `len` deterministic pseudo-random bytes (blake3 as an extendable-output function).
pub(crate) fn pseudo_random(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// POSTs to `{api}/api/v0/{path_and_query}` with an optional multipart file; returns the HTTP
/// status and body.
pub(crate) fn post(api: &str, path_and_query: &str, file: Option<&[u8]>) -> (u16, String) {
    let url = format!("{api}/api/v0/{path_and_query}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let result = match file {
        None => agent.post(&url).send_empty(),
        Some(bytes) => {
            let boundary = "knack-test-boundary-7d1f";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            agent
                .post(&url)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .send(&body[..])
        }
    };
    let mut response = result.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    (status, text)
}

/// What the daemon's own `pin/ls` says about `cid`: `Some(type)` when pinned.
pub(crate) fn pin_type(api: &str, cid: &str) -> Option<String> {
    let (status, body) = post(api, &format!("pin/ls?arg={cid}"), None);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    if status != 200 {
        let message = json["Message"].as_str().unwrap_or_default();
        assert!(message.contains("is not pinned"), "pin/ls {cid}: {body}");
        return None;
    }
    let keys = json["Keys"].as_object().unwrap();
    assert_eq!(keys.len(), 1, "{body}");
    Some(
        keys.values().next().unwrap()["Type"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// The CIDv1 `data` would have, computed by the daemon without storing anything
/// (`add?only-hash=true`): a CID of content that no node has.
pub(crate) fn cid_of_absent_content(api: &str, data: &[u8]) -> String {
    let (status, body) = post(
        api,
        "add?only-hash=true&pin=false&cid-version=1&raw-leaves=true",
        Some(data),
    );
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    json["Hash"].as_str().unwrap().to_owned()
}

/// Names of the entries in `dir`.
pub(crate) fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
