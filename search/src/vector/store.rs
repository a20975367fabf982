//! The vectors themselves: `i8` codes in one flat arena of slots, a scale per slot, and the key
//! of each slot (see [`crate::vector::quantize`]).

use std::collections::HashMap;

use crate::vector::Key;
use crate::vector::quantize::quantize_into;

/// Quantized unit vectors by slot; a removed key's slot is reused by the next new key.
pub(crate) struct VectorStore<K: Key> {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    keys: Vec<Option<K>>,
    slots: HashMap<K, u32>,
    free: Vec<u32>,
}

impl<K: Key> VectorStore<K> {
    pub(crate) fn new(dim: usize) -> Self {
        VectorStore {
            dim,
            codes: Vec::new(),
            scales: Vec::new(),
            keys: Vec::new(),
            slots: HashMap::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Slots in use or free.
    pub(crate) fn slots(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn slot(&self, key: &K) -> Option<u32> {
        self.slots.get(key).copied()
    }

    /// The codes and scale of `slot`.
    pub(crate) fn vector(&self, slot: u32) -> (&[i8], f32) {
        let start = slot as usize * self.dim;
        (
            &self.codes[start..start + self.dim],
            self.scales[slot as usize],
        )
    }

    /// Live slots with their keys, codes and scales, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, K, &[i8], f32)> {
        self.keys
            .iter()
            .zip(self.codes.chunks_exact(self.dim))
            .zip(&self.scales)
            .enumerate()
            .filter_map(|(slot, ((key, c), s))| key.map(|k| (slot as u32, k, c, *s)))
    }

    /// Makes room for `additional` more keys. The arena grows to exactly what a large batch
    /// needs, and otherwise by an eighth (not twice: it is most of the memory), so that
    /// adding keys one at a time stays amortised constant time.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let want = self.keys.len() + additional.saturating_sub(self.free.len());
        if want > self.keys.capacity() {
            let target = want.max(self.keys.len() + self.keys.len() / 8 + 64);
            let extra = target - self.keys.len();
            self.codes.reserve_exact(extra * self.dim);
            self.scales.reserve_exact(extra);
            self.keys.reserve_exact(extra);
        }
        self.slots.reserve(additional);
    }

    /// Stores `v` (unit, `dim` long) under `key`, in its slot if it has one; returns the slot.
    pub(crate) fn upsert(&mut self, key: K, v: &[f32]) -> u32 {
        let slot = self.slot_for(key);
        let start = slot as usize * self.dim;
        self.scales[slot as usize] = quantize_into(v, &mut self.codes[start..start + self.dim]);
        slot
    }

    /// Stores already quantized `codes` (`dim` long) and `scale` under `key`.
    pub(crate) fn upsert_quantized(&mut self, key: K, codes: &[i8], scale: f32) {
        let slot = self.slot_for(key);
        let start = slot as usize * self.dim;
        self.codes[start..start + self.dim].copy_from_slice(codes);
        self.scales[slot as usize] = scale;
    }

    /// `key`'s slot, taken (a free one, or a new one) if it has none.
    fn slot_for(&mut self, key: K) -> u32 {
        match self.slots.get(&key) {
            Some(&slot) => slot,
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => slot,
                    None => {
                        self.reserve(1);
                        self.keys.push(None);
                        self.scales.push(0.0);
                        self.codes.resize(self.codes.len() + self.dim, 0);
                        (self.keys.len() - 1) as u32
                    }
                };
                self.keys[slot as usize] = Some(key);
                self.slots.insert(key, slot);
                slot
            }
        }
    }

    /// Frees `key`'s slot; returns it.
    pub(crate) fn remove(&mut self, key: &K) -> Option<u32> {
        let slot = self.slots.remove(key)?;
        self.keys[slot as usize] = None;
        self.free.push(slot);
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One key at a time, the arena grows by an eighth, not twice; a batch gets what it needs.
    #[test]
    fn the_arena_grows_by_an_eighth() {
        let mut store = VectorStore::<u32>::new(4);
        let v = [0.5f32; 4];
        for k in 0..10_000u32 {
            store.upsert(k, &v);
            let cap = store.keys.capacity();
            assert!(cap <= store.len() + store.len() / 8 + 64, "{k}: {cap}");
            assert!(store.codes.capacity() <= cap * 4);
        }
        store.reserve(5_000);
        assert!(store.keys.capacity() >= 15_000);
        assert!(store.keys.capacity() <= 15_000 + 64);
        assert_eq!(store.remove(&3), Some(3));
        assert_eq!(store.upsert(20_000, &v), 3, "a freed slot is reused");
    }
}
