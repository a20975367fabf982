//! [`VerifiedFile`]: writes fetched content to a temporary file while checking it, and moves it
//! into place only when its size and blake3 match what was expected.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;

use crate::error::IpfsError;

/// Distinguishes the temporary files of concurrent fetches within one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Content being received into `dest`, checked on the fly.
///
/// Bytes go to a temporary file beside `dest` (same directory, so the final rename is atomic).
/// [`write`](Self::write) refuses to go past the expected size; [`finish`](Self::finish) checks
/// size and hash, flushes the file to disk and renames it to `dest`. Dropping a `VerifiedFile`
/// that did not finish (an error, a timeout, a cancelled task) deletes the temporary file, so a
/// failed fetch leaves nothing behind.
#[derive(Debug)]
pub struct VerifiedFile {
    cid: String,
    expected_blake3: [u8; 32],
    expected_size: u64,
    dest: PathBuf,
    temp: TempPath,
    file: tokio::fs::File,
    hasher: blake3::Hasher,
    written: u64,
}

/// A temporary file path deleted on drop unless disarmed.
#[derive(Debug)]
struct TempPath {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the file may not exist any more, and Drop cannot report errors.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl VerifiedFile {
    /// Creates the temporary file for content `cid` that must end up in `dest` with
    /// `expected_size` bytes hashing to `expected_blake3`.
    pub async fn create(
        cid: &str,
        expected_blake3: [u8; 32],
        expected_size: u64,
        dest: &Path,
    ) -> Result<Self, IpfsError> {
        let name = dest
            .file_name()
            .ok_or_else(|| {
                IpfsError::io(
                    "destination has no file name:",
                    dest,
                    std::io::ErrorKind::InvalidInput.into(),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let path = dest.with_file_name(format!(".{name}.{}.{n}.part", std::process::id()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| IpfsError::io("cannot create", &path, e))?;
        Ok(VerifiedFile {
            cid: cid.to_owned(),
            expected_blake3,
            expected_size,
            dest: dest.to_owned(),
            temp: TempPath { path, armed: true },
            file,
            hasher: blake3::Hasher::new(),
            written: 0,
        })
    }

    /// Appends `chunk`, refusing it with [`IpfsError::TooLarge`] when it would take the content
    /// past the expected size.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), IpfsError> {
        let len = chunk.len() as u64;
        if self.written.saturating_add(len) > self.expected_size {
            return Err(IpfsError::TooLarge {
                cid: self.cid.clone(),
                max: self.expected_size,
            });
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| IpfsError::io("cannot write", &self.temp.path, e))?;
        self.written += len;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks size and hash; on a match flushes the file to disk and renames it to the
    /// destination, on a mismatch deletes it and returns [`IpfsError::Mismatch`].
    pub async fn finish(mut self) -> Result<(), IpfsError> {
        let actual = self.hasher.finalize();
        if self.written != self.expected_size || *actual.as_bytes() != self.expected_blake3 {
            return Err(IpfsError::Mismatch {
                cid: self.cid.clone(),
                expected_size: self.expected_size,
                actual_size: self.written,
                expected_blake3: blake3::Hash::from_bytes(self.expected_blake3)
                    .to_hex()
                    .to_string(),
                actual_blake3: actual.to_hex().to_string(),
            });
        }
        self.file
            .sync_all()
            .await
            .map_err(|e| IpfsError::io("cannot flush", &self.temp.path, e))?;
        tokio::fs::rename(&self.temp.path, &self.dest)
            .await
            .map_err(|e| IpfsError::io("cannot move fetched content to", &self.dest, e))?;
        self.temp.armed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[tokio::test]
    async fn writes_matching_content() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("body");
        let data = b"hello world".repeat(1000);
        let hash = *blake3::hash(&data).as_bytes();
        let mut f = VerifiedFile::create("c", hash, data.len() as u64, &dest)
            .await
            .unwrap();
        for chunk in data.chunks(777) {
            f.write(chunk).await.unwrap();
        }
        f.finish().await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(leftovers(dir.path()), vec!["body".to_owned()]);
    }

    #[tokio::test]
    async fn mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("body");
        let mut f = VerifiedFile::create("c", [7; 32], 5, &dest).await.unwrap();
        f.write(b"hello").await.unwrap();
        let err = f.finish().await.unwrap_err();
        assert!(
            matches!(err, IpfsError::Mismatch { actual_size: 5, .. }),
            "{err}"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn short_content_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("body");
        let hash = *blake3::hash(b"hello").as_bytes();
        let mut f = VerifiedFile::create("c", hash, 5, &dest).await.unwrap();
        f.write(b"hell").await.unwrap();
        let err = f.finish().await.unwrap_err();
        assert!(
            matches!(
                err,
                IpfsError::Mismatch {
                    expected_size: 5,
                    actual_size: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn too_large_is_refused_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("body");
        let hash = *blake3::hash(b"hello").as_bytes();
        let mut f = VerifiedFile::create("c", hash, 5, &dest).await.unwrap();
        f.write(b"hel").await.unwrap();
        let err = f.write(b"lo!").await.unwrap_err();
        assert!(matches!(err, IpfsError::TooLarge { max: 5, .. }), "{err}");
        assert_eq!(f.written(), 3);
        drop(f);
        assert!(leftovers(dir.path()).is_empty());
    }
}
