//! knack-ipfs against a real IPFS node (js-ipfs through `DevDaemon`): add, pin, verified
//! fetches, timeouts, a stopped and restarted daemon, and bad CIDs.
//!
//! Run with `bash tools/test.sh -p knack-ipfs` (the daemon needs a loopback-only network
//! namespace, which the script makes).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use knack_ipfs::{Cid, IpfsApi, IpfsError, KuboRpc};

const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_answers() {
    let d = common::start();
    let version = d.ipfs.version().await.unwrap();
    assert!(!version.is_empty());
    assert!(d.daemon.pid().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_file_pins_and_fetches_back_verified() {
    let d = common::start();
    let api = d.daemon.api_url();
    let data = common::pseudo_random("ten mebibytes", 10 << 20);
    let hash = *blake3::hash(&data).as_bytes();
    let src = d.dir.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();

    let cid = d.ipfs.add_file(&src).await.unwrap();
    assert_eq!(cid.version(), 1, "{cid}");
    assert!(
        cid.as_str().starts_with("bafy"),
        "{cid}: a multi-block file is dag-pb"
    );
    assert!(d.ipfs.is_pinned(&cid).await.unwrap());
    assert_eq!(
        common::pin_type(&api, cid.as_str()).as_deref(),
        Some("recursive")
    );
    // The same file added again by the daemon's own API, with the same options: same CID.
    let (_, body) = common::post(
        &api,
        "add?only-hash=true&cid-version=1&raw-leaves=true",
        Some(&data),
    );
    assert!(body.contains(cid.as_str()), "{body}");

    // Round trip, from another task through Arc<dyn IpfsApi>.
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("fetched.bin");
    let ipfs: Arc<dyn IpfsApi> = Arc::new(d.ipfs.clone());
    let task = {
        let (ipfs, cid, dest) = (ipfs.clone(), cid.clone(), dest.clone());
        tokio::spawn(async move {
            ipfs.fetch_verified(&cid, hash, 10 << 20, &dest, FETCH_TIMEOUT)
                .await
        })
    };
    task.await.unwrap().unwrap();
    assert!(std::fs::read(&dest).unwrap() == data, "byte-identical");
    assert_eq!(common::entries(out.path()), vec!["fetched.bin".to_owned()]);

    // Wrong blake3: Mismatch, and nothing left behind (dest untouched elsewhere).
    let wrong = out.path().join("wrong.bin");
    let err = ipfs
        .fetch_verified(&cid, [0u8; 32], 10 << 20, &wrong, FETCH_TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IpfsError::Mismatch { actual_size, .. } if actual_size == 10 << 20),
        "{err}"
    );
    assert!(err.to_string().contains(cid.as_str()), "{err}");
    assert_eq!(common::entries(out.path()), vec!["fetched.bin".to_owned()]);

    // More bytes than expected: refused as soon as they arrive.
    let err = ipfs
        .fetch_verified(&cid, hash, 1 << 20, &wrong, FETCH_TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IpfsError::TooLarge { max, .. } if max == 1 << 20),
        "{err}"
    );
    // Fewer bytes than expected: a size mismatch.
    let err = ipfs
        .fetch_verified(&cid, hash, (10 << 20) + 1, &wrong, FETCH_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, IpfsError::Mismatch { .. }), "{err}");
    assert_eq!(common::entries(out.path()), vec!["fetched.bin".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_bytes_pin_add_and_is_pinned() {
    let d = common::start();
    let api = d.daemon.api_url();

    // "hello" as a single raw leaf: the CID Kubo gives it too.
    let cid = d.ipfs.add_bytes(b"hello".to_vec()).await.unwrap();
    assert_eq!(
        cid.as_str(),
        "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
    );
    assert!(d.ipfs.is_pinned(&cid).await.unwrap());

    // Stored without a pin (by the daemon's own API), then pinned through the crate.
    let (status, body) = common::post(
        &api,
        "add?pin=false&cid-version=1&raw-leaves=true",
        Some(b"stored, not pinned"),
    );
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    let unpinned = Cid::parse(json["Hash"].as_str().unwrap()).unwrap();
    assert!(!d.ipfs.is_pinned(&unpinned).await.unwrap());
    assert_eq!(common::pin_type(&api, unpinned.as_str()), None);
    d.ipfs.pin_add(&unpinned).await.unwrap();
    assert!(d.ipfs.is_pinned(&unpinned).await.unwrap());
    assert!(common::pin_type(&api, unpinned.as_str()).is_some());

    // A CID the node has never seen: not pinned (and answered at once).
    let absent = Cid::parse(&common::cid_of_absent_content(&api, b"never added")).unwrap();
    assert!(!d.ipfs.is_pinned(&absent).await.unwrap());

    // An empty body round-trips too.
    let empty = d.ipfs.add_bytes(Vec::new()).await.unwrap();
    let dest = d.dir.path().join("empty");
    d.ipfs
        .fetch_verified(
            &empty,
            *blake3::hash(b"").as_bytes(),
            0,
            &dest,
            FETCH_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_nobody_has_times_out() {
    let d = common::start();
    let api = d.daemon.api_url();
    let data = common::pseudo_random("absent", 1000);
    let cid = Cid::parse(&common::cid_of_absent_content(&api, &data)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("never.bin");

    let limit = Duration::from_secs(2);
    let t0 = Instant::now();
    let err = d
        .ipfs
        .fetch_verified(&cid, *blake3::hash(&data).as_bytes(), 1000, &dest, limit)
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(err, IpfsError::Timeout { .. }), "{err}");
    assert!(
        took >= limit && took < limit + Duration::from_secs(2),
        "{took:?}"
    );
    assert!(err.to_string().contains(&format!("cat {cid}")), "{err}");
    assert!(
        common::entries(out.path()).is_empty(),
        "no temporary file left"
    );

    // pin/add of it would hang as long: the transfer timeout bounds it.
    let short = d.ipfs.clone().with_transfer_timeout(Duration::from_secs(1));
    let err = short.pin_add(&cid).await.unwrap_err();
    assert!(matches!(err, IpfsError::Timeout { .. }), "{err}");
    // The daemon is still fine.
    d.ipfs.version().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_daemon_is_unreachable_and_restart_recovers() {
    let mut d = common::start();
    let url = d.daemon.api_url();
    let cid = d
        .ipfs
        .add_bytes(b"survives a restart".to_vec())
        .await
        .unwrap();
    let pid = d.daemon.pid().unwrap();

    d.daemon.stop().unwrap();
    assert_eq!(d.daemon.pid(), None);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the daemon process is gone"
    );
    let err = d.ipfs.version().await.unwrap_err();
    assert!(matches!(err, IpfsError::Unreachable { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("IPFS API at {url} is unreachable: ")),
        "{message}"
    );
    eprintln!("message when the daemon is down: {message}");
    let err = d.ipfs.add_bytes(b"x".to_vec()).await.unwrap_err();
    assert!(matches!(err, IpfsError::Unreachable { .. }), "{err}");

    d.daemon.restart().unwrap();
    assert_eq!(d.daemon.api_url(), url, "same port");
    assert!(d.ipfs.version().await.is_ok());
    assert!(d.ipfs.is_pinned(&cid).await.unwrap(), "same repository");
    let dest = d.dir.path().join("after-restart");
    d.ipfs
        .fetch_verified(
            &cid,
            *blake3::hash(b"survives a restart").as_bytes(),
            18,
            &dest,
            FETCH_TIMEOUT,
        )
        .await
        .unwrap();
}

#[test]
fn bad_cid_strings_are_rejected() {
    for bad in [
        "",
        "hello",
        "Qm123",
        "bafy!!",
        "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYeca",
    ] {
        let err: IpfsError = Cid::parse(bad).unwrap_err().into();
        assert!(matches!(err, IpfsError::BadCid(_)), "{bad}");
        assert!(err.to_string().starts_with("invalid CID"), "{err}");
    }
    assert!(KuboRpc::new("localhost:5001").is_err());
}
