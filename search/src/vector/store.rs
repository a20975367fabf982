//! The vectors themselves, in a flat arena of slots, with the key of each slot.

use std::collections::HashMap;

use crate::vector::Key;

/// Unit vectors by slot; a removed key's slot is reused by the next new key.
pub(crate) struct VectorStore<K: Key> {
    dim: usize,
    data: Vec<f32>,
    keys: Vec<Option<K>>,
    slots: HashMap<K, u32>,
    free: Vec<u32>,
}

impl<K: Key> VectorStore<K> {
    pub(crate) fn new(dim: usize) -> Self {
        VectorStore {
            dim,
            data: Vec::new(),
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

    pub(crate) fn key(&self, slot: u32) -> Option<K> {
        self.keys.get(slot as usize).copied().flatten()
    }

    pub(crate) fn vector(&self, slot: u32) -> &[f32] {
        let start = slot as usize * self.dim;
        &self.data[start..start + self.dim]
    }

    /// Live slots with their keys and vectors, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, K, &[f32])> {
        self.keys
            .iter()
            .zip(self.data.chunks_exact(self.dim))
            .enumerate()
            .filter_map(|(slot, (key, v))| key.map(|k| (slot as u32, k, v)))
    }

    /// Stores `v` (unit, `dim` long) under `key`, in its slot if it has one; returns the slot.
    pub(crate) fn upsert(&mut self, key: K, v: &[f32]) -> u32 {
        let slot = match self.slots.get(&key) {
            Some(&slot) => slot,
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => slot,
                    None => {
                        self.keys.push(None);
                        self.data.resize(self.data.len() + self.dim, 0.0);
                        (self.keys.len() - 1) as u32
                    }
                };
                self.keys[slot as usize] = Some(key);
                self.slots.insert(key, slot);
                slot
            }
        };
        let start = slot as usize * self.dim;
        self.data[start..start + self.dim].copy_from_slice(v);
        slot
    }

    /// Frees `key`'s slot; returns it.
    pub(crate) fn remove(&mut self, key: &K) -> Option<u32> {
        let slot = self.slots.remove(key)?;
        self.keys[slot as usize] = None;
        self.free.push(slot);
        Some(slot)
    }
}
