//! The peer graph: who holds a connection to whom.
//!
//! A random graph where every node opens `connections` links to uniformly random others (links
//! are undirected and deduplicated), stored as compressed adjacency lists: 4 bytes per link end,
//! so 100k nodes with 10 connections each take about 8 MB.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Compressed adjacency lists of an undirected graph over nodes `0..n`.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    offsets: Vec<u32>,
    neighbors: Vec<u32>,
}

impl Topology {
    /// A random graph: each node links to `connections` distinct random others (fewer if
    /// earlier nodes already linked it to every other node, as happens in small graphs).
    pub(crate) fn random(n: u32, connections: u32, rng: &mut ChaCha8Rng) -> Self {
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n as usize];
        for a in 0..n {
            let mut picked = 0;
            while picked < connections && lists[a as usize].len() + 1 < n as usize {
                let b = rng.gen_range(0..n);
                if b == a || lists[a as usize].contains(&b) {
                    continue;
                }
                lists[a as usize].push(b);
                lists[b as usize].push(a);
                picked += 1;
            }
        }
        Topology::from_lists(lists)
    }

    /// Builds the compressed form of adjacency lists (sorted, deduplicated).
    pub(crate) fn from_lists(mut lists: Vec<Vec<u32>>) -> Self {
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        let mut neighbors = Vec::new();
        offsets.push(0);
        for list in &mut lists {
            list.sort_unstable();
            list.dedup();
            neighbors.extend_from_slice(list);
            offsets.push(neighbors.len() as u32);
        }
        Topology { offsets, neighbors }
    }

    /// Adjacency lists (to rewire).
    pub(crate) fn to_lists(&self) -> Vec<Vec<u32>> {
        (0..self.len())
            .map(|i| self.neighbors(i).to_vec())
            .collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> u32 {
        (self.offsets.len().saturating_sub(1)) as u32
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The neighbours of `node`, sorted.
    pub fn neighbors(&self, node: u32) -> &[u32] {
        let i = node as usize;
        &self.neighbors[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Mean degree.
    pub fn mean_degree(&self) -> f64 {
        self.neighbors.len() as f64 / f64::from(self.len().max(1))
    }

    /// Bytes held by the graph.
    pub fn heap_bytes(&self) -> usize {
        (self.offsets.capacity() + self.neighbors.capacity()) * 4
    }

    /// Replaces every link of `victim` with links to `attackers` only (an eclipse).
    pub(crate) fn eclipse(&self, victim: u32, attackers: &[u32]) -> Topology {
        let mut lists = self.to_lists();
        let old: Vec<u32> = lists[victim as usize].clone();
        for peer in old {
            lists[peer as usize].retain(|&x| x != victim);
        }
        let set: BTreeSet<u32> = attackers.iter().copied().filter(|&a| a != victim).collect();
        lists[victim as usize] = set.iter().copied().collect();
        for &a in &set {
            lists[a as usize].push(victim);
        }
        Topology::from_lists(lists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn small_dense_graphs_terminate() {
        // Five nodes with three connections each: a late node is often linked to all others
        // already, and must stop picking instead of looping forever.
        for seed in 0..200 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let t = Topology::random(5, 3, &mut rng);
            assert!((0..5).all(|i| !t.neighbors(i).is_empty() && t.neighbors(i).len() <= 4));
        }
    }
}
