//! The discrete-event core: virtual time and a queue of timestamped events.
//!
//! Events are ordered by time, then by the order they were scheduled in, so two events at the
//! same instant always run in the same order and a run is a pure function of its scenario.
//! Time is in microseconds since the start of the run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use crate::message::Msg;

/// Something that happens at an instant.
#[derive(Debug)]
pub(crate) enum Event {
    /// A message reaches `to`'s download queue.
    Arrive {
        /// Receiver.
        to: u32,
        /// Sender.
        from: u32,
        /// The message.
        msg: Msg,
    },
    /// A message is handed to `to`.
    Deliver {
        /// Receiver.
        to: u32,
        /// Sender.
        from: u32,
        /// The message.
        msg: Msg,
    },
    /// The gossip model's per-node timer (gossipsub heartbeat).
    Heartbeat(u32),
    /// A round of the round-based models (push, push-pull), for every node at once.
    Round,
    /// A node's anti-entropy timer.
    Sync(u32),
    /// A churning node leaves or comes back.
    Churn(u32),
    /// The workload authors update number `k`.
    Author(u32),
    /// Partition `i` starts (`true`) or heals (`false`).
    Partition(usize, bool),
    /// A flooding adversary sends its invalid envelopes.
    Flood(u32),
    /// End of a time-series bucket: convergence checks, progress.
    Sample,
}

/// An event with its time and tie-breaker.
#[derive(Debug)]
struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // A max-heap: the earliest (time, seq) is the greatest.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Width of one bucket of the event queue, in µs.
///
/// Events are kept in per-millisecond buckets; only the current bucket is a heap. A single
/// binary heap over every pending event (millions in a 10k-agent run) spent most of its time
/// in cache misses while sifting; a bucket's heap stays small and hot.
const BUCKET_US: u64 = 1000;

/// Emptied bucket vectors kept for reuse, at most.
const MAX_SPARE: usize = 64;
/// Largest capacity (events) of a bucket vector kept for reuse.
const MAX_SPARE_CAPACITY: usize = 4096;

/// The event queue and the clock: events bucketed by millisecond.
///
/// When a bucket becomes current it is sorted once (latest first, so the next event is at the
/// end); events scheduled into the current millisecond while it runs go to a small heap. The
/// order is exactly that of one heap over (time, scheduling order): every event of the current
/// bucket is earlier than every event of a later bucket.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Events of bucket `current_bucket`, sorted latest first.
    sorted: Vec<Scheduled>,
    /// Events scheduled into bucket `current_bucket` after it was sorted, earliest on top.
    late: BinaryHeap<Scheduled>,
    current_bucket: u64,
    /// Events of later buckets, unordered within a bucket.
    later: BTreeMap<u64, Vec<Scheduled>>,
    /// Emptied bucket vectors, kept for reuse.
    spare: Vec<Vec<Scheduled>>,
    seq: u64,
    now: u64,
    processed: u64,
}

impl Queue {
    /// Schedules `event` at `at` (never before now).
    pub(crate) fn push(&mut self, at: u64, event: Event) {
        let at = at.max(self.now);
        self.seq += 1;
        let scheduled = Scheduled {
            at,
            seq: self.seq,
            event,
        };
        let bucket = at / BUCKET_US;
        if bucket <= self.current_bucket {
            self.late.push(scheduled);
        } else {
            let spare = &mut self.spare;
            self.later
                .entry(bucket)
                .or_insert_with(|| spare.pop().unwrap_or_default())
                .push(scheduled);
        }
    }

    /// Takes the next event if it is due by `until`, advancing the clock to it.
    pub(crate) fn pop(&mut self, until: u64) -> Option<Event> {
        if self.sorted.is_empty() && self.late.is_empty() {
            let entry = self.later.first_entry()?;
            if *entry.key() * BUCKET_US > until {
                return None;
            }
            let (bucket, mut events) = entry.remove_entry();
            // `Scheduled`'s order is reversed (the earliest is the greatest): ascending order
            // puts the latest first and the next event last.
            events.sort_unstable();
            let drained = std::mem::replace(&mut self.sorted, events);
            // Keep a few emptied vectors for the next buckets, but not large ones: every
            // pending bucket holding the largest capacity it ever had cost gigabytes.
            if self.spare.len() < MAX_SPARE && drained.capacity() <= MAX_SPARE_CAPACITY {
                self.spare.push(drained);
            }
            self.current_bucket = bucket;
        }
        // The earlier of the two candidates (the greater, in `Scheduled`'s reversed order).
        let from_late = match (self.sorted.last(), self.late.peek()) {
            (Some(s), Some(l)) => l > s,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => return None,
        };
        let next_at = if from_late {
            self.late.peek().map(|s| s.at)
        } else {
            self.sorted.last().map(|s| s.at)
        };
        if next_at.is_none_or(|at| at > until) {
            return None;
        }
        let next = if from_late {
            self.late.pop()?
        } else {
            self.sorted.pop()?
        };
        self.now = next.at;
        self.processed += 1;
        Some(next.event)
    }

    /// Virtual time now, in µs.
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Events processed so far.
    pub(crate) fn processed(&self) -> u64 {
        self.processed
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, Queue, Scheduled};

    #[test]
    fn events_stay_small() {
        // The queue moves millions of these: keep them at 48 bytes (they were 56).
        assert!(
            std::mem::size_of::<Scheduled>() <= 48,
            "{}",
            std::mem::size_of::<Scheduled>()
        );
    }

    #[test]
    fn pops_in_time_then_scheduling_order() {
        let mut q = Queue::default();
        for (at, node) in [(5_000, 1), (1_200, 2), (1_200, 3), (999, 4), (5_000, 5)] {
            q.push(at, Event::Heartbeat(node));
        }
        let mut order = Vec::new();
        while let Some(e) = q.pop(4_000) {
            let Event::Heartbeat(n) = e else {
                unreachable!()
            };
            order.push(n);
            if n == 4 {
                // Scheduled into the current millisecond while it runs.
                q.push(999, Event::Heartbeat(6));
                q.push(1_100, Event::Heartbeat(7));
            }
        }
        assert_eq!(order, vec![4, 6, 7, 2, 3]);
        assert_eq!(q.now(), 1_200);
        while let Some(Event::Heartbeat(n)) = q.pop(u64::MAX) {
            order.push(n);
        }
        assert_eq!(order, vec![4, 6, 7, 2, 3, 1, 5]);
        assert_eq!(q.processed(), 7);
    }
}
