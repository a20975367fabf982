//! Seeded random streams and stateless hashes, the only sources of randomness in a run.
//!
//! Every concern (topology, network, gossip choices, workload, churn, adversaries) draws from its
//! own ChaCha8 stream derived from the scenario seed, so changing, say, the gossip degree leaves
//! the topology and the workload untouched: a parameter sweep compares like with like. Values
//! that must be the same whenever they are asked for (a link's base latency, a node's region)
//! are hashes of the seed and the ids, not draws.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random streams of a run, one per concern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stream {
    /// Who connects to whom.
    Topology = 1,
    /// Jitter and loss.
    Network = 2,
    /// Choices of the gossip models (targets, mesh peers).
    Gossip = 3,
    /// What is authored, by whom, when.
    Workload = 4,
    /// Leaves and joins.
    Churn = 5,
    /// Which nodes misbehave.
    Adversary = 6,
    /// Anti-entropy partner choice.
    Sync = 7,
    /// Which received envelopes get their signature verified.
    Verify = 8,
    /// Which agents hold a materialised replica.
    Replicas = 9,
}

/// The RNG of `stream` for `seed`.
pub(crate) fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// A 64-bit hash of `seed` and `parts` (splitmix64 rounds): for values that are a pure function
/// of ids.
pub(crate) fn hash(seed: u64, parts: &[u64]) -> u64 {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    for &p in parts {
        x = mix(x ^ p);
    }
    mix(x)
}

/// A uniform float in `[0, 1)` from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
