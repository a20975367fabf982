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

    /// Makes room for `additional` more new keys without growing twice as much as needed.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let new = additional.saturating_sub(self.free.len());
        self.codes.reserve_exact(new * self.dim);
        self.scales.reserve_exact(new);
        self.keys.reserve_exact(new);
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
                        if self.keys.len() == self.keys.capacity() {
                            // An eighth more, not twice: the arena is most of the memory.
                            self.reserve(self.keys.len() / 8 + 64);
                        }
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
