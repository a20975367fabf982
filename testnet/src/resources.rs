//! What a node process costs: resident memory and CPU time, read from `/proc` (Linux).

use serde::{Deserialize, Serialize};

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`: 100 on every Linux
/// architecture this runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// The resources of one node, over its runs (a restarted node is a new process: CPU time adds
/// up, peaks take the largest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Resident memory at the last sample, MiB.
    pub rss_mib: f64,
    /// Largest resident memory of any of its processes (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
}

impl Usage {
    /// The usage of process `pid` now, if it can be read.
    pub fn of(pid: u32) -> Option<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(Usage {
            rss_mib: kib_field(&status, "VmRSS:")? / 1024.0,
            peak_rss_mib: kib_field(&status, "VmHWM:")? / 1024.0,
            cpu_s: cpu_ticks(&stat)? / TICKS_PER_SECOND,
        })
    }

    /// Adds a later process's sample of the same node: CPU adds up, memory is the latest and
    /// the largest peak.
    pub fn add(&mut self, later: &Usage) {
        self.rss_mib = later.rss_mib;
        self.peak_rss_mib = self.peak_rss_mib.max(later.peak_rss_mib);
        self.cpu_s += later.cpu_s;
    }
}

/// A `Name:   1234 kB` field of `/proc/PID/status`, in KiB.
fn kib_field(status: &str, name: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `utime + stime` of `/proc/PID/stat`, in ticks.
fn cpu_ticks(stat: &str) -> Option<f64> {
    // Fields after the parenthesised command name: state is the 1st, utime the 12th, stime
    // the 13th.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (knack run) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(cpu_ticks(stat), Some(300.0));
        let status = "Name:\tknack\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(20480.0));
        assert_eq!(kib_field(status, "VmHWM:"), Some(40960.0));
    }

    #[test]
    fn this_process_has_memory_and_restarts_add_up() {
        let me = Usage::of(std::process::id()).unwrap();
        assert!(me.rss_mib > 0.0 && me.peak_rss_mib >= me.rss_mib);
        let mut total = Usage {
            rss_mib: 10.0,
            peak_rss_mib: 30.0,
            cpu_s: 2.0,
        };
        total.add(&Usage {
            rss_mib: 12.0,
            peak_rss_mib: 20.0,
            cpu_s: 1.5,
        });
        assert_eq!(
            total,
            Usage {
                rss_mib: 12.0,
                peak_rss_mib: 30.0,
                cpu_s: 3.5
            }
        );
    }
}
