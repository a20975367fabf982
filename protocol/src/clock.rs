//! The hybrid logical clock that stamps an agent's ops.
//!
//! Kulkarni et al., "Logical Physical Clocks and Consistent Snapshots in Globally Distributed
//! Databases" (2014): a timestamp is `(wall_ms, logical)`; the clock never goes backwards, stays
//! close to wall time, and is never behind any timestamp it has observed. Two departures: the
//! wall time comes in as an argument (no system clock here), and when the 32-bit logical counter
//! would overflow the clock moves its wall part one millisecond ahead instead.

use knack_crdt::Hlc;

use crate::error::ProtocolError;

/// Default largest drift of a remote timestamp ahead of local wall time: one minute.
pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

/// A hybrid logical clock issuing [`Hlc`] timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HybridClock {
    last: Hlc,
    max_drift_ms: u64,
}

impl HybridClock {
    /// A clock that has issued nothing yet, with [`DEFAULT_MAX_DRIFT_MS`].
    pub const fn new() -> Self {
        Self::with_max_drift(DEFAULT_MAX_DRIFT_MS)
    }

    /// A clock that rejects remote timestamps more than `max_drift_ms` ahead of wall time.
    pub const fn with_max_drift(max_drift_ms: u64) -> Self {
        HybridClock {
            last: Hlc {
                wall_ms: 0,
                logical: 0,
            },
            max_drift_ms,
        }
    }

    /// A clock resuming after `last` (for example the newest timestamp in the local op log
    /// after a restart), so it never issues a timestamp twice.
    pub const fn resume(last: Hlc, max_drift_ms: u64) -> Self {
        HybridClock { last, max_drift_ms }
    }

    /// The last timestamp issued or observed.
    pub const fn last(&self) -> Hlc {
        self.last
    }

    /// The largest accepted drift of a remote timestamp, in milliseconds.
    pub const fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// A new timestamp, strictly greater than every one issued or observed before, even when
    /// `wall_ms` went backwards.
    pub fn now(&mut self, wall_ms: u64) -> Hlc {
        self.last = if wall_ms > self.last.wall_ms {
            Hlc::at(wall_ms)
        } else {
            tick(self.last.wall_ms, self.last.logical)
        };
        self.last
    }

    /// Takes a remote timestamp into account (on receiving a message) and returns a new local
    /// timestamp greater than both it and every earlier one.
    ///
    /// A remote timestamp more than `max_drift_ms` ahead of `wall_ms` is rejected with
    /// [`ProtocolError::ClockSkew`] and leaves the clock unchanged: one peer with a wrong clock
    /// must not drag every clock of the mesh into the future.
    pub fn observe(&mut self, remote: Hlc, wall_ms: u64) -> Result<Hlc, ProtocolError> {
        if remote.wall_ms > wall_ms.saturating_add(self.max_drift_ms) {
            return Err(ProtocolError::ClockSkew {
                remote_ms: remote.wall_ms,
                local_ms: wall_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        let wall = wall_ms.max(self.last.wall_ms).max(remote.wall_ms);
        let last = self.last;
        self.last = if wall == last.wall_ms && wall == remote.wall_ms {
            tick(wall, last.logical.max(remote.logical))
        } else if wall == last.wall_ms {
            tick(wall, last.logical)
        } else if wall == remote.wall_ms {
            tick(wall, remote.logical)
        } else {
            Hlc::at(wall)
        };
        Ok(self.last)
    }
}

impl Default for HybridClock {
    fn default() -> Self {
        Self::new()
    }
}

/// The timestamp right after `(wall_ms, logical)`: the next counter value, or the next
/// millisecond when the counter is exhausted.
fn tick(wall_ms: u64, logical: u32) -> Hlc {
    match logical.checked_add(1) {
        Some(logical) => Hlc { wall_ms, logical },
        None => Hlc::at(wall_ms.saturating_add(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_wall_time() {
        let mut c = HybridClock::new();
        assert_eq!(c.now(100), Hlc::at(100));
        assert_eq!(
            c.now(100),
            Hlc {
                wall_ms: 100,
                logical: 1
            }
        );
        assert_eq!(c.now(105), Hlc::at(105));
    }

    #[test]
    fn never_goes_backwards_when_the_wall_clock_does() {
        let mut c = HybridClock::new();
        let a = c.now(1_000);
        let b = c.now(900);
        let d = c.now(950);
        assert!(a < b && b < d);
        assert_eq!(
            d,
            Hlc {
                wall_ms: 1_000,
                logical: 2
            }
        );
        assert_eq!(c.now(1_001), Hlc::at(1_001));
    }

    #[test]
    fn logical_overflow_bumps_the_wall_part() {
        let mut c = HybridClock::resume(
            Hlc {
                wall_ms: 7,
                logical: u32::MAX,
            },
            DEFAULT_MAX_DRIFT_MS,
        );
        assert_eq!(c.now(7), Hlc::at(8));
        let mut c = HybridClock::new();
        let remote = Hlc {
            wall_ms: 50,
            logical: u32::MAX,
        };
        assert_eq!(c.observe(remote, 10).unwrap(), Hlc::at(51));
    }

    #[test]
    fn observe_moves_past_remote_timestamps() {
        let mut c = HybridClock::new();
        c.now(100);
        let remote = Hlc {
            wall_ms: 200,
            logical: 5,
        };
        assert_eq!(
            c.observe(remote, 150).unwrap(),
            Hlc {
                wall_ms: 200,
                logical: 6
            }
        );
        assert!(c.now(150) > remote);
        // A remote timestamp behind us only ticks the counter.
        let before = c.last();
        let after = c.observe(Hlc::at(10), 150).unwrap();
        assert!(after > before);
        // Equal wall parts: past the larger counter.
        let mut c = HybridClock::new();
        c.now(300);
        let r = Hlc {
            wall_ms: 300,
            logical: 9,
        };
        assert_eq!(
            c.observe(r, 300).unwrap(),
            Hlc {
                wall_ms: 300,
                logical: 10
            }
        );
        // Wall time ahead of both.
        assert_eq!(c.observe(Hlc::at(1), 400).unwrap(), Hlc::at(400));
    }

    #[test]
    fn rejects_remote_clocks_too_far_ahead() {
        let mut c = HybridClock::with_max_drift(1_000);
        c.now(10_000);
        let before = c.last();
        let err = c.observe(Hlc::at(11_001), 10_000).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::ClockSkew {
                remote_ms: 11_001,
                local_ms: 10_000,
                max_drift_ms: 1_000
            }
        );
        assert_eq!(err.reason(), "clock_skew");
        assert_eq!(c.last(), before);
        assert!(c.observe(Hlc::at(11_000), 10_000).is_ok());
    }

    #[test]
    fn strictly_increasing_under_any_inputs() {
        use proptest::prelude::*;
        proptest!(|(steps in proptest::collection::vec((0u64..2_000, any::<bool>(), 0u64..2_100, 0u32..4), 1..64))| {
            let mut c = HybridClock::with_max_drift(100);
            let mut prev = Hlc::default();
            for (wall, remote, rwall, rlog) in steps {
                let next = if remote {
                    let r = Hlc { wall_ms: rwall, logical: rlog };
                    match c.observe(r, wall) {
                        Ok(t) => { prop_assert!(t > r); t }
                        Err(_) => continue,
                    }
                } else {
                    c.now(wall)
                };
                prop_assert!(next > prev);
                prop_assert!(next.wall_ms >= wall);
                prev = next;
            }
        });
    }
}
