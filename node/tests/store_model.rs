//! The disk stores (fjall, the product's; sled, kept to migrate old stores) checked against the
//! in-memory model: random operations with reboots (the database closed and reopened), every
//! observation compared.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use knack_crdt::{AgentId, ContentHash, SpaceName};
use knack_node::store::{EnvelopeKey, FjallStore, MemoryStore, SledStore, Store};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append {
        space: usize,
        author: u8,
        first: u64,
        len: u64,
        byte: u8,
    },
    Snapshot {
        space: usize,
        byte: u8,
    },
    PinJob {
        byte: u8,
    },
    PinDone {
        byte: u8,
    },
    Meta {
        key: u8,
        byte: u8,
    },
    /// A checkpoint run from `first` restates the author's earlier ops.
    RemoveBelow {
        space: usize,
        author: u8,
        first: u64,
    },
    /// A removed member's ops after its cutoff go.
    RemoveAfter {
        space: usize,
        author: u8,
        after: u64,
    },
    Flush,
    Reboot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..3u8, 1..40u64, 1..4u64, any::<u8>())
            .prop_map(|(space, author, first, len, byte)| Op::Append { space, author, first, len, byte }),
        1 => (0..3usize, any::<u8>()).prop_map(|(space, byte)| Op::Snapshot { space, byte }),
        1 => any::<u8>().prop_map(|byte| Op::PinJob { byte }),
        1 => any::<u8>().prop_map(|byte| Op::PinDone { byte }),
        1 => (0..4u8, any::<u8>()).prop_map(|(key, byte)| Op::Meta { key, byte }),
        1 => (0..3usize, 0..3u8, 0..45u64)
            .prop_map(|(space, author, first)| Op::RemoveBelow { space, author, first }),
        1 => (0..3usize, 0..3u8, 0..45u64)
            .prop_map(|(space, author, after)| Op::RemoveAfter { space, author, after }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reboot),
    ]
}

fn space(i: usize) -> SpaceName {
    // "a" is a prefix of "ab": the key layout must keep their entries apart.
    SpaceName::new(["a", "ab", "team-b"][i]).unwrap()
}

fn observe(store: &dyn Store) -> Vec<String> {
    let mut out = vec![format!("spaces {:?}", store.spaces().unwrap())];
    for i in 0..3 {
        let s = space(i);
        out.push(format!("scan {:?}", store.scan_envelopes(&s).unwrap()));
        out.push(format!("heads {:?}", store.heads(&s).unwrap()));
        // sled seeks from author to author; the model derives them from the heads.
        out.push(format!("authors {:?}", store.authors(&s).unwrap()));
        out.push(format!("snapshot {:?}", store.snapshot(&s).unwrap()));
        for author in 0..3u8 {
            for after in [0, 5, 20] {
                for budget in [0, 10, 1 << 20] {
                    let got = store
                        .envelopes_after(&s, &AgentId([author; 32]), after, budget)
                        .unwrap();
                    out.push(format!("after {i} {author} {after} {budget} {got:?}"));
                }
            }
        }
    }
    for (hash, job) in store.pin_jobs().unwrap() {
        out.push(format!("pin job {hash} {job:?}"));
    }
    for key in 0..4u8 {
        out.push(format!(
            "meta {key} {:?}",
            store.meta(&key.to_string()).unwrap()
        ));
    }
    out
}

/// Opens the sled store again after a drop. sled releases its file lock only when its
/// background flusher thread lets go of the database (it wakes every 500 ms), so on a loaded
/// machine the lock can still be held for a moment: retry while it is, for up to 10 s.
fn reopen_sled(dir: &std::path::Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(dir) {
            Ok(store) => return store,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopening the sled store: {e}"),
        }
    }
}

/// Runs `ops` on the model and on the disk store `open` opens (again at each reboot),
/// comparing every observation.
fn behaves_like_the_model<S: Store>(
    ops: Vec<Op>,
    open: impl Fn(&std::path::Path) -> S,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let model = MemoryStore::new();
    let mut disk = open(dir.path());
    for op in ops {
        let stores: [&dyn Store; 2] = [&model, &disk];
        match op {
            Op::Append {
                space: i,
                author,
                first,
                len,
                byte,
            } => {
                let key = EnvelopeKey {
                    space: space(i),
                    author: AgentId([author; 32]),
                    first_seq: first,
                    last_seq: first + len - 1,
                };
                let bytes = vec![byte; 3 + len as usize];
                for s in stores {
                    s.append_envelope(&key, &bytes).unwrap();
                }
            }
            Op::Snapshot { space: i, byte } => {
                for s in stores {
                    s.put_snapshot(&space(i), &[byte; 4]).unwrap();
                }
            }
            Op::PinJob { byte } => {
                for s in stores {
                    s.put_pin_job(&ContentHash::of(&[byte % 8]), &[byte, byte])
                        .unwrap();
                }
            }
            Op::PinDone { byte } => {
                for s in stores {
                    s.remove_pin_job(&ContentHash::of(&[byte % 8])).unwrap();
                }
            }
            Op::Meta { key, byte } => {
                for s in stores {
                    s.put_meta(&key.to_string(), &[byte]).unwrap();
                }
            }
            Op::RemoveBelow {
                space: i,
                author,
                first,
            } => {
                let removed: Vec<usize> = stores
                    .iter()
                    .map(|s| {
                        s.remove_envelopes_below(&space(i), &AgentId([author; 32]), first)
                            .unwrap()
                    })
                    .collect();
                prop_assert_eq!(removed[0], removed[1], "entries removed below");
            }
            Op::RemoveAfter {
                space: i,
                author,
                after,
            } => {
                let removed: Vec<usize> = stores
                    .iter()
                    .map(|s| {
                        s.remove_envelopes_after(&space(i), &AgentId([author; 32]), after)
                            .unwrap()
                    })
                    .collect();
                prop_assert_eq!(removed[0], removed[1], "entries removed after");
            }
            Op::Flush => {
                for s in stores {
                    s.flush().unwrap();
                }
            }
            Op::Reboot => {
                disk.flush().unwrap();
                drop(disk);
                disk = open(dir.path());
            }
        }
        prop_assert_eq!(observe(&model), observe(&disk));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn fjall_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        behaves_like_the_model(ops, |dir| FjallStore::open(dir).unwrap())?;
    }

    #[test]
    fn sled_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        behaves_like_the_model(ops, reopen_sled)?;
    }
}

/// Bytes the tables under `dir` take on disk (allocated blocks), journals left out: fjall
/// writes every entry to its active journal and drops a journal whole once it passes 64 MB and
/// its memtables are flushed, so a journal is a bounded overhead that deleting envelopes does
/// not change (ARCHITECTURE.md, "Storage engine").
fn table_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).unwrap();
    if meta.is_dir() {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| table_bytes(&e.unwrap().path()))
            .sum()
    } else if dir.extension().is_some_and(|e| e == "jnl") {
        0
    } else {
        meta.blocks() * 512
    }
}

#[test]
fn fjall_gives_back_the_space_of_deleted_envelopes_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = FjallStore::open(dir.path()).unwrap();
    let space = space(0);
    let author = AgentId([1; 32]);
    // 8 MiB of envelopes that do not compress, in 2,048 envelopes of 4 KiB.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for seq in 1..=2048u64 {
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let key = EnvelopeKey {
            space: space.clone(),
            author,
            first_seq: seq,
            last_seq: seq,
        };
        store.append_envelope(&key, &bytes).unwrap();
    }
    store.flush().unwrap();
    store.reclaim().unwrap();
    let full = table_bytes(dir.path());
    // A checkpoint run from 1,921 restates the first 1,920: they go.
    assert_eq!(
        store.remove_envelopes_below(&space, &author, 1921).unwrap(),
        1920
    );
    store.flush().unwrap();
    store.reclaim().unwrap();
    let after = table_bytes(dir.path());
    eprintln!("{full} bytes of tables with every envelope, {after} after deleting 15 of 16");
    assert!(
        after < full / 4,
        "{full} bytes before, {after} after: the deleted envelopes' space was not given back"
    );
    let left = store.scan_envelopes(&space).unwrap();
    assert_eq!(left.len(), 128);
    assert_eq!(left[0].0.first_seq, 1921);
}
