//! gossipsub's message cache: the ids of recent messages, grouped in heartbeat windows.
//!
//! Kept flat (one vector of entries and the start of each window) because every new message
//! at every node lands here: a vector per window cost one more cache miss per delivery.

/// The message cache of one router.
#[derive(Clone, Debug, Default)]
pub(crate) struct MessageCache {
    /// `(update, hops on arrival)`, oldest window first, in arrival order within a window.
    entries: Vec<(u32, u16)>,
    /// Index in `entries` where each window starts, oldest first; the last one is the window
    /// filling now. Empty until the first message or heartbeat.
    starts: Vec<u32>,
}

impl MessageCache {
    /// Adds a message to the current window.
    pub(crate) fn put(&mut self, update: u32, hops: u16) {
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.entries.push((update, hops));
    }

    /// Opens a new window and keeps the newest `history_length` (the heartbeat's shift).
    pub(crate) fn shift(&mut self, history_length: usize) {
        self.starts.push(self.entries.len() as u32);
        if self.starts.len() > history_length {
            let drop = self.starts.len() - history_length;
            let cut = self.starts[drop];
            self.entries.drain(..cut as usize);
            self.starts.drain(..drop);
            for s in &mut self.starts {
                *s -= cut;
            }
        }
    }

    /// Ids of the newest `windows` windows, newest window first, at most `max` of them: what
    /// an IHAVE advertises.
    pub(crate) fn recent(&self, windows: usize, max: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut end = self.entries.len();
        for &start in self.starts.iter().rev().take(windows) {
            ids.extend(self.entries[start as usize..end].iter().map(|&(u, _)| u));
            end = start as usize;
        }
        ids.truncate(max);
        ids
    }

    /// The hops of `update` if it is still cached (to answer an IWANT).
    pub(crate) fn get(&self, update: u32) -> Option<u16> {
        self.entries
            .iter()
            .rev()
            .find(|&&(u, _)| u == update)
            .map(|&(_, hops)| hops)
    }

    /// Bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * 8 + self.starts.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::MessageCache;

    #[test]
    fn windows_shift_and_expire() {
        let mut c = MessageCache::default();
        c.put(1, 1);
        c.put(2, 2);
        c.shift(3);
        c.put(3, 3);
        assert_eq!(c.recent(1, 10), vec![3]);
        assert_eq!(c.recent(2, 10), vec![3, 1, 2]);
        assert_eq!(c.recent(2, 2), vec![3, 1]);
        c.shift(3);
        c.shift(3);
        // Window {1, 2} is now the fourth newest: gone.
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(3), Some(3));
        assert_eq!(c.recent(3, 10), vec![3]);
        c.shift(3);
        assert_eq!(c.get(3), None);
        assert!(c.recent(5, 10).is_empty());
    }

    #[test]
    fn empty_cache_advertises_nothing() {
        let mut c = MessageCache::default();
        assert!(c.recent(3, 10).is_empty());
        c.shift(5);
        assert!(c.recent(3, 10).is_empty());
        assert_eq!(c.get(0), None);
    }
}
