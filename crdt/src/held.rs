//! Registers as a space holds them: the replicated value with its writer interned.
//!
//! A [`Stamp`] carries its writer's 32-byte id; a space at 100k procedures holds ~900k of them
//! (four per procedure, one per relation). Held here with the writer as an [`AgentRef`] (8
//! bytes), a register of a `String` takes 48 bytes instead of 72, and a procedure's state fits
//! a 384-byte allocation instead of a 512-byte one. Each encodes exactly as the replicated
//! type, and merges as it does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::change::Creation;
use crate::clock::{Hlc, Stamp};
use crate::intern::AgentRef;
use crate::lww::Lww;

/// A [`Lww`] register held with its writer interned (only for a register accepted into a
/// state: interned values are never freed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeldLww<V> {
    hlc: Hlc,
    agent: AgentRef,
    /// The value.
    pub(crate) value: V,
}

impl<V: Ord + Clone> HeldLww<V> {
    /// The register `reg`.
    pub(crate) fn of(reg: &Lww<V>) -> Self {
        HeldLww {
            hlc: reg.stamp.hlc,
            agent: AgentRef::of(&reg.stamp.agent),
            value: reg.value.clone(),
        }
    }

    /// Who wrote the value and when.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp::new(*self.agent, self.hlc)
    }

    /// The register as replicated.
    pub(crate) fn to_lww(&self) -> Lww<V> {
        Lww::new(self.stamp(), self.value.clone())
    }

    /// Joins `other` in: the greater `(stamp, value)` wins, as [`Lww::merge`].
    pub(crate) fn merge(&mut self, other: &Lww<V>) {
        if (&other.stamp, &other.value) > (&self.stamp(), &self.value) {
            *self = HeldLww::of(other);
        }
    }

    /// Joins another held register in.
    pub(crate) fn merge_held(&mut self, other: &HeldLww<V>) {
        if (other.stamp(), &other.value) > (self.stamp(), &self.value) {
            *self = other.clone();
        }
    }
}

/// Joins `other` into an optional held register (absent is the bottom element).
pub(crate) fn merge_held_opt<V: Ord + Clone>(mine: &mut Option<HeldLww<V>>, other: &Lww<V>) {
    match mine {
        Some(reg) => reg.merge(other),
        None => *mine = Some(HeldLww::of(other)),
    }
}

/// The encoding of a register: its stamp, then its value (as [`Lww`]'s).
#[derive(Serialize)]
struct LwwRef<'a, V> {
    stamp: Stamp,
    value: &'a V,
}

impl<V: Serialize + Ord + Clone> Serialize for HeldLww<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LwwRef {
            stamp: self.stamp(),
            value: &self.value,
        }
        .serialize(serializer)
    }
}

impl<'de, V: Deserialize<'de> + Ord + Clone> Deserialize<'de> for HeldLww<V> {
    /// Interns the writer: decode only a state this process holds (a stored snapshot).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let reg = Lww::<V>::deserialize(deserializer)?;
        Ok(HeldLww {
            hlc: reg.stamp.hlc,
            agent: AgentRef::of(&reg.stamp.agent),
            value: reg.value,
        })
    }
}

/// A procedure's [`Creation`] held with its author interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeldCreation {
    author: AgentRef,
    nonce: u64,
    created: Hlc,
}

impl HeldCreation {
    /// The creation `creation`.
    pub(crate) fn of(creation: &Creation) -> Self {
        HeldCreation {
            author: AgentRef::of(&creation.author),
            nonce: creation.nonce,
            created: creation.created,
        }
    }

    /// The creation as replicated.
    pub(crate) fn to_creation(self) -> Creation {
        Creation {
            author: *self.author,
            nonce: self.nonce,
            created: self.created,
        }
    }
}

impl Serialize for HeldCreation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_creation().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for HeldCreation {
    /// Interns the author: decode only a state this process holds (a stored snapshot).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(HeldCreation::of(&Creation::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AgentId;
    use crate::space::bincode_config;

    #[test]
    fn held_registers_encode_and_merge_as_the_replicated_ones() {
        let at = |ms, who: u8| Stamp::new(AgentId([who; 32]), Hlc::at(ms));
        let regs = [
            Lww::new(at(5, 1), "b".to_owned()),
            Lww::new(at(5, 2), "a".to_owned()),
            Lww::new(at(5, 2), "c".to_owned()),
            Lww::new(at(4, 9), "z".to_owned()),
        ];
        for a in &regs {
            let held = HeldLww::of(a);
            let bytes = bincode::serde::encode_to_vec(&held, bincode_config()).unwrap();
            assert_eq!(
                bytes,
                bincode::serde::encode_to_vec(a, bincode_config()).unwrap()
            );
            let (back, _): (HeldLww<String>, usize) =
                bincode::serde::decode_from_slice(&bytes, bincode_config()).unwrap();
            assert_eq!(back, held);
            for b in &regs {
                let mut plain = a.clone();
                plain.merge(b);
                let mut mine = HeldLww::of(a);
                mine.merge(b);
                assert_eq!(mine.to_lww(), plain);
                let mut other = HeldLww::of(a);
                other.merge_held(&HeldLww::of(b));
                assert_eq!(other.to_lww(), plain);
            }
        }
        let creation = Creation {
            author: AgentId([7; 32]),
            nonce: 3,
            created: Hlc::at(9),
        };
        let held = HeldCreation::of(&creation);
        assert_eq!(held.to_creation(), creation);
        assert_eq!(
            bincode::serde::encode_to_vec(held, bincode_config()).unwrap(),
            bincode::serde::encode_to_vec(&creation, bincode_config()).unwrap()
        );
    }
}
