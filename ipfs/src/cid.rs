//! [`Cid`]: a validated IPFS content identifier, kept in its string form.
//!
//! Only the two forms Kubo prints are accepted: CIDv1 in lowercase base32 (`b...`, Kubo's
//! default for v1) and CIDv0 (`Qm...`, base58btc sha2-256). The string is decoded and its
//! structure checked (version, codec, multihash code, length and digest size), so garbage,
//! truncated or padded strings are refused before they reach a node or a replicated
//! [`Change::Pin`](https://docs.rs/knack-crdt). The codec and hash function are not judged:
//! any well-formed multihash passes. Decoding is done here (a few dozen lines) rather than with
//! the `cid` crate, whose multihash versions pull in yanked dependencies.

use std::fmt;
use std::str::FromStr;

/// Longest CID string accepted, in bytes (the same bound as `knack_crdt::limits::MAX_CID_BYTES`).
pub const MAX_CID_LEN: usize = 128;

/// Multicodec of dag-pb, the codec of every CIDv0.
const DAG_PB: u64 = 0x70;
/// Multihash code of sha2-256.
const SHA2_256: u64 = 0x12;

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// An IPFS CID, validated: CIDv1 in base32 (`bafy...`, `bafk...`) or CIDv0 (`Qm...`).
///
/// ```
/// use knack_ipfs::Cid;
/// let cid: Cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku".parse()?;
/// assert_eq!(cid.version(), 1);
/// assert!("not-a-cid".parse::<Cid>().is_err());
/// # Ok::<(), knack_ipfs::CidError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid(String);

/// Why a string is not an accepted [`Cid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid CID {input:?}: {reason}")]
pub struct CidError {
    /// The string refused (cut to [`MAX_CID_LEN`] characters).
    pub input: String,
    /// Why.
    pub reason: &'static str,
}

/// The parts of a decoded CID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Parts {
    version: u8,
    codec: u64,
    hash_code: u64,
}

impl Cid {
    /// Parses and validates `s`.
    pub fn parse(s: &str) -> Result<Self, CidError> {
        decode(s).map_err(|reason| CidError {
            input: s.chars().take(MAX_CID_LEN).collect(),
            reason,
        })?;
        Ok(Cid(s.to_owned()))
    }

    /// The CID as a string, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The CID version: 0 or 1.
    pub fn version(&self) -> u8 {
        self.parts().version
    }

    /// The multicodec of the content: 0x70 dag-pb (files of more than one block), 0x55 raw
    /// (a single raw leaf), ...
    pub fn codec(&self) -> u64 {
        self.parts().codec
    }

    /// The multihash function code: 0x12 sha2-256, 0x1e blake3, ...
    pub fn hash_code(&self) -> u64 {
        self.parts().hash_code
    }

    fn parts(&self) -> Parts {
        // Validated at construction; a CID that decoded once decodes again.
        decode(&self.0).unwrap_or(Parts {
            version: 0,
            codec: DAG_PB,
            hash_code: SHA2_256,
        })
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Cid {
    type Err = CidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cid::parse(s)
    }
}

impl TryFrom<String> for Cid {
    type Error = CidError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        decode(&s).map_err(|reason| CidError {
            input: s.chars().take(MAX_CID_LEN).collect(),
            reason,
        })?;
        Ok(Cid(s))
    }
}

impl From<Cid> for String {
    fn from(cid: Cid) -> Self {
        cid.0
    }
}

impl AsRef<str> for Cid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn decode(s: &str) -> Result<Parts, &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.len() > MAX_CID_LEN {
        return Err("too long");
    }
    if s.starts_with("Qm") {
        if s.len() != 46 {
            return Err("a CIDv0 (Qm...) is 46 characters");
        }
        let bytes = base58_decode(s).ok_or("not base58btc")?;
        if bytes.len() != 34 || bytes[0] != 0x12 || bytes[1] != 0x20 {
            return Err("a CIDv0 must be a sha2-256 multihash");
        }
        return Ok(Parts {
            version: 0,
            codec: DAG_PB,
            hash_code: SHA2_256,
        });
    }
    let Some(rest) = s.strip_prefix('b') else {
        return Err("only CIDv1 in base32 (b...) and CIDv0 (Qm...) are accepted");
    };
    let bytes = base32_decode(rest).ok_or("not lowercase base32 (RFC 4648, no padding)")?;
    let mut input = bytes.as_slice();
    let version = read_varint(&mut input).ok_or("truncated version")?;
    if version != 1 {
        return Err("CID version must be 1 in a base32 CID");
    }
    let codec = read_varint(&mut input).ok_or("truncated codec")?;
    let hash_code = read_varint(&mut input).ok_or("truncated multihash code")?;
    let len = read_varint(&mut input).ok_or("truncated multihash length")?;
    if len == 0 && hash_code != 0 {
        return Err("empty digest");
    }
    if input.len() as u64 != len {
        return Err("multihash length does not match its digest");
    }
    Ok(Parts {
        version: 1,
        codec,
        hash_code,
    })
}

/// Unsigned LEB128 as multiformats uses it: at most 9 bytes, minimal encoding.
fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return None; // not minimal
            }
            return Some(value);
        }
    }
    None
}

/// Lowercase RFC 4648 base32 without padding. Refuses leftover bits that are not zero, so each
/// CID has one spelling.
fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = BASE32_ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 5 or more leftover bits means a character that encodes nothing; any set bit is garbage.
    (bits < 5 && acc == 0).then_some(out)
}

fn base58_decode(s: &str) -> Option<Vec<u8>> {
    // Big-endian base-256 number, multiplied by 58 and added to per character.
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    for c in s.bytes() {
        let mut carry = BASE58_ALPHABET.iter().position(|&a| a == c)? as u32;
        for byte in out.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|&c| c == b'1').count();
    let mut bytes = vec![0u8; zeros];
    bytes.extend(out);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by Kubo: `echo -n hello | ipfs add --cid-version=1` and the v0 default.
    const V1_RAW: &str = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
    const V1_DAG_PB: &str = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
    const V0: &str = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u";

    #[test]
    fn accepts_kubo_cids() {
        let raw = Cid::parse(V1_RAW).unwrap();
        assert_eq!(
            (raw.version(), raw.codec(), raw.hash_code()),
            (1, 0x55, 0x12)
        );
        let pb = Cid::parse(V1_DAG_PB).unwrap();
        assert_eq!((pb.version(), pb.codec(), pb.hash_code()), (1, 0x70, 0x12));
        let v0 = Cid::parse(V0).unwrap();
        assert_eq!((v0.version(), v0.codec(), v0.hash_code()), (0, 0x70, 0x12));
        assert_eq!(v0.to_string(), V0);
        assert_eq!(String::from(pb.clone()), V1_DAG_PB);
        assert_eq!(Cid::try_from(V1_DAG_PB.to_owned()).unwrap(), pb);
    }

    #[test]
    fn accepts_a_blake3_cid() {
        // bafkr4i...: raw codec, blake3 multihash (0x1e), 32-byte digest.
        let mut bytes = vec![0x01, 0x55, 0x1e, 0x20];
        bytes.extend_from_slice(blake3::hash(b"hello").as_bytes());
        let s = format!("b{}", base32_encode(&bytes));
        let cid = Cid::parse(&s).unwrap();
        assert_eq!(cid.hash_code(), 0x1e);
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "not-a-cid",
            "hello",
            "b",
            "bafy",
            "Qm",
            "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8",
            "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8uu",
            "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs80", // 0 is not base58
            "BAFKREIBM6JG3UX5QUMHCN2B3FLC3TYU6DMLB4XA7U5BF44YEGNRJHC4YEQ",
            "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA",
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4ye", // truncated
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeqa", // extra char
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq====",
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4ye1",
            " bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq",
            "/ipfs/bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq",
        ] {
            let err = Cid::parse(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid CID"), "{bad}: {err}");
        }
        let long = format!("b{}", "a".repeat(200));
        let err = Cid::parse(&long).unwrap_err();
        assert_eq!(err.reason, "too long");
        assert_eq!(err.input.len(), MAX_CID_LEN);
    }

    #[test]
    fn one_spelling_per_cid() {
        // The last character of V1_RAW carries 2 padding bits; any set padding bit is refused.
        let mut s = V1_RAW.to_owned();
        s.pop();
        s.push('r'); // 'q' = 16, 'r' = 17: low bit set
        assert!(Cid::parse(&s).is_err());
    }

    fn base32_encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for &b in bytes {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(BASE32_ALPHABET[((acc >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(BASE32_ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    #[test]
    fn base32_round_trip() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }
    }
}
