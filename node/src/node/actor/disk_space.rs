//! Writing only while the disk has room: below `min_free_disk_bytes` free on the data
//! directory's filesystem, the node refuses writes (507 `disk_full`), takes no ops from peers
//! (anti-entropy delivers them later) and skips periodic snapshots, *before* the store fails.
//!
//! Why before: sled does not come back from a failed write (`ENOSPC`): every later write and
//! flush fails until the process restarts, and memory may be ahead of the log by then. Refusing
//! at a reserve keeps sled out of that state, so once space returns writes simply resume. (A
//! disk filled faster than the reserve still ends in that state; the node then refuses writes
//! until restarted, and its log is intact.)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Actor;
use crate::error::NodeError;

/// How long a measurement of free space is trusted.
const RECHECK: Duration = Duration::from_millis(250);

/// The free-space guard's state.
#[derive(Debug)]
pub(crate) struct DiskGuard {
    dir: PathBuf,
    checked: Option<(Instant, u64)>,
    /// Whether the last check was below the reserve (to log the change once).
    low: bool,
}

impl DiskGuard {
    /// A guard over the filesystem holding `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        DiskGuard {
            dir,
            checked: None,
            low: false,
        }
    }
}

impl Actor {
    /// Bytes free on the data directory's filesystem (measured at most every 250 ms; `None`
    /// if it cannot be measured, which never blocks writes).
    fn free_disk_bytes(&mut self) -> Option<u64> {
        if let Some((at, free)) = self.disk.checked
            && at.elapsed() < RECHECK
        {
            return Some(free);
        }
        let free = fs2::available_space(&self.disk.dir).ok()?;
        self.disk.checked = Some((Instant::now(), free));
        Some(free)
    }

    /// Fails when the disk is below the reserve (`min_free_disk_bytes`).
    pub(super) fn check_disk(&mut self) -> Result<(), NodeError> {
        let reserve = self.config.min_free_disk_bytes;
        let Some(available) = self.free_disk_bytes() else {
            return Ok(());
        };
        let low = available < reserve;
        if low != self.disk.low {
            self.disk.low = low;
            if low {
                tracing::error!(
                    available,
                    reserve,
                    "disk almost full: writes refused until space returns"
                );
            } else {
                tracing::info!(available, "disk space back: writes resume");
            }
        }
        if low {
            return Err(NodeError::DiskFull {
                path: self.disk.dir.display().to_string(),
                available,
                reserve,
            });
        }
        Ok(())
    }
}
