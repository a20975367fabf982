//! The blob store's limits against a real node: an upload past `blob_quota_bytes` is refused
//! with 507 and the JSON error body (nothing kept), and an upload nothing references is
//! collected after `unreferenced_blob_grace_secs`, while referenced ones stay.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::time::Duration;

use common::{TestNode, body_of, wait_for};
use serde_json::{Value, json};

/// `POST /v1/blobs` with raw bytes; returns (status, JSON body).
fn upload(node: &TestNode, bytes: &[u8]) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&format!("{}/v1/blobs", node.api))
        .header("Authorization", &format!("Bearer {}", node.token))
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap())
}

fn blob_files(node: &TestNode) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(node.dir.join("blobs")).unwrap().flatten() {
        if shard.file_name().len() == 2 {
            count += std::fs::read_dir(shard.path())
                .unwrap()
                .flatten()
                .filter(|f| !f.file_name().to_string_lossy().ends_with(".obao"))
                .count();
        }
    }
    count
}

#[test]
fn uploads_past_the_quota_are_refused_and_unreferenced_ones_are_collected() {
    let mut a = TestNode::init("a", &[]);
    a.set_config("blob_quota_bytes", "400000");
    a.set_config("unreferenced_blob_grace_secs", "3");
    a.launch();

    let kept = body_of(150_000, 1);
    let (code, blob) = upload(&a, &kept);
    assert_eq!(code, 201, "{blob}");
    let (code, body) = a.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": "references its upload", "body_blob": blob })),
    );
    assert_eq!(code, 201, "{body}");
    let (code, orphan) = upload(&a, &body_of(150_000, 2));
    assert_eq!(code, 201, "{orphan}");

    // A third would pass the quota: refused, clearly, and nothing is kept.
    let (code, refused) = upload(&a, &body_of(150_000, 3));
    assert_eq!(code, 507, "{refused}");
    assert_eq!(refused["kind"], "blob_quota", "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("400000"),
        "{refused}"
    );
    assert_eq!(blob_files(&a), 2);
    assert_eq!(
        std::fs::read_dir(a.dir.join("blobs/tmp")).unwrap().count(),
        0,
        "no partial upload left behind"
    );

    // The orphan is collected after the grace period; the referenced one stays.
    wait_for(Duration::from_secs(30), || {
        (blob_files(&a) == 1).then_some(())
    })
    .expect("the unreferenced upload was never collected");
    assert_eq!(
        a.metric("knack_integrity_faults_total{reason=\"unreferenced_blob_collected\"}"),
        1.0
    );
    let hash = blob["blake3"].as_str().unwrap();
    assert!(a.dir.join("blobs").join(&hash[..2]).join(hash).exists());
    let (code, again) = upload(&a, &body_of(150_000, 3));
    assert_eq!(code, 201, "room again: {again}");
}
