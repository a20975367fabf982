//! Identifiers: agents, procedures, spaces and content hashes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;
use crate::limits::MAX_SPACE_NAME_BYTES;

/// Domain separator of procedure ids, so no other blake3 use can collide with one.
const PROCEDURE_ID_DOMAIN: &[u8] = b"knack/procedure-id/v1";

/// An agent: the 32-byte ed25519 public key it signs its operations with.
///
/// The libp2p peer id of an agent is derived from this key (protocol/ does the mapping), so a
/// signature check proves who wrote an owner-only slot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId(pub [u8; 32]);

/// A procedure's identity: blake3 of (author, space, creation nonce), fixed at creation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProcedureId(pub [u8; 32]);

/// The blake3 hash of a body's bytes: the content address used by every storage tier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

/// The name of a space: 1 to 64 bytes of `a-z`, `0-9`, `.`, `_`, `-`.
///
/// The name is part of the gossip topic (`knack/1/<space>`) and of every procedure id, so it is
/// restricted to characters that are safe in both and in file names.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpaceName(String);

impl ProcedureId {
    /// Derives the id of a procedure created by `author` in `space` with `nonce`.
    ///
    /// The nonce comes from the caller (randomness is an input), so two procedures by the same
    /// author in the same space differ only if their nonces do.
    pub fn derive(author: &AgentId, space: &SpaceName, nonce: u64) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(PROCEDURE_ID_DOMAIN);
        hasher.update(&author.0);
        hasher.update(&(space.as_str().len() as u64).to_le_bytes());
        hasher.update(space.as_str().as_bytes());
        hasher.update(&nonce.to_le_bytes());
        ProcedureId(*hasher.finalize().as_bytes())
    }
}

impl ContentHash {
    /// The content hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }
}

impl SpaceName {
    /// Checks and wraps a space name.
    pub fn new(name: impl Into<String>) -> Result<Self, CrdtError> {
        let name = name.into();
        let valid_char = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-');
        if name.is_empty() || name.len() > MAX_SPACE_NAME_BYTES || !name.chars().all(valid_char) {
            return Err(CrdtError::InvalidSpaceName(name));
        }
        Ok(SpaceName(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SpaceName {
    type Error = CrdtError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        SpaceName::new(value)
    }
}

impl From<SpaceName> for String {
    fn from(value: SpaceName) -> Self {
        value.0
    }
}

impl fmt::Display for SpaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SpaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpaceName({})", self.0)
    }
}

impl FromStr for SpaceName {
    type Err = CrdtError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpaceName::new(s)
    }
}

/// Implements hex `Display`, `Debug` (short form) and `FromStr` for a 32-byte id.
macro_rules! hex_id {
    ($ty:ident, $what:literal) => {
        impl $ty {
            /// The id as 64 lowercase hex digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), &hex::encode(self.0)[..12])
            }
        }

        impl FromStr for $ty {
            type Err = CrdtError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(s, &mut bytes).map_err(|_| CrdtError::InvalidHex {
                    what: $what,
                    input: s.chars().take(80).collect(),
                })?;
                Ok($ty(bytes))
            }
        }
    };
}

hex_id!(AgentId, "agent id");
hex_id!(ProcedureId, "procedure id");
hex_id!(ContentHash, "content hash");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_names_are_checked() {
        assert!(SpaceName::new("team-a.ops_1").is_ok());
        for bad in ["", "Upper", "with space", "slash/", &"x".repeat(65)] {
            assert_eq!(
                SpaceName::new(bad),
                Err(CrdtError::InvalidSpaceName(bad.to_owned())),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn procedure_ids_depend_on_every_input() {
        let a = AgentId([1; 32]);
        let b = AgentId([2; 32]);
        let s = SpaceName::new("s").unwrap();
        let t = SpaceName::new("t").unwrap();
        let base = ProcedureId::derive(&a, &s, 7);
        assert_eq!(base, ProcedureId::derive(&a, &s, 7));
        assert_ne!(base, ProcedureId::derive(&b, &s, 7));
        assert_ne!(base, ProcedureId::derive(&a, &t, 7));
        assert_ne!(base, ProcedureId::derive(&a, &s, 8));
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let id = ProcedureId([0xab; 32]);
        assert_eq!(id.to_hex().parse::<ProcedureId>().unwrap(), id);
        for bad in ["zz", "abcd"] {
            assert_eq!(
                bad.parse::<ProcedureId>(),
                Err(CrdtError::InvalidHex {
                    what: "procedure id",
                    input: bad.into()
                })
            );
        }
    }
}
