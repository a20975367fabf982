//! Agent ids and context tags held once per process, for the outcome slots a space holds by
//! the hundred thousand.
//!
//! A space at 100k procedures and 1M outcomes holds ~890k outcome slots, each keyed by a
//! 32-byte agent id and most naming one context tag: 50 agents and 3 tags, repeated. Inside
//! the in-memory state a slot refers to its agent and tags by a pointer to the one copy
//! interned here (8 bytes each), compared, ordered and encoded by value, so the state's order
//! and encoding are unchanged.
//!
//! **Only values already accepted into a state are interned** (on merge, and when a stored
//! snapshot is decoded), never what a peer sends before it is validated: interned values are
//! never freed (a handful of bytes per distinct agent or tag the process has held).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{OnceLock, PoisonError, RwLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::AgentId;

/// An agent id interned for the process (see the module doc).
#[derive(Clone, Copy)]
pub(crate) struct AgentRef(&'static AgentId);

/// A context tag interned for the process (see the module doc).
#[derive(Clone, Copy)]
pub(crate) struct TagRef(&'static String);

/// A table of interned values: each held once, found by its value.
type Table<Q, T> = RwLock<HashMap<&'static Q, &'static T>>;

/// Every agent id interned.
static AGENTS: OnceLock<Table<AgentId, AgentId>> = OnceLock::new();

/// Every tag interned.
static TAGS: OnceLock<Table<str, String>> = OnceLock::new();

/// The one copy of `value` in `table`, made by `own` (and leaked for the process) if there was
/// none; `view` is the value an interned copy is found by.
fn intern<T, Q>(
    table: &Table<Q, T>,
    value: &Q,
    own: impl FnOnce() -> T,
    view: fn(&'static T) -> &'static Q,
) -> &'static T
where
    Q: Eq + Hash + ?Sized,
{
    if let Some(held) = table
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(value)
    {
        return held;
    }
    let mut table = table.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(held) = table.get(value) {
        return held;
    }
    let held: &'static T = Box::leak(Box::new(own()));
    table.insert(view(held), held);
    held
}

impl AgentRef {
    /// The interned copy of `id`.
    pub(crate) fn of(id: &AgentId) -> Self {
        let table = AGENTS.get_or_init(RwLock::default);
        AgentRef(intern(table, id, || *id, |held| held))
    }
}

impl TagRef {
    /// The interned copy of `tag`.
    pub(crate) fn of(tag: &str) -> Self {
        let table = TAGS.get_or_init(RwLock::default);
        TagRef(intern(table, tag, || tag.to_owned(), String::as_str))
    }

    /// The tag.
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

impl Deref for AgentRef {
    type Target = AgentId;

    fn deref(&self) -> &AgentId {
        self.0
    }
}

impl Borrow<AgentId> for AgentRef {
    fn borrow(&self) -> &AgentId {
        self.0
    }
}

impl Borrow<str> for TagRef {
    fn borrow(&self) -> &str {
        self.0
    }
}

/// Equality, order and hash by value (as `AgentId`'s, which `Borrow` requires).
macro_rules! by_value {
    ($ty:ident) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }

        impl Eq for $ty {}

        impl PartialOrd for $ty {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $ty {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.cmp(other.0)
            }
        }

        impl Hash for $ty {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.hash(state)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.0, f)
            }
        }
    };
}

by_value!(AgentRef);
by_value!(TagRef);

impl Serialize for AgentRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AgentRef {
    /// Interns: decode only a state this process holds (a stored snapshot), not a peer's bytes.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(AgentRef::of(&AgentId::deserialize(deserializer)?))
    }
}

impl Serialize for TagRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TagRef {
    /// Interns: decode only a state this process holds (a stored snapshot), not a peer's bytes.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(TagRef::of(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_order_by_value() {
        let (a, b) = (AgentId([9; 32]), AgentId([3; 32]));
        assert!(std::ptr::eq(AgentRef::of(&a).0, AgentRef::of(&a).0));
        assert_eq!(AgentRef::of(&a), AgentRef::of(&AgentId([9; 32])));
        assert!(AgentRef::of(&b) < AgentRef::of(&a));
        assert!(std::ptr::eq(TagRef::of("deploy").0, TagRef::of("deploy").0));
        assert!(TagRef::of("b") > TagRef::of("a"));
        assert_eq!(TagRef::of("deploy").as_str(), "deploy");
    }
}
