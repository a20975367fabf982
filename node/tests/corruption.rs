//! A damaged store is never silently started on: one flipped byte in the store's largest file
//! (fjall's journal, or the table holding the op log) gives a clear refusal naming the recovery path, or a start with everything intact; `knack repair`
//! then lets the node start empty and re-sync from a peer, without forking itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TestNode, wait_converged};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The file under `dir` with the most bytes written, and how many (allocated blocks, not the
/// apparent length: fjall preallocates its journal as a sparse file).
fn largest_file(dir: &Path) -> (std::path::PathBuf, usize) {
    use std::os::unix::fs::MetadataExt;
    let mut best = (dir.to_path_buf(), 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let found = if path.is_dir() {
            largest_file(&path)
        } else {
            let meta = std::fs::metadata(&path).unwrap();
            let written = (meta.blocks() * 512).min(meta.len()) as usize;
            (path, written)
        };
        if found.1 > best.1 {
            best = found;
        }
    }
    best
}

/// Starts `knack run` on `dir`: its status once it serves (then it is stopped), or its
/// stderr if it exits first.
fn start_or_refusal(dir: &Path) -> Result<serde_json::Value, String> {
    let stderr_path = dir.join("run.stderr");
    let mut child = std::process::Command::new(common::knack_bin())
        .args(["--dir", dir.to_str().unwrap(), "run"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Err(std::fs::read_to_string(&stderr_path).unwrap());
        }
        if let Ok(addr) = std::fs::read_to_string(dir.join("api.addr"))
            && !addr.trim().is_empty()
        {
            let token = std::fs::read_to_string(dir.join("api.token")).unwrap();
            let status: serde_json::Value = ureq::get(&format!("http://{}/v1/status", addr.trim()))
                .header("Authorization", &format!("Bearer {}", token.trim()))
                .call()
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            return Ok(status);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "neither started nor refused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_flipped_byte_in_the_store_is_refused_or_recovered_never_silently_emptied() {
    let mut a = TestNode::init("a", &[]);
    a.set_config("kademlia", "false");
    a.launch();
    for i in 0..8 {
        let id = a.add(&format!("procedure number {i}"), &[]);
        a.outcome(&id, i % 2 == 0);
    }
    let ops = a.ops();
    let digest = a.digest();
    a.stop();
    let (db_file, len) = largest_file(&a.dir.join("db"));
    let relative = db_file.strip_prefix(&a.dir).unwrap().to_path_buf();
    eprintln!(
        "flipping bytes in {} ({len} bytes written)",
        relative.display()
    );

    // One flipped byte at several places, each in a fresh copy of the data directory.
    let mut refusals = 0;
    let mut refused_copy = None;
    for tenth in 1..10 {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(&a.dir, copy.path());
        let file = copy.path().join(&relative);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[len * tenth / 10] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();
        match start_or_refusal(copy.path()) {
            // Either a clear refusal ...
            Err(stderr) => {
                assert!(
                    stderr.contains("damaged") && stderr.contains("knack repair"),
                    "byte at {tenth}/10: {stderr}"
                );
                refusals += 1;
                refused_copy.get_or_insert(copy);
            }
            // ... or a start with everything there.
            Ok(status) => {
                let space = &status["spaces"][0];
                assert_eq!(
                    (space["ops"].as_u64(), space["digest"].as_str()),
                    (Some(ops), Some(digest.as_str())),
                    "byte at {tenth}/10: started with other data"
                );
            }
        }
    }
    eprintln!("{refusals} of 9 flipped bytes refused, the others recovered intact");

    // Recovery: a peer holds the ops; the damaged node is repaired and re-syncs.
    a.launch();
    let mut b = TestNode::init("b", &[&a.multiaddr()].map(|s| s.to_owned()));
    b.set_config("kademlia", "false");
    b.launch();
    wait_converged(&[&a, &b], ops, WAIT);
    a.stop();
    // The disk damages the store as it damaged the first refused copy.
    let refused = refused_copy.expect("no flipped byte was refused: nothing to repair");
    std::fs::remove_dir_all(a.dir.join("db")).unwrap();
    copy_dir(&refused.path().join("db"), &a.dir.join("db"));
    let stderr = common::run_refused(&a.dir);
    assert!(stderr.contains("knack repair"), "{stderr}");
    let (ok, out, err) = a.cli(&["repair"]);
    assert!(ok, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("db.damaged-"));
    a.bootstrap_to(b.multiaddr());
    a.launch();
    wait_converged(&[&a, &b], ops, WAIT);
    assert_eq!(a.digest(), digest);
    let id = a.add("written after the repair", &[]);
    a.outcome(&id, true);
    let total = a.ops();
    wait_converged(&[&a, &b], total, WAIT);
    assert_eq!(b.status()["spaces"][0]["forked_authors"], json!([]));
}
