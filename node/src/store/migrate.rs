//! Opening the store of a data directory, moving a sled store (what knack wrote before it
//! moved to fjall) to fjall on the way.
//!
//! The migration copies every entry of every sled tree into the fjall keyspace of the same name
//! (both backends share the key layout of `keys.rs`) in a staging directory beside the store,
//! makes it durable, checks the entry counts, and only then swaps the directories: the sled
//! store is kept as `db.sled-<unix seconds>` for the user to delete. A crash at any point
//! leaves either the sled store in place (the staging directory is discarded and the copy
//! redone) or a finished copy and its marker (the swap is completed at the next start).

use std::path::{Path, PathBuf};

use super::fjall_store::KEYSPACES;
use super::{FjallStore, SledStore, Store, StoreError};

/// Whether `db` holds a sled database (sled writes a `conf` file beside its `db` file; fjall
/// writes neither).
pub fn is_sled(db: &Path) -> bool {
    db.join("conf").is_file() && db.join("db").is_file()
}

/// Opens the store in `db`, migrating it from sled first when it is a sled store.
pub fn open(db: &Path) -> Result<FjallStore, StoreError> {
    let staging = sibling(db, "migrating");
    let done = sibling(db, "migrating.done");
    if done.exists() && staging.exists() {
        swap(db, &staging, &done)?;
    } else if is_sled(db) {
        migrate(db, &staging, &done)?;
    }
    FjallStore::open(db)
}

/// `<db>.<suffix>` in the same directory.
fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    db.with_file_name(name)
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Write(format!("{}: {e}", path.display()))
}

/// Copies the sled store in `db` into a fjall store in `staging`, then swaps them.
fn migrate(db: &Path, staging: &Path, done: &Path) -> Result<(), StoreError> {
    if staging.exists() {
        // An earlier copy that did not finish: start it again.
        std::fs::remove_dir_all(staging).map_err(|e| io(staging, e))?;
    }
    tracing::info!(from = %db.display(), "migrating the store from sled to fjall");
    let started = std::time::Instant::now();
    let copied = {
        let sled = SledStore::open(db)?;
        let fjall = FjallStore::open(staging)?;
        let mut copied = 0u64;
        for name in KEYSPACES {
            let (from, to) = (sled.tree(name)?, fjall.keyspace(name));
            let to = to.ok_or_else(|| StoreError::Write(format!("no keyspace {name}")))?;
            let mut in_tree = 0u64;
            for entry in from.iter() {
                let (k, v) = entry?;
                to.insert(k.as_ref(), v.as_ref())?;
                in_tree += 1;
            }
            fjall.flush()?;
            let landed = to.iter().count() as u64;
            if landed != in_tree {
                return Err(StoreError::Write(format!(
                    "migrating {name}: {in_tree} entries in sled, {landed} in fjall"
                )));
            }
            copied += in_tree;
        }
        fjall.flush()?;
        copied
    };
    let marker = std::fs::File::create(done).map_err(|e| io(done, e))?;
    marker.sync_all().map_err(|e| io(done, e))?;
    swap(db, staging, done)?;
    tracing::info!(
        entries = copied,
        ms = started.elapsed().as_millis() as u64,
        "store migrated to fjall"
    );
    Ok(())
}

/// Moves the sled store aside and the finished copy into its place, then drops the marker.
fn swap(db: &Path, staging: &Path, done: &Path) -> Result<(), StoreError> {
    if db.exists() {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = sibling(db, &format!("sled-{secs}"));
        std::fs::rename(db, &aside).map_err(|e| io(db, e))?;
        tracing::info!(kept = %aside.display(), "the sled store is kept; delete it when done");
    }
    std::fs::rename(staging, db).map_err(|e| io(staging, e))?;
    std::fs::remove_file(done).map_err(|e| io(done, e))?;
    if let Some(parent) = db.parent() {
        // Make the renames durable.
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
