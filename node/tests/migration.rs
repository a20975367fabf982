//! A data directory written before knack moved to fjall holds a sled store: the node moves it to fjall at start,
//! with every op, the snapshot and the digest kept, the sled store set aside (not deleted), and
//! a copy interrupted by a crash started again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod common;

use std::path::Path;

use common::TestNode;
use knack_node::store::{FjallStore, SledStore, Store};

/// Rewrites the fjall store of `dir` as a sled store (what a node before the move to fjall left behind).
fn turn_into_sled(dir: &Path) {
    let db = dir.join(knack_node::dirs::DB_DIR);
    let sled_dir = dir.join("db-sled");
    let mut envelopes = 0;
    {
        let fjall = FjallStore::open(&db).unwrap();
        let sled = SledStore::open(&sled_dir).unwrap();
        for space in fjall.spaces().unwrap() {
            for (key, bytes) in fjall.scan_envelopes(&space).unwrap() {
                sled.append_envelope(&key, &bytes).unwrap();
                envelopes += 1;
            }
            if let Some(snapshot) = fjall.snapshot(&space).unwrap() {
                sled.put_snapshot(&space, &snapshot).unwrap();
            }
        }
        for key in [knack_node::peer_book::META_KEY] {
            if let Some(value) = fjall.meta(key).unwrap() {
                sled.put_meta(key, &value).unwrap();
            }
        }
        sled.flush().unwrap();
    }
    assert!(envelopes > 0, "nothing to migrate");
    std::fs::remove_dir_all(&db).unwrap();
    std::fs::rename(&sled_dir, &db).unwrap();
    assert!(knack_node::store::migrate::is_sled(&db));
}

fn set_aside(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("db."))
        .collect()
}

#[test]
fn a_sled_store_is_migrated_at_start_with_every_op_and_set_aside() {
    let mut a = TestNode::init("a", &[]);
    a.set_config("kademlia", "false");
    a.launch();
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = a.add(&format!("procedure number {i}"), &["migrate"]);
        for j in 0..3 {
            a.outcome(&id, (i + j) % 3 != 0);
        }
        ids.push(id);
    }
    let (ops, digest) = (a.ops(), a.digest());
    let shown = a.show(&ids[7]);
    a.stop();

    turn_into_sled(&a.dir);
    // A copy a crash interrupted: discarded and done again.
    std::fs::create_dir_all(a.dir.join("db.migrating/keyspaces")).unwrap();
    std::fs::write(a.dir.join("db.migrating/junk"), b"half a copy").unwrap();

    a.launch();
    assert_eq!((a.ops(), a.digest()), (ops, digest.clone()));
    assert_eq!(a.show(&ids[7])["successes"], shown["successes"]);
    assert!(a.log().contains("store migrated to fjall"), "{}", a.log());
    let aside = set_aside(&a.dir);
    assert!(
        aside.len() == 1 && aside[0].starts_with("db.sled-"),
        "{aside:?}"
    );
    assert!(!knack_node::store::migrate::is_sled(
        &a.dir.join(knack_node::dirs::DB_DIR)
    ));

    // The migrated store takes writes and keeps them across a restart; no second migration.
    a.outcome(&ids[0], true);
    let after = a.ops();
    assert_eq!(after, ops + 1);
    a.stop();
    a.launch();
    assert_eq!(a.ops(), after);
    assert_eq!(set_aside(&a.dir).len(), 1);
    a.stop();
}

#[test]
fn a_finished_copy_whose_swap_was_interrupted_is_swapped_in_at_the_next_start() {
    let mut a = TestNode::init("a", &[]);
    a.set_config("kademlia", "false");
    a.launch();
    let id = a.add("a procedure", &[]);
    a.outcome(&id, true);
    let (ops, digest) = (a.ops(), a.digest());
    a.stop();

    // The state a crash between the copy's marker and the rename leaves: the fjall copy in
    // db.migrating with its marker, the sled store already moved aside.
    std::fs::rename(a.dir.join("db"), a.dir.join("db.migrating")).unwrap();
    std::fs::write(a.dir.join("db.migrating.done"), b"").unwrap();

    a.launch();
    assert_eq!((a.ops(), a.digest()), (ops, digest));
    assert!(!a.dir.join("db.migrating.done").exists());
    assert!(!a.dir.join("db.migrating").exists());
    a.stop();
}
