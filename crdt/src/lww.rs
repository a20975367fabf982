//! Last-writer-wins register.

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;

/// A last-writer-wins register: the value with the highest [`Stamp`] wins.
///
/// Departure from `crdts::LWWReg`: that register keeps the receiver's value when two writes
/// carry the same marker, so merge stops being commutative if a faulty or malicious author
/// reuses a timestamp. Here equal stamps are broken by the value itself (`V: Ord`), which makes
/// the merge a join on `(stamp, value)` whatever authors do.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lww<V> {
    /// Who wrote the value and when.
    pub stamp: Stamp,
    /// The value.
    pub value: V,
}

impl<V: Ord + Clone> Lww<V> {
    /// A register holding `value` written at `stamp`.
    pub fn new(stamp: Stamp, value: V) -> Self {
        Lww { stamp, value }
    }

    /// Joins `other` into `self`: the greater `(stamp, value)` wins.
    pub fn merge(&mut self, other: &Lww<V>) {
        if (&other.stamp, &other.value) > (&self.stamp, &self.value) {
            *self = other.clone();
        }
    }
}
