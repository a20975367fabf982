//! The discrete-event core: virtual time and a queue of timestamped events.
//!
//! Events are ordered by time, then by the order they were scheduled in, so two events at the
//! same instant always run in the same order and a run is a pure function of its scenario.
//! Time is in microseconds since the start of the run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

/// The event queue and the clock.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    now: u64,
    processed: u64,
}

impl Queue {
    /// Schedules `event` at `at` (never before now).
    pub(crate) fn push(&mut self, at: u64, event: Event) {
        let at = at.max(self.now);
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    /// Takes the next event if it is due by `until`, advancing the clock to it.
    pub(crate) fn pop(&mut self, until: u64) -> Option<Event> {
        if self.heap.peek().is_none_or(|s| s.at > until) {
            return None;
        }
        let next = self.heap.pop()?;
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
