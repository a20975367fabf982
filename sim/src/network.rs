//! The network model: latency, jitter, loss, bandwidth queues, partitions, clock skew.
//!
//! A message from `a` to `b` of `s` bytes sent at `t` leaves `a` once `a`'s upload link is free
//! and has carried the bytes (`s / upload`), travels for the link's base latency plus jitter,
//! then queues on `b`'s download link (`s / download`). A link's base latency is a pure function
//! of the seed and the two ids, so it costs no memory and is the same in both directions.
//! Messages between nodes on different sides of an active partition are lost, whether the cut
//! was there when they left or came while they were in flight.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::rng;
use crate::scenario::{Latency, NetworkConfig, PartitionConfig};

/// Microseconds per millisecond.
pub(crate) const US_PER_MS: u64 = 1000;

/// The modelled network, with its per-node queue state.
#[derive(Debug)]
pub(crate) struct Network {
    cfg: NetworkConfig,
    seed: u64,
    regions: u32,
    /// When each node's upload link is next free (µs).
    upload_free: Vec<u64>,
    /// When each node's download link is next free (µs).
    download_free: Vec<u64>,
    /// Clock offset of each node (ms).
    skew_ms: Vec<i64>,
    /// Which partitions are active now.
    active: Vec<bool>,
    /// The group of every node in every partition, computed once (asked for every message
    /// while a partition is active).
    groups: Vec<Vec<u32>>,
}

impl Network {
    /// The network of `n` nodes.
    pub(crate) fn new(cfg: &NetworkConfig, n: u32, seed: u64) -> Self {
        let regions = match &cfg.latency {
            Latency::Regions { names, .. } => names.len() as u32,
            _ => 1,
        };
        let skew = cfg.clock_skew_ms as i64;
        let skew_ms = (0..n)
            .map(|i| {
                if skew == 0 {
                    0
                } else {
                    let h = rng::hash(seed, &[0x5ce3, u64::from(i)]);
                    (h % (2 * skew as u64 + 1)) as i64 - skew
                }
            })
            .collect();
        let limited_up = cfg.upload_bytes_per_s > 0;
        let limited_down = cfg.download_bytes_per_s > 0;
        Network {
            cfg: cfg.clone(),
            seed,
            regions,
            upload_free: if limited_up {
                vec![0; n as usize]
            } else {
                Vec::new()
            },
            download_free: if limited_down {
                vec![0; n as usize]
            } else {
                Vec::new()
            },
            skew_ms,
            active: vec![false; cfg.partitions.len()],
            groups: cfg
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| (0..n).map(|node| group(seed, i, p, node)).collect())
                .collect(),
        }
    }

    /// The partitions of the scenario.
    pub(crate) fn partitions(&self) -> &[PartitionConfig] {
        &self.cfg.partitions
    }

    /// Turns partition `i` on or off.
    pub(crate) fn set_partition(&mut self, i: usize, on: bool) {
        self.active[i] = on;
    }

    /// Whether an active partition separates `a` and `b`.
    pub(crate) fn separated(&self, a: u32, b: u32) -> bool {
        self.active
            .iter()
            .enumerate()
            .any(|(i, &on)| on && self.groups[i][a as usize] != self.groups[i][b as usize])
    }

    /// The region of `node`.
    pub(crate) fn region(&self, node: u32) -> u32 {
        node % self.regions
    }

    /// The base one-way latency of the link `a`-`b`, in µs.
    pub(crate) fn base_latency_us(&self, a: u32, b: u32) -> u64 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let h = rng::hash(self.seed, &[0x1a7e, u64::from(lo), u64::from(hi)]);
        let ms = match &self.cfg.latency {
            Latency::Constant { ms } => *ms,
            Latency::Uniform { min_ms, max_ms } => min_ms + (max_ms - min_ms) * rng::unit(h),
            Latency::Lognormal { median_ms, sigma } => {
                // Box-Muller from two independent hashes.
                let u1 = rng::unit(h).max(1e-12);
                let u2 = rng::unit(rng::hash(h, &[2]));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                median_ms * (sigma * z).exp()
            }
            Latency::Regions { matrix_ms, .. } => {
                matrix_ms[self.region(a) as usize][self.region(b) as usize]
            }
        };
        (ms.max(0.0) * US_PER_MS as f64) as u64
    }

    /// Whether the next message is lost.
    pub(crate) fn lost(&self, rng: &mut ChaCha8Rng) -> bool {
        self.cfg.loss > 0.0 && rng.r#gen::<f64>() < self.cfg.loss
    }

    /// When a message of `bytes` sent now by `from` to `to` reaches `to`'s download queue (µs),
    /// taking `from`'s upload queue.
    pub(crate) fn transit(
        &mut self,
        now: u64,
        from: u32,
        to: u32,
        bytes: u32,
        rng: &mut ChaCha8Rng,
    ) -> u64 {
        let mut depart = now;
        if let Some(per_us) =
            (u64::from(bytes) * 1_000_000).checked_div(self.cfg.upload_bytes_per_s)
        {
            let free = &mut self.upload_free[from as usize];
            depart = depart.max(*free) + per_us;
            *free = depart;
        }
        let jitter = if self.cfg.jitter_ms > 0.0 {
            (rng.r#gen::<f64>() * self.cfg.jitter_ms * US_PER_MS as f64) as u64
        } else {
            0
        };
        depart + self.base_latency_us(from, to) + jitter
    }

    /// Whether downloads are rate-limited (then arrivals queue before delivery).
    pub(crate) fn download_limited(&self) -> bool {
        self.cfg.download_bytes_per_s > 0
    }

    /// When a message of `bytes` arriving now at `to` has been downloaded (µs).
    pub(crate) fn download(&mut self, now: u64, to: u32, bytes: u32) -> u64 {
        let free = &mut self.download_free[to as usize];
        let done = now.max(*free) + u64::from(bytes) * 1_000_000 / self.cfg.download_bytes_per_s;
        *free = done;
        done
    }

    /// `node`'s wall clock at virtual time `now_us`, in ms (with its skew, never negative).
    pub(crate) fn wall_ms(&self, node: u32, now_us: u64) -> u64 {
        /// Virtual time 0 is this wall time (2025-01-01), so HLCs look like real ones.
        const EPOCH_MS: i64 = 1_735_689_600_000;
        (EPOCH_MS + (now_us / US_PER_MS) as i64 + self.skew_ms[node as usize]).max(0) as u64
    }
}

/// The group of `node` in partition `i` (a pure function of the seed and the ids).
fn group(seed: u64, i: usize, partition: &PartitionConfig, node: u32) -> u32 {
    let groups = u64::from(partition.groups.max(1));
    (rng::hash(seed, &[0x9a47, i as u64, u64::from(node)]) % groups) as u32
}
