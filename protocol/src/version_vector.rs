//! Version vectors: for each author, the highest sequence number known without a gap.

use std::collections::BTreeMap;

use crdts::{CmRDT, CvRDT, Dot, VClock};
use knack_crdt::AgentId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a replica knows of a space: author -> highest contiguous sequence number.
///
/// Built on `crdts::VClock`, so merging is the vector clock's join (the per-author maximum). An
/// author absent from the vector has sequence 0 (nothing known). On the wire it is a map from
/// agent id to sequence number, sorted by agent id, without zero entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(VClock<AgentId>);

/// Ops of one author that one replica has and another lacks: sequence numbers
/// `after + 1 ..= upto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqRange {
    /// The author.
    pub author: AgentId,
    /// The last sequence number the lacking replica has.
    pub after: u64,
    /// The last sequence number the other replica has.
    pub upto: u64,
}

impl VersionVector {
    /// An empty vector: nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous sequence number known of `author` (0 if none).
    pub fn get(&self, author: &AgentId) -> u64 {
        self.0.get(author)
    }

    /// Records that every op of `author` up to `seq` is known (no effect if already higher).
    ///
    /// The caller guarantees contiguity: ops `1..=seq` are all known (see [`crate::Inbox`]).
    pub fn observe(&mut self, author: AgentId, seq: u64) {
        self.0.apply(Dot::new(author, seq));
    }

    /// Records the next op of `author` and returns its sequence number (for local authoring).
    pub fn advance(&mut self, author: AgentId) -> u64 {
        let next = self.get(&author).saturating_add(1);
        self.observe(author, next);
        next
    }

    /// Joins `other` into `self`: the per-author maximum.
    pub fn merge(&mut self, other: &VersionVector) {
        self.0.merge(other.0.clone());
    }

    /// What `other` has that `self` lacks, one range per author, in author order.
    pub fn missing(&self, other: &VersionVector) -> Vec<SeqRange> {
        // Both maps are sorted by author: one merge pass, no lookups.
        let mut mine = self.0.dots.iter().peekable();
        let mut out = Vec::new();
        for (author, &upto) in &other.0.dots {
            while mine.next_if(|(a, _)| *a < author).is_some() {}
            let after = mine.next_if(|(a, _)| *a == author).map_or(0, |(_, s)| *s);
            if upto > after {
                out.push(SeqRange {
                    author: *author,
                    after,
                    upto,
                });
            }
        }
        out
    }

    /// Whether `self` knows every op `other` knows.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        self.missing(other).is_empty()
    }

    /// How many ops the vector covers (saturating).
    pub fn total_ops(&self) -> u64 {
        self.iter()
            .fold(0u64, |sum, (_, seq)| sum.saturating_add(seq))
    }

    /// How many authors the vector names.
    pub fn len(&self) -> usize {
        self.0.dots.len()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.0.dots.is_empty()
    }

    /// `(author, highest contiguous seq)` pairs in author order.
    pub fn iter(&self) -> impl Iterator<Item = (AgentId, u64)> + '_ {
        self.0.dots.iter().map(|(author, seq)| (*author, *seq))
    }

    /// The underlying vector clock.
    pub fn as_vclock(&self) -> &VClock<AgentId> {
        &self.0
    }
}

impl SeqRange {
    /// How many ops the range spans.
    pub fn len(&self) -> u64 {
        self.upto.saturating_sub(self.after)
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<VClock<AgentId>> for VersionVector {
    fn from(clock: VClock<AgentId>) -> Self {
        // Drop zero entries, so equal knowledge means equal vectors.
        VersionVector(clock.into_iter().filter(|dot| dot.counter > 0).collect())
    }
}

impl FromIterator<(AgentId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (AgentId, u64)>>(iter: I) -> Self {
        // What observing each entry in turn gives (the highest sequence number per author, no
        // zero entries), built in one sort instead of a map search per entry.
        let iter = iter.into_iter();
        let mut entries: Vec<(AgentId, u64)> = Vec::with_capacity(iter.size_hint().1.unwrap_or(0));
        entries.extend(iter.filter(|(_, s)| *s > 0));
        entries.sort_unstable();
        // Sorted by (author, seq): the last entry of each author is its highest.
        entries.reverse();
        entries.dedup_by_key(|(author, _)| *author);
        VersionVector(VClock {
            dots: entries.into_iter().collect(),
        })
    }
}

impl Serialize for VersionVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.dots.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for VersionVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let dots = BTreeMap::<AgentId, u64>::deserialize(deserializer)?;
        if dots.values().any(|seq| *seq == 0) {
            return Err(serde::de::Error::custom(
                "version vector entries must be at least 1",
            ));
        }
        Ok(VersionVector(VClock { dots }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn vv(entries: &[(u8, u64)]) -> VersionVector {
        entries
            .iter()
            .map(|(a, s)| (AgentId([*a; 32]), *s))
            .collect()
    }

    #[test]
    fn missing_lists_what_the_other_has() {
        let mine = vv(&[(1, 5), (2, 3)]);
        let theirs = vv(&[(1, 7), (2, 1), (3, 2)]);
        assert_eq!(
            mine.missing(&theirs),
            vec![
                SeqRange {
                    author: AgentId([1; 32]),
                    after: 5,
                    upto: 7
                },
                SeqRange {
                    author: AgentId([3; 32]),
                    after: 0,
                    upto: 2
                },
            ]
        );
        assert_eq!(theirs.missing(&mine).len(), 1);
        assert_eq!(mine.total_ops(), 8);
    }

    proptest! {
        #[test]
        fn fast_paths_agree_with_observing_one_by_one(
            a in proptest::collection::vec((0u8..6, 0u64..5), 0..12),
            b in proptest::collection::vec((0u8..6, 0u64..5), 0..12),
        ) {
            let naive = |entries: &[(u8, u64)]| {
                let mut v = VersionVector::new();
                for (x, s) in entries {
                    v.observe(AgentId([*x; 32]), *s);
                }
                v
            };
            let (va, vb) = (vv(&a), vv(&b));
            prop_assert_eq!(&va, &naive(&a));
            prop_assert_eq!(&vb, &naive(&b));
            let slow_missing: Vec<SeqRange> = vb
                .iter()
                .filter_map(|(author, upto)| {
                    let after = va.get(&author);
                    (upto > after).then_some(SeqRange { author, after, upto })
                })
                .collect();
            prop_assert_eq!(va.missing(&vb), slow_missing);
            prop_assert_eq!(
                va.dominates(&vb),
                vb.iter().all(|(author, seq)| va.get(&author) >= seq)
            );
        }
    }

    #[test]
    fn advance_and_observe() {
        let mut v = VersionVector::new();
        let a = AgentId([9; 32]);
        assert_eq!(v.advance(a), 1);
        assert_eq!(v.advance(a), 2);
        v.observe(a, 1);
        assert_eq!(v.get(&a), 2);
        v.observe(a, 0);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn zero_entries_are_dropped_or_refused() {
        let mut clock = VClock::new();
        clock.dots.insert(AgentId([1; 32]), 0);
        assert!(VersionVector::from(clock).is_empty());
        let bytes = crate::codec::encode(&BTreeMap::from([(AgentId([1; 32]), 0u64)]));
        assert!(matches!(
            crate::codec::decode::<VersionVector, 100>(&bytes),
            Err(crate::ProtocolError::Malformed(m)) if m.contains("must be at least 1")
        ));
    }

    fn arb_vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((0u8..6, 1u64..20), 0..6).prop_map(|e| vv(&e))
    }

    proptest! {
        #[test]
        fn merge_is_a_join(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert_eq!(&ab, &ba);
            let mut ab_c = ab.clone();
            ab_c.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut a_bc = a.clone();
            a_bc.merge(&bc);
            prop_assert_eq!(&ab_c, &a_bc);
            let mut aa = a.clone();
            aa.merge(&a);
            prop_assert_eq!(&aa, &a);
            prop_assert!(ab.dominates(&a) && ab.dominates(&b));
            // After merging in what is missing, nothing is missing.
            let mut filled = a.clone();
            for r in a.missing(&b) {
                filled.observe(r.author, r.upto);
            }
            prop_assert!(filled.missing(&b).is_empty());
            prop_assert_eq!(filled, ab);
        }

        #[test]
        fn round_trips(a in arb_vv()) {
            let bytes = crate::codec::encode(&a);
            prop_assert_eq!(crate::codec::decode::<VersionVector, 1000>(&bytes).unwrap(), a);
        }
    }
}
