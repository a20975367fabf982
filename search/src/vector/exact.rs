//! Nearest neighbours by a flat scan of every stored vector with a bounded heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::vector::Key;
use crate::vector::quantize::QuantizedQuery;
use crate::vector::store::VectorStore;

/// A candidate ordered so that the heap's top is the *worst* kept one.
struct Worst<K> {
    cos: f32,
    key: K,
}

impl<K: Ord> PartialEq for Worst<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord> Eq for Worst<K> {}

impl<K: Ord> PartialOrd for Worst<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord> Ord for Worst<K> {
    /// Greater = worse: lower cosine, then higher key.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .cos
            .total_cmp(&self.cos)
            .then_with(|| self.key.cmp(&other.key))
    }
}

/// The `k` live vectors of `store` with the highest cosine with `q`, best first, ties by key;
/// the slot `exclude` is skipped.
pub(crate) fn nearest<K: Key>(
    store: &VectorStore<K>,
    q: &QuantizedQuery,
    k: usize,
    exclude: Option<u32>,
) -> Vec<(K, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst<K>> = BinaryHeap::with_capacity(k + 1);
    // The worst cosine kept once the heap is full: most vectors fail this test alone.
    let mut floor = f32::NEG_INFINITY;
    for (slot, key, codes, scale) in store.iter() {
        let cos = q.cosine(codes, scale);
        if cos < floor || Some(slot) == exclude {
            continue;
        }
        if heap.len() < k {
            heap.push(Worst { cos, key });
        } else if let Some(worst) = heap.peek()
            && (Worst { cos, key }).cmp(worst) == Ordering::Less
        {
            heap.pop();
            heap.push(Worst { cos, key });
        }
        if heap.len() == k {
            floor = heap.peek().map_or(floor, |w| w.cos);
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|w| (w.key, w.cos))
        .collect()
}
