//! Inserting into the small sorted maps a space holds by the hundred thousand, without the
//! growth slack of a `Vec`.
//!
//! Every procedure holds a few small [`LiteMap`]s (its outcome slots, each slot's contexts, its
//! tag set's clocks, its body versions). A `LiteMap` grows like a `Vec`: its first insert
//! reserves room for four entries and each later growth doubles it. At 100k procedures and 1M
//! outcomes that slack was more than half of what the outcomes held (349 bytes per outcome
//! applied one by one against 151 once restored from a snapshot, where every map is allocated
//! to its length; `cargo bench -p knack-crdt --bench memory`). Here a full map grows by a
//! quarter of its length, at least one entry.

use litemap::LiteMap;

/// Inserts `value` at `key` (replacing and returning any old value), growing a full map by a
/// quarter of its length (at least one entry) instead of doubling it.
pub(crate) fn insert<K: Ord, V>(map: &mut LiteMap<K, V>, key: K, value: V) -> Option<V> {
    let mut entries = std::mem::take(map).into_tuple_vec();
    let old = match entries.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(at) => Some(std::mem::replace(&mut entries[at].1, value)),
        Err(at) => {
            insert_at(&mut entries, at, (key, value));
            None
        }
    };
    *map = LiteMap::from_sorted_store_unchecked(entries);
    old
}

/// Inserts `item` at `at`, growing a full vector by a quarter of its length (at least one).
pub(crate) fn insert_at<T>(entries: &mut Vec<T>, at: usize, item: T) {
    if entries.len() == entries.capacity() {
        entries.reserve_exact((entries.len() / 4).max(1));
    }
    entries.insert(at, item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_in_order_and_grows_by_a_quarter() {
        let mut map: LiteMap<u32, u32> = LiteMap::new();
        for k in [5, 1, 9, 3, 7, 2, 8, 4, 6, 0] {
            assert_eq!(insert(&mut map, k, k * 10), None);
        }
        assert_eq!(insert(&mut map, 3, 33), Some(30));
        let entries = map.into_tuple_vec();
        let keys: Vec<u32> = entries.iter().map(|e| e.0).collect();
        assert_eq!(keys, (0..10).collect::<Vec<_>>());
        assert_eq!(entries[3].1, 33);
        // 1, 2, 3, 4, 5, 6, 7, 8, 10 (8 + 2): never more than a quarter of slack.
        assert!(entries.capacity() <= 10 + 10 / 4, "{}", entries.capacity());
    }
}
