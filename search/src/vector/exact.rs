//! Exact nearest neighbours: a flat scan of every vector with a bounded heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::embed::dot;
use crate::vector::Key;
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

/// The `k` live vectors of `store` with the highest dot product with `q`, best first, ties by
/// key; the slot `exclude` is skipped.
pub(crate) fn nearest<K: Key>(
    store: &VectorStore<K>,
    q: &[f32],
    k: usize,
    exclude: Option<u32>,
) -> Vec<(K, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst<K>> = BinaryHeap::with_capacity(k + 1);
    for (slot, key, v) in store.iter() {
        if Some(slot) == exclude {
            continue;
        }
        let cos = dot(q, v);
        if heap.len() < k {
            heap.push(Worst { cos, key });
        } else if let Some(worst) = heap.peek()
            && (Worst { cos, key }).cmp(worst) == Ordering::Less
        {
            heap.pop();
            heap.push(Worst { cos, key });
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|w| (w.key, w.cos))
        .collect()
}
