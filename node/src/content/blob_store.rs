//! [`BlobStore`]: bodies as files named by their blake3 hash, each with its bao outboard.
//!
//! Layout under the store's directory: `ab/abcd...` (the content) and `ab/abcd....obao` (its
//! outboard, which `/knack/blob/1` needs to prove chunks), `partial/<hash>` for downloads in
//! progress (only verified bytes, in order, so a download resumes from the file's length), and
//! `tmp/` for uploads being written. A blob is complete when its content file exists: the
//! outboard is renamed into place first, both are synced before their renames, and the
//! directory after.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use knack_crdt::ContentHash;

use super::ContentError;

/// Suffix of outboard files.
const OUTBOARD_SUFFIX: &str = "obao";
/// Folder of downloads in progress.
const PARTIAL_DIR: &str = "partial";
/// Folder of uploads being written.
const TMP_DIR: &str = "tmp";
/// Folder of blobs found corrupt (kept for inspection, never served).
const QUARANTINE_DIR: &str = "quarantine";

/// A directory of blobs. Cheap to share (`Arc`); every method is blocking file IO, so async
/// callers run it in `spawn_blocking`, except for the small metadata calls.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    next_tmp: AtomicU64,
}

/// One stored blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its hash.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last stored or read.
    pub last_used: SystemTime,
}

/// A download in progress: the verified prefix of a blob.
#[derive(Debug)]
pub struct PartialBlob {
    path: PathBuf,
    file: File,
    len: u64,
}

impl PartialBlob {
    /// How many verified bytes it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends verified bytes that start at `offset` (which must be the current length).
    pub fn append(&mut self, offset: u64, data: &[u8]) -> Result<(), ContentError> {
        if offset != self.len {
            return Err(ContentError::io(
                &self.path,
                std::io::Error::other(format!("append at {offset}, the blob has {}", self.len)),
            ));
        }
        self.file
            .write_all(data)
            .map_err(|e| ContentError::io(&self.path, e))?;
        self.len += data.len() as u64;
        Ok(())
    }
}

impl BlobStore {
    /// Opens (creating) the store in `dir`, clearing unfinished uploads.
    pub fn open(dir: &Path) -> Result<Self, ContentError> {
        for sub in [PARTIAL_DIR, TMP_DIR] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(|e| ContentError::io(&path, e))?;
        }
        let tmp = dir.join(TMP_DIR);
        for entry in fs::read_dir(&tmp).map_err(|e| ContentError::io(&tmp, e))? {
            let path = entry.map_err(|e| ContentError::io(&tmp, e))?.path();
            let _ = fs::remove_file(path);
        }
        Ok(BlobStore {
            dir: dir.to_path_buf(),
            next_tmp: AtomicU64::new(0),
        })
    }

    /// The file holding the blob `hash` (which may not exist).
    pub fn content_path(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    fn outboard_path(&self, hash: &ContentHash) -> PathBuf {
        self.content_path(hash).with_extension(OUTBOARD_SUFFIX)
    }

    /// The size of the blob `hash`, if it is held complete.
    pub fn size_of(&self, hash: &ContentHash) -> Option<u64> {
        let meta = fs::metadata(self.content_path(hash)).ok()?;
        fs::metadata(self.outboard_path(hash)).ok()?;
        Some(meta.len())
    }

    /// A new file for an upload, in the store's `tmp/` (same filesystem, so it can be renamed
    /// into place by [`BlobStore::import`]).
    pub fn temp_file(&self) -> Result<(PathBuf, File), ContentError> {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join(TMP_DIR)
            .join(format!("{}-{n}", std::process::id()));
        let file = File::create(&path).map_err(|e| ContentError::io(&path, e))?;
        Ok((path, file))
    }

    /// Takes a complete file (written with [`BlobStore::temp_file`]) into the store: hashes
    /// it while writing its outboard, syncs both, renames them into place. Returns its hash
    /// and size; refuses it (deleting it) if `expected` is given and differs.
    pub fn import(
        &self,
        tmp: &Path,
        expected: Option<&ContentHash>,
    ) -> Result<(ContentHash, u64), ContentError> {
        let result = self.import_inner(tmp, expected);
        let _ = fs::remove_file(tmp);
        result
    }

    fn import_inner(
        &self,
        tmp: &Path,
        expected: Option<&ContentHash>,
    ) -> Result<(ContentHash, u64), ContentError> {
        let io = |e| ContentError::io(tmp, e);
        let content = File::open(tmp).map_err(io)?;
        content.sync_all().map_err(io)?;
        let size = content.metadata().map_err(io)?.len();
        let ob_tmp = tmp.with_extension(OUTBOARD_SUFFIX);
        let mut outboard = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&ob_tmp)
            .map_err(|e| ContentError::io(&ob_tmp, e))?;
        let hashed = knack_protocol::blob::write_outboard(BufReader::new(content), &mut outboard)
            .and_then(|hash| outboard.sync_all().map(|()| hash));
        let hash = match hashed {
            Ok(hash) => hash,
            Err(e) => {
                let _ = fs::remove_file(&ob_tmp);
                return Err(ContentError::io(tmp, e));
            }
        };
        if let Some(expected) = expected
            && *expected != hash
        {
            let _ = fs::remove_file(&ob_tmp);
            return Err(ContentError::Mismatch {
                expected: *expected,
                actual: hash,
                size,
            });
        }
        if self.size_of(&hash).is_some() {
            let _ = fs::remove_file(&ob_tmp);
            return Ok((hash, size));
        }
        let target = self.content_path(&hash);
        let parent = target.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| ContentError::io(&parent, e))?;
        let ob_target = self.outboard_path(&hash);
        fs::rename(&ob_tmp, &ob_target).map_err(|e| ContentError::io(&ob_target, e))?;
        fs::rename(tmp, &target).map_err(|e| ContentError::io(&target, e))?;
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| ContentError::io(&parent, e))?;
        Ok((hash, size))
    }

    /// Stores `bytes` (durably) and returns their hash.
    pub fn put(&self, bytes: &[u8]) -> Result<ContentHash, ContentError> {
        let (path, mut file) = self.temp_file()?;
        file.write_all(bytes)
            .map_err(|e| ContentError::io(&path, e))?;
        drop(file);
        Ok(self.import(&path, None)?.0)
    }

    /// The whole blob `hash` in memory (for small blobs), if held; checked against its hash
    /// (a mismatch is [`ContentError::Mismatch`]: see [`BlobStore::quarantine`]).
    pub fn read(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>, ContentError> {
        let path = self.content_path(hash);
        match fs::read(&path) {
            Ok(bytes) => {
                let actual = ContentHash::of(&bytes);
                if actual != *hash {
                    return Err(ContentError::Mismatch {
                        expected: *hash,
                        actual,
                        size: bytes.len() as u64,
                    });
                }
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ContentError::io(&path, e)),
        }
    }

    /// The blob and its outboard, opened for serving chunks, with its size; marks it used.
    pub fn open_for_serving(
        &self,
        hash: &ContentHash,
    ) -> Result<Option<(File, File, u64)>, ContentError> {
        let path = self.content_path(hash);
        let content = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ContentError::io(&path, e)),
        };
        let ob_path = self.outboard_path(hash);
        let outboard = match File::open(&ob_path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ContentError::io(&ob_path, e)),
        };
        let size = content
            .metadata()
            .map_err(|e| ContentError::io(&path, e))?
            .len();
        self.touch(hash);
        Ok(Some((content, outboard, size)))
    }

    /// Marks the blob as used now (for eviction's least-recently-used order).
    pub fn touch(&self, hash: &ContentHash) {
        let path = self.content_path(hash);
        if let Ok(file) = OpenOptions::new().append(true).open(path) {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    /// The download in progress of `hash` (created empty if there is none); its verified
    /// prefix is kept across restarts.
    pub fn partial(&self, hash: &ContentHash) -> Result<PartialBlob, ContentError> {
        let path = self.dir.join(PARTIAL_DIR).join(hash.to_hex());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| ContentError::io(&path, e))?;
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| ContentError::io(&path, e))?;
        Ok(PartialBlob { path, file, len })
    }

    /// Makes the finished download `partial` of `hash` a stored blob. Every chunk was verified
    /// on arrival; the whole file is hashed again here, so bytes a crash corrupted in the
    /// partial file are caught (and the download discarded).
    pub fn finish(&self, partial: PartialBlob, hash: &ContentHash) -> Result<u64, ContentError> {
        let PartialBlob { path, file, .. } = partial;
        drop(file);
        Ok(self.import(&path, Some(hash))?.1)
    }

    /// Hashes the stored blob `hash` whole: `Ok(())` if its bytes are what the name says,
    /// [`ContentError::Mismatch`] if not (a flipped bit on disk, a truncated or overwritten
    /// file), [`ContentError::Unavailable`] if it is not held.
    pub fn verify(&self, hash: &ContentHash) -> Result<(), ContentError> {
        let path = self.content_path(hash);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContentError::Unavailable {
                    hash: *hash,
                    reason: "not in this node's blob store".into(),
                });
            }
            Err(e) => return Err(ContentError::io(&path, e)),
        };
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(BufReader::with_capacity(1 << 16, file))
            .map_err(|e| ContentError::io(&path, e))?;
        let actual = ContentHash(*hasher.finalize().as_bytes());
        if actual == *hash {
            return Ok(());
        }
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Err(ContentError::Mismatch {
            expected: *hash,
            actual,
            size,
        })
    }

    /// Moves a blob found corrupt out of the store into `quarantine/` (kept for inspection,
    /// never served; the next read fetches the body again from peers or IPFS).
    pub fn quarantine(&self, hash: &ContentHash) -> Result<(), ContentError> {
        let dir = self.dir.join(QUARANTINE_DIR);
        fs::create_dir_all(&dir).map_err(|e| ContentError::io(&dir, e))?;
        let hex = hash.to_hex();
        for (from, name) in [
            (self.content_path(hash), hex.clone()),
            (self.outboard_path(hash), format!("{hex}.{OUTBOARD_SUFFIX}")),
        ] {
            match fs::rename(&from, dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ContentError::io(&from, e)),
            }
        }
        Ok(())
    }

    /// Removes the blob `hash`.
    pub fn remove(&self, hash: &ContentHash) -> Result<(), ContentError> {
        for path in [self.content_path(hash), self.outboard_path(hash)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ContentError::io(&path, e)),
            }
        }
        Ok(())
    }

    /// Every complete blob.
    pub fn list(&self) -> Result<Vec<BlobInfo>, ContentError> {
        let mut out = Vec::new();
        let top = fs::read_dir(&self.dir).map_err(|e| ContentError::io(&self.dir, e))?;
        for shard in top.flatten() {
            let name = shard.file_name();
            if name.len() != 2 || !shard.path().is_dir() {
                continue;
            }
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.flatten() {
                let Some(hash) = file
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<ContentHash>().ok())
                else {
                    continue;
                };
                let Ok(meta) = file.metadata() else { continue };
                out.push(BlobInfo {
                    hash,
                    size: meta.len(),
                    last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        out.sort_by_key(|b| b.hash);
        Ok(out)
    }

    /// Bytes the complete blobs take with their outboards.
    pub fn bytes_used(&self) -> u64 {
        self.list()
            .unwrap_or_default()
            .iter()
            .map(|b| b.size + knack_protocol::blob::outboard_size(b.size))
            .sum()
    }

    /// Refuses a new blob of `size` bytes that would take the store past `quota` bytes
    /// (0: no quota).
    pub fn check_quota(&self, quota: u64, size: u64) -> Result<(), ContentError> {
        if quota == 0 {
            return Ok(());
        }
        let used = self.bytes_used();
        let incoming = size + knack_protocol::blob::outboard_size(size);
        if used.saturating_add(incoming) > quota {
            return Err(ContentError::QuotaExceeded {
                used,
                incoming,
                quota,
            });
        }
        Ok(())
    }

    /// Removes blobs, least recently used first, until the store holds at most `budget`
    /// bytes; only blobs `evictable` admits are removed. Returns the hashes removed.
    pub fn evict_to(
        &self,
        budget: u64,
        evictable: impl Fn(&ContentHash) -> bool,
    ) -> Result<Vec<ContentHash>, ContentError> {
        let mut blobs = self.list()?;
        let mut total: u64 = blobs
            .iter()
            .map(|b| b.size + knack_protocol::blob::outboard_size(b.size))
            .sum();
        blobs.sort_by_key(|b| b.last_used);
        let mut removed = Vec::new();
        for blob in blobs {
            if total <= budget {
                break;
            }
            if evictable(&blob.hash) {
                self.remove(&blob.hash)?;
                total -= blob.size + knack_protocol::blob::outboard_size(blob.size);
                removed.push(blob.hash);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn put_then_read_and_serve() {
        let (_dir, store) = store();
        let data = vec![7u8; 300_000];
        let hash = store.put(&data).unwrap();
        assert_eq!(hash, ContentHash::of(&data));
        assert_eq!(store.size_of(&hash), Some(300_000));
        assert_eq!(store.read(&hash).unwrap().unwrap(), data);
        let (c, o, size) = store.open_for_serving(&hash).unwrap().unwrap();
        let req = knack_protocol::BlobRequest {
            hash,
            offset: 262_144,
            max_len: 262_144,
        };
        let resp = knack_protocol::blob::extract_chunk(c, o, size, &req).unwrap();
        let knack_protocol::BlobResponse::Chunk { offset, slice, .. } = resp else {
            panic!("not a chunk")
        };
        let chunk = knack_protocol::blob::verify_chunk(&req, size, offset, &slice).unwrap();
        assert_eq!(chunk, data[262_144..]);
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn a_partial_download_resumes_and_is_checked_at_the_end() {
        let (dir, store) = store();
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let hash = ContentHash::of(&data);
        let mut p = store.partial(&hash).unwrap();
        p.append(0, &data[..40_000]).unwrap();
        assert!(p.append(0, &data[..10]).is_err(), "out of order");
        drop(p);
        let reopened = BlobStore::open(dir.path()).unwrap();
        let mut p = reopened.partial(&hash).unwrap();
        assert_eq!(p.len(), 40_000);
        p.append(40_000, &data[40_000..]).unwrap();
        assert_eq!(reopened.finish(p, &hash).unwrap(), 100_000);
        assert_eq!(reopened.read(&hash).unwrap().unwrap(), data);

        let wrong = ContentHash::of(b"something else");
        let mut p = reopened.partial(&wrong).unwrap();
        p.append(0, b"not it").unwrap();
        assert!(matches!(
            reopened.finish(p, &wrong),
            Err(ContentError::Mismatch { .. })
        ));
        assert_eq!(reopened.size_of(&wrong), None);
        assert_eq!(reopened.partial(&wrong).unwrap().len(), 0, "discarded");
    }

    #[test]
    fn eviction_keeps_what_it_must_and_goes_oldest_first() {
        let (_dir, store) = store();
        let a = store.put(&[1u8; 50_000]).unwrap();
        let b = store.put(&[2u8; 50_000]).unwrap();
        let c = store.put(&[3u8; 50_000]).unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(100);
        for (h, age) in [(a, 3), (b, 2), (c, 1)] {
            let f = OpenOptions::new()
                .append(true)
                .open(store.content_path(&h))
                .unwrap();
            f.set_modified(old - std::time::Duration::from_secs(age))
                .unwrap();
        }
        // Room for two blobs; `a` is the oldest but must be kept.
        let removed = store.evict_to(120_000, |h| *h != a).unwrap();
        assert_eq!(removed, vec![b]);
        assert!(store.size_of(&a).is_some() && store.size_of(&c).is_some());
    }
}
