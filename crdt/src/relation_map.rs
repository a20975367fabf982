//! The relation registers of a space, grouped by source procedure.
//!
//! **Memory.** At 100k procedures a space holds ~480k `similar` relations. One `BTreeMap`
//! entry per relation, keyed by the whole [`RelationKey`] (two 32-byte ids), cost ~180 bytes
//! each in B-tree nodes, and a snapshot copy of the state cloned every one of them (80 MB).
//! Here the registers of one source are a sorted vector keyed by `(to, kind)`, shared (`Arc`,
//! copied on write) so a snapshot copy costs a pointer per source: ~100 bytes per relation
//! (`cargo bench -p knack-crdt --bench memory`).
//!
//! The order is the order of [`RelationKey`] (`from`, then `to`, then `kind`), and the map
//! encodes exactly as the `BTreeMap<RelationKey, _>` it replaces: a map of its length, then
//! each key and register in order.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use litemap::LiteMap;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::compact;
use crate::fraction::Fraction;
use crate::held::HeldLww;
use crate::ids::ProcedureId;
use crate::lww::Lww;
use crate::relation::{RelationKey, RelationKind};

/// A relation register as replicated: the strength (absent: removed) and who set it when.
pub(crate) type RelationRegister = Lww<Option<Fraction>>;

/// A relation register as a space holds it: its writer interned (32 bytes, where the
/// replicated register took 56; see [`crate::held`]).
pub(crate) type HeldRegister = HeldLww<Option<Fraction>>;

/// The registers of one source, keyed by `(to, kind)`.
type Targets = LiteMap<(ProcedureId, RelationKind), HeldRegister>;

/// A sorted run of one source's registers, as a snapshot streams them in.
type Run = Vec<((ProcedureId, RelationKind), HeldRegister)>;

/// Every relation register of a space, in [`RelationKey`] order (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RelationMap {
    by_from: BTreeMap<ProcedureId, Arc<Targets>>,
    len: usize,
}

impl RelationMap {
    /// The register at `key`, if it was ever written.
    pub(crate) fn get(&self, key: &RelationKey) -> Option<&HeldRegister> {
        self.by_from.get(&key.from)?.get(&(key.to, key.kind))
    }

    /// Joins `value` into the register at `key`; true if the key is new.
    pub(crate) fn merge(&mut self, key: &RelationKey, value: &RelationRegister) -> bool {
        let targets = Arc::make_mut(self.by_from.entry(key.from).or_default());
        match targets.get_mut(&(key.to, key.kind)) {
            Some(mine) => {
                mine.merge(value);
                false
            }
            None => {
                compact::insert(targets, (key.to, key.kind), HeldLww::of(value));
                self.len += 1;
                true
            }
        }
    }

    /// Every register, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RelationKey, &HeldRegister)> + '_ {
        self.by_from.iter().flat_map(|(from, targets)| {
            targets
                .iter()
                .map(move |((to, kind), reg)| (key(*from, *to, *kind), reg))
        })
    }

    /// The registers whose source is `from`, in key order.
    pub(crate) fn from(
        &self,
        from: &ProcedureId,
    ) -> impl Iterator<Item = (RelationKey, &HeldRegister)> + '_ {
        let from = *from;
        self.by_from
            .get(&from)
            .into_iter()
            .flat_map(move |targets| {
                targets
                    .iter()
                    .map(move |((to, kind), reg)| (key(from, *to, *kind), reg))
            })
    }
}

fn key(from: ProcedureId, to: ProcedureId, kind: RelationKind) -> RelationKey {
    RelationKey { from, to, kind }
}

impl Serialize for RelationMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len))?;
        for (key, reg) in self.iter() {
            map.serialize_entry(&key, reg)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RelationMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RelationMapVisitor)
    }
}

struct RelationMapVisitor;

impl<'de> Visitor<'de> for RelationMapVisitor {
    type Value = RelationMap;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of relation keys to registers")
    }

    /// Sorted input (every canonical encoding) is grouped as it streams in, each source's
    /// vector allocated to its length; anything else is merged key by key (a later duplicate
    /// replaces an earlier one, as a `BTreeMap` decodes it).
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RelationMap, A::Error> {
        let mut map = RelationMap::default();
        let mut group: Option<(ProcedureId, Run)> = None;
        while let Some((key, reg)) = access.next_entry::<RelationKey, HeldRegister>()? {
            let sorted = match &group {
                Some((from, targets)) => {
                    *from == key.from
                        && targets
                            .last()
                            .is_some_and(|(last, _)| *last < (key.to, key.kind))
                }
                None => false,
            };
            if sorted {
                if let Some((_, targets)) = &mut group {
                    targets.push(((key.to, key.kind), reg));
                }
                continue;
            }
            if let Some((from, targets)) = group.take() {
                map.file_group(from, targets);
            }
            if map.by_from.range(key.from..).next().is_none() {
                group = Some((key.from, vec![((key.to, key.kind), reg)]));
            } else {
                let targets = Arc::make_mut(map.by_from.entry(key.from).or_default());
                if compact::insert(targets, (key.to, key.kind), reg).is_none() {
                    map.len += 1;
                }
            }
        }
        if let Some((from, targets)) = group {
            map.file_group(from, targets);
        }
        Ok(map)
    }
}

impl RelationMap {
    /// Files a sorted run of `from`'s registers, all past every source held.
    fn file_group(&mut self, from: ProcedureId, mut targets: Run) {
        targets.shrink_to_fit();
        self.len += targets.len();
        self.by_from.insert(
            from,
            Arc::new(LiteMap::from_sorted_store_unchecked(targets)),
        );
    }
}
