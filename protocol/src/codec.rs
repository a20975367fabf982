//! The wire codec: the only module that touches bincode.
//!
//! Every top-level message is one [`PROTOCOL_VERSION`] byte followed by its bincode encoding
//! with [`bincode::config::standard`] (little endian, variable-length integers). Decoding
//! checks the length before anything else, rejects unknown versions, limits what bincode may
//! claim, rejects trailing bytes, and rejects encodings that are not canonical (that would
//! re-encode to other bytes), so a message has exactly one encoding and its hash names it.
//! It never panics, whatever the input (`fuzz/` checks that).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ProtocolError;

/// The version byte in front of every top-level wire message.
/// Version 2: contagion is derived on every replica; the replicated `Boost` change and
/// the per-agent boost slots are gone, and the space settings changed (`contagion_prior_max`).
pub const PROTOCOL_VERSION: u8 = 4;

/// The bincode configuration of every encoding in knack.
const fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The bincode encoding of `value`, without a version byte (for signing).
pub(crate) fn encode_body<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding into a Vec cannot fail: every message type serializes without custom errors and
    // has no unbounded recursion.
    #[allow(clippy::expect_used)]
    bincode::serde::encode_to_vec(value, config()).expect("encoding into memory cannot fail")
}

/// The version byte then the bincode encoding of `value`.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![PROTOCOL_VERSION];
    // As in `encode_body`, writing to a Vec cannot fail.
    #[allow(clippy::expect_used)]
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .expect("encoding into memory cannot fail");
    out
}

/// The length of [`encode`]'s output for `value`, computed without building it.
pub(crate) fn encoded_len<T: Serialize>(value: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    // As in `encode`: measuring cannot fail where writing to memory cannot.
    #[allow(clippy::expect_used)]
    bincode::serde::encode_into_writer(value, &mut size, config())
        .expect("measuring an encoding cannot fail");
    1 + size.bytes_written
}

/// Decodes a top-level message of at most `MAX` bytes made by [`encode`].
pub(crate) fn decode<T, const MAX: usize>(bytes: &[u8]) -> Result<T, ProtocolError>
where
    T: DeserializeOwned + Serialize,
{
    if bytes.len() > MAX {
        return Err(ProtocolError::Oversized {
            len: bytes.len(),
            max: MAX,
        });
    }
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| ProtocolError::Malformed("empty message".into()))?;
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnknownVersion {
            got: version,
            supported: PROTOCOL_VERSION,
        });
    }
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(body, config().with_limit::<MAX>())
            .map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(ProtocolError::Malformed(format!(
            "{} trailing bytes after the message",
            body.len() - used
        )));
    }
    if encode_body(&value) != body {
        return Err(ProtocolError::Malformed(
            "non-canonical encoding (it would re-encode to other bytes)".into(),
        ));
    }
    Ok(value)
}

/// Deserializes a sequence of at most `N` items: serde's own `Vec` impl would accept any
/// length, and each item can be far larger in memory than its one byte on the wire.
pub(crate) fn bounded_vec<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T, const N: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Bounded<T, N> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a sequence of at most {N} items")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let hint = seq.size_hint().unwrap_or(0);
            if hint > N {
                return Err(serde::de::Error::invalid_length(hint, &self));
            }
            let mut out = Vec::with_capacity(hint);
            while let Some(item) = seq.next_element()? {
                if out.len() == N {
                    return Err(serde::de::Error::invalid_length(N + 1, &self));
                }
                out.push(item);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Bounded::<T, N>(PhantomData))
}

/// Serializes one byte string as `bytes` (same wire format as a sequence of `u8`, decoded far
/// faster).
pub(crate) mod byte_buf {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes the bytes.
    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    /// Deserializes the bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        super::byte_lists::ByteBuf::deserialize(deserializer).map(|b| b.0)
    }
}

/// Serializes a list of byte strings as `bytes` (same wire format as a sequence of `u8`,
/// decoded far faster), for `#[serde(with = "crate::codec::byte_lists")]`-like use.
pub(crate) mod byte_lists {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// One byte string, serialized with `serialize_bytes`.
    struct Bytes<'a>(&'a [u8]);

    /// One owned byte string, deserialized with `deserialize_byte_buf`.
    pub(super) struct ByteBuf(pub(super) Vec<u8>);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct BufVisitor;
            impl Visitor<'_> for BufVisitor {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
            }
            deserializer.deserialize_byte_buf(BufVisitor)
        }
    }

    /// Serializes the list.
    pub(crate) fn serialize<S: Serializer>(
        list: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for item in list {
            seq.serialize_element(&Bytes(item))?;
        }
        seq.end()
    }

    /// Deserializes a list of at most `N` byte strings.
    pub(crate) fn deserialize<'de, D, const N: usize>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        struct ListVisitor<const N: usize>(PhantomData<()>);
        impl<'de, const N: usize> Visitor<'de> for ListVisitor<N> {
            type Value = Vec<Vec<u8>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {N} byte strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let hint = seq.size_hint().unwrap_or(0);
                if hint > N {
                    return Err(serde::de::Error::invalid_length(hint, &self));
                }
                let mut out = Vec::with_capacity(hint);
                while let Some(ByteBuf(item)) = seq.next_element()? {
                    if out.len() == N {
                        return Err(serde::de::Error::invalid_length(N + 1, &self));
                    }
                    out.push(item);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(ListVisitor::<N>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Probe {
        n: u64,
        #[serde(deserialize_with = "bounded_vec::<_, _, 3>")]
        items: Vec<u16>,
        #[serde(
            serialize_with = "byte_lists::serialize",
            deserialize_with = "byte_lists::deserialize::<_, 2>"
        )]
        blobs: Vec<Vec<u8>>,
    }

    fn probe() -> Probe {
        Probe {
            n: 300,
            items: vec![1, 2, 3],
            blobs: vec![vec![1, 2], vec![]],
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&probe());
        assert_eq!(bytes[0], PROTOCOL_VERSION);
        assert_eq!(decode::<Probe, 64>(&bytes).unwrap(), probe());
    }

    #[test]
    fn byte_lists_have_the_wire_format_of_nested_sequences() {
        #[derive(Serialize)]
        struct Plain {
            n: u64,
            items: Vec<u16>,
            blobs: Vec<Vec<u8>>,
        }
        let p = probe();
        let plain = Plain {
            n: p.n,
            items: p.items.clone(),
            blobs: p.blobs.clone(),
        };
        assert_eq!(encode(&plain), encode(&p));
    }

    #[test]
    fn rejects_bad_input() {
        let bytes = encode(&probe());
        assert!(matches!(
            decode::<Probe, 4>(&bytes),
            Err(ProtocolError::Oversized { .. })
        ));
        assert!(matches!(
            decode::<Probe, 64>(&[]),
            Err(ProtocolError::Malformed(_))
        ));
        for other in [1, PROTOCOL_VERSION + 1] {
            let mut wrong = bytes.clone();
            wrong[0] = other;
            assert!(matches!(
                decode::<Probe, 64>(&wrong),
                Err(ProtocolError::UnknownVersion { got, .. }) if got == other
            ));
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<Probe, 64>(&trailing),
            Err(ProtocolError::Malformed(m)) if m.contains("trailing")
        ));
        // 300 as a u32-marked varint instead of a u16-marked one.
        let mut long = vec![PROTOCOL_VERSION, 252, 44, 1, 0, 0];
        long.extend_from_slice(&bytes[4..]);
        assert!(matches!(
            decode::<Probe, 64>(&long),
            Err(ProtocolError::Malformed(m)) if m.contains("canonical")
        ));
        let too_many = encode(&Probe {
            items: vec![0; 4],
            ..probe()
        });
        assert!(matches!(
            decode::<Probe, 64>(&too_many),
            Err(ProtocolError::Malformed(m)) if m.contains("at most 3 items")
        ));
        let too_many = encode(&Probe {
            blobs: vec![vec![]; 3],
            ..probe()
        });
        assert!(matches!(
            decode::<Probe, 64>(&too_many),
            Err(ProtocolError::Malformed(m)) if m.contains("at most 2 byte strings")
        ));
    }
}
