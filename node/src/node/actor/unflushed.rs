//! Own ops not yet durable are not served to peers.
//!
//! An own envelope is appended to the store when sealed and made durable by the flush that
//! follows. Served by anti-entropy in between, a peer could hold it while a crash loses it
//! here: the restarted node would then sign different ops under the same sequence numbers, a
//! fork. Gossip already waits for the flush; this keeps anti-entropy behind it too: per
//! space, the own sequence numbers sealed (or reserved by a checkpoint run) and not yet
//! flushed, which the node's op log neither advertises nor serves.

use std::collections::BTreeMap;

use knack_crdt::SpaceName;
use knack_protocol::Envelope;

use super::Actor;
use super::checkpoint::SealedRun;

/// Per space, the own sequence numbers sealed and not yet durable: `(first, last)`.
#[derive(Debug, Default)]
pub(crate) struct OwnUnflushed {
    spaces: BTreeMap<SpaceName, (u64, u64)>,
}

impl OwnUnflushed {
    /// Own sequence numbers `first..=last` of `space` were sealed (or reserved): not durable
    /// until a flush says so.
    pub(crate) fn sealed(&mut self, space: &SpaceName, first: u64, last: u64) {
        match self.spaces.get_mut(space) {
            Some(range) => range.1 = range.1.max(last),
            None => {
                self.spaces.insert(space.clone(), (first, last));
            }
        }
    }

    /// A flush made own sequence numbers of `space` up to `upto` durable.
    pub(crate) fn flushed(&mut self, space: &SpaceName, upto: u64) {
        if let Some(range) = self.spaces.get_mut(space) {
            if range.1 <= upto {
                self.spaces.remove(space);
            } else {
                range.0 = range.0.max(upto + 1);
            }
        }
    }

    /// The highest own sequence number of `space` that may be served (`None`: all of them).
    pub(crate) fn served_upto(&self, space: &SpaceName) -> Option<u64> {
        self.spaces.get(space).map(|&(first, _)| first - 1)
    }
}

impl Actor {
    /// A flush made these envelopes and checkpoint runs durable: their own sequence numbers
    /// may be served.
    pub(super) fn own_made_durable(
        &mut self,
        envelopes: &[Envelope],
        runs: &[(SpaceName, Result<SealedRun, String>)],
    ) {
        let own = envelopes.iter().filter(|e| e.author() == self.agent);
        let durable = own.map(|e| (e.space(), e.last_seq())).chain(
            runs.iter()
                .filter_map(|(space, run)| Some((space, run.as_ref().ok()?.last))),
        );
        for (space, upto) in durable {
            self.own_unflushed.flushed(space, upto);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_numbers_are_served_once_a_flush_covers_them() {
        let space = SpaceName::new("ops").unwrap();
        let other = SpaceName::new("other").unwrap();
        let mut unflushed = OwnUnflushed::default();
        assert_eq!(unflushed.served_upto(&space), None);
        unflushed.sealed(&space, 11, 12);
        unflushed.sealed(&space, 13, 20); // sealed while the first flush runs
        assert_eq!(unflushed.served_upto(&space), Some(10));
        assert_eq!(unflushed.served_upto(&other), None);
        unflushed.flushed(&space, 12);
        assert_eq!(unflushed.served_upto(&space), Some(12));
        unflushed.flushed(&space, 20);
        assert_eq!(unflushed.served_upto(&space), None);
        // A flush of another space's ops changes nothing here.
        unflushed.sealed(&space, 21, 21);
        unflushed.flushed(&other, 40);
        assert_eq!(unflushed.served_upto(&space), Some(20));
    }
}
