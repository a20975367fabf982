//! A full disk, on a small tmpfs mounted by the test: writes are refused cleanly (507
//! `disk_full`, nothing acknowledged is lost) while reads go on, writes resume by themselves
//! once space is freed, and SIGTERM stops the node within a bounded time even on a full disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestNode, wait_for};
use serde_json::json;

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs (the tests run as root)");
        Tmpfs { _dir: dir, path }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem of `dir` to the last byte with a file; returns it.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let mut byte = [7u8; 1];
    while file.write_all(&byte).is_ok() {
        byte[0] = 7;
    }
    path
}

fn add(node: &TestNode, name: &str) -> (u16, serde_json::Value) {
    node.call(
        "POST",
        "/v1/spaces/default/procedures",
        Some(json!({ "name": name, "body": "x".repeat(2000) })),
    )
}

#[test]
fn a_full_disk_refuses_writes_cleanly_recovers_by_itself_and_stops_in_bounded_time() {
    let disk = Tmpfs::mount(48);
    let mut a = TestNode::init_at("a", disk.path.join("node"), &[]);
    a.set_config("min_free_disk_bytes", &(4u64 << 20).to_string());
    a.set_config("kademlia", "false");
    a.launch();
    for i in 0..5 {
        let (code, body) = add(&a, &format!("before {i}"));
        assert_eq!(code, 201, "{body}");
    }
    // (Each add may also write `similar` links: count ops, not adds.)
    let acknowledged = a.ops();

    let filler = fill(&disk.path);
    std::thread::sleep(Duration::from_millis(300)); // past the free-space cache
    for i in 0..5 {
        let (code, body) = add(&a, &format!("while full {i}"));
        assert_eq!(
            (code, body["kind"].as_str()),
            (507, Some("disk_full")),
            "{body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("min_free_disk_bytes")
        );
    }
    assert_eq!(a.ops(), acknowledged, "reads go on; nothing half-written");

    // Space returns: writes resume without a restart.
    std::fs::remove_file(&filler).unwrap();
    let resumed = wait_for(Duration::from_secs(10), || {
        let (code, _) = add(&a, "after the disk was freed");
        (code == 201).then_some(())
    });
    assert!(resumed.is_some(), "writes never resumed:\n{}", a.log());
    assert!(a.ops() > acknowledged);
    let acknowledged = a.ops();

    // A stop on a full disk still ends, within a bounded time.
    let filler = fill(&disk.path);
    let started = Instant::now();
    a.stop();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped after {:?}",
        started.elapsed()
    );
    std::fs::remove_file(&filler).unwrap();
    a.launch();
    assert_eq!(a.ops(), acknowledged, "every acknowledged write is there");
    let (code, body) = add(&a, "after the restart");
    assert_eq!(code, 201, "{body}");
    a.stop();
}
