//! What a run measures: reach of every update, traffic split into payload and control,
//! duplicates, hops, delivery latencies, and a time series of all of it.

use serde::Serialize;

use crate::network::US_PER_MS;

/// Fractions of the honest agents whose reach time is recorded per update.
pub(crate) const REACH_LEVELS: [f64; 4] = [0.5, 0.9, 0.99, 1.0];

/// Reach of one update.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reach {
    /// Honest agents that applied it.
    pub(crate) count: u32,
    /// When each of [`REACH_LEVELS`] was reached (µs).
    pub(crate) at: [Option<u64>; 4],
    /// Sum of hop counts of first gossip deliveries (for the mean).
    pub(crate) hops_sum: u64,
    /// Number of first deliveries by gossip (with a hop count).
    pub(crate) hops_count: u32,
}

/// One time-series bucket.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Bucket {
    /// Payload messages sent.
    pub(crate) payload_msgs: u64,
    /// Control messages sent.
    pub(crate) control_msgs: u64,
    /// Payload bytes sent.
    pub(crate) payload_bytes: u64,
    /// Control bytes sent.
    pub(crate) control_bytes: u64,
    /// Duplicate payload receptions.
    pub(crate) duplicates: u64,
    /// Updates applied by honest agents.
    pub(crate) deliveries: u64,
}

/// Traffic and event counters.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counters {
    /// Payload messages sent.
    pub payload_msgs: u64,
    /// Control messages sent.
    pub control_msgs: u64,
    /// Payload bytes sent.
    pub payload_bytes: u64,
    /// Control bytes sent (including the framing of payload messages).
    pub control_bytes: u64,
    /// Gossip payload receptions of an update already known.
    pub duplicates: u64,
    /// Gossip payload transmissions (publish messages sent).
    pub transmissions: u64,
    /// Messages delivered to a node.
    pub delivered: u64,
    /// Messages lost to random loss.
    pub lost: u64,
    /// Messages lost to a partition.
    pub cut: u64,
    /// Messages to or from an offline node.
    pub offline: u64,
    /// Ops received through anti-entropy that were new.
    pub sync_ops_new: u64,
    /// Ops received through anti-entropy that were already known.
    pub sync_ops_redundant: u64,
    /// Envelopes decoded and verified for real.
    pub verified: u64,
    /// Invalid envelopes received (and rejected).
    pub invalid_received: u64,
    /// Invalid envelopes the real verifier rejected (of those sampled).
    pub invalid_verified: u64,
    /// Ops received out of sequence and held until the gap filled.
    pub buffered: u64,
}

/// Everything measured in a run.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Honest agents (the 100 % of reach).
    pub(crate) honest: u32,
    pub(crate) counters: Counters,
    pub(crate) reach: Vec<Reach>,
    pub(crate) buckets: Vec<Bucket>,
    sample_us: u64,
    /// Delivery latency histogram, 1 ms buckets (author to apply, honest agents).
    pub(crate) latency_ms: Vec<u64>,
    /// Bytes sent per node.
    pub(crate) sent_bytes: Vec<u64>,
}

impl Metrics {
    /// Metrics of a run with `n` nodes, `honest` of them honest.
    pub(crate) fn new(n: u32, honest: u32, sample_ms: u64) -> Self {
        Metrics {
            honest,
            counters: Counters::default(),
            reach: Vec::new(),
            buckets: Vec::new(),
            sample_us: sample_ms * US_PER_MS,
            latency_ms: Vec::new(),
            sent_bytes: vec![0; n as usize],
        }
    }

    /// The bucket of time `now`.
    pub(crate) fn bucket(&mut self, now: u64) -> &mut Bucket {
        let i = (now / self.sample_us) as usize;
        if i >= self.buckets.len() {
            self.buckets.resize(i + 1, Bucket::default());
        }
        &mut self.buckets[i]
    }

    /// Counts a message sent by `from`.
    pub(crate) fn sent(&mut self, now: u64, from: u32, payload: bool, bytes: (u32, u32)) {
        let (p, c) = (u64::from(bytes.0), u64::from(bytes.1));
        self.sent_bytes[from as usize] += p + c;
        let counters = &mut self.counters;
        counters.payload_bytes += p;
        counters.control_bytes += c;
        if payload {
            counters.payload_msgs += 1;
        } else {
            counters.control_msgs += 1;
        }
        let b = self.bucket(now);
        b.payload_bytes += p;
        b.control_bytes += c;
        if payload {
            b.payload_msgs += 1;
        } else {
            b.control_msgs += 1;
        }
    }

    /// Counts a duplicate reception.
    pub(crate) fn duplicate(&mut self, now: u64) {
        self.counters.duplicates += 1;
        self.bucket(now).duplicates += 1;
    }

    /// Registers a new update.
    pub(crate) fn authored(&mut self) {
        self.reach.push(Reach::default());
    }

    /// Records that an honest agent applied update `u` at `now`, `hops` from the author if it
    /// came by gossip.
    pub(crate) fn applied(&mut self, now: u64, u: u32, created: u64, hops: Option<u16>) {
        let honest = f64::from(self.honest);
        let r = &mut self.reach[u as usize];
        r.count += 1;
        if let Some(h) = hops {
            r.hops_sum += u64::from(h);
            r.hops_count += 1;
        }
        for (level, at) in REACH_LEVELS.iter().zip(r.at.iter_mut()) {
            if at.is_none() && f64::from(r.count) >= (level * honest).ceil() {
                *at = Some(now);
            }
        }
        let ms = ((now - created) / US_PER_MS) as usize;
        if ms >= self.latency_ms.len() {
            self.latency_ms.resize(ms + 1, 0);
        }
        self.latency_ms[ms] += 1;
        self.bucket(now).deliveries += 1;
    }

    /// Whether every update has reached every honest agent.
    pub(crate) fn all_reached(&self) -> bool {
        self.reach.iter().all(|r| r.at[3].is_some())
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.reach.capacity() * std::mem::size_of::<Reach>()
            + self.buckets.capacity() * std::mem::size_of::<Bucket>()
            + self.latency_ms.capacity() * 8
            + self.sent_bytes.capacity() * 8
    }
}
