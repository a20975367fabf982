//! The byte layout of store keys, shared by the backends so they order entries identically.
//!
//! Envelope keys are `space \0 author(32) last_seq(8, big-endian)`: one range scan from
//! `after_seq + 1` yields exactly the envelopes holding later ops, in order. The value starts
//! with `first_seq` (8 bytes, big-endian), then the envelope bytes.

use knack_crdt::{AgentId, SpaceName};

use super::{EnvelopeKey, StoreError};

/// Prefix of every key of `space` (and of the author within it, when given).
pub(crate) fn envelope_prefix(space: &SpaceName, author: Option<&AgentId>) -> Vec<u8> {
    let mut key = Vec::with_capacity(space.as_str().len() + 41);
    key.extend_from_slice(space.as_str().as_bytes());
    key.push(0);
    if let Some(author) = author {
        key.extend_from_slice(&author.0);
    }
    key
}

/// The key of an envelope.
pub(crate) fn envelope_key(space: &SpaceName, author: &AgentId, last_seq: u64) -> Vec<u8> {
    let mut key = envelope_prefix(space, Some(author));
    key.extend_from_slice(&last_seq.to_be_bytes());
    key
}

/// The stored value of an envelope.
pub(crate) fn envelope_value(first_seq: u64, bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + bytes.len());
    value.extend_from_slice(&first_seq.to_be_bytes());
    value.extend_from_slice(bytes);
    value
}

/// The author and last sequence number an envelope key of `space` names (without reading the
/// envelope).
pub(crate) fn decode_key(space: &SpaceName, key: &[u8]) -> Result<(AgentId, u64), StoreError> {
    let prefix = space.as_str().len() + 1;
    let corrupt = || StoreError::Corrupt(format!("envelope key of space {space}"));
    if key.len() != prefix + 40 {
        return Err(corrupt());
    }
    let author: [u8; 32] = key[prefix..prefix + 32].try_into().map_err(|_| corrupt())?;
    let last: [u8; 8] = key[prefix + 32..].try_into().map_err(|_| corrupt())?;
    Ok((AgentId(author), u64::from_be_bytes(last)))
}

/// Decodes a stored envelope entry of `space`.
pub(crate) fn decode_envelope(
    space: &SpaceName,
    key: &[u8],
    value: &[u8],
) -> Result<(EnvelopeKey, Vec<u8>), StoreError> {
    let (author, last_seq) = decode_key(space, key)?;
    let first: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("envelope entry of space {space}")))?;
    Ok((
        EnvelopeKey {
            space: space.clone(),
            author,
            first_seq: u64::from_be_bytes(first),
            last_seq,
        },
        value[8..].to_vec(),
    ))
}

/// The envelopes of one author from an ordered iterator of raw entries starting at the first
/// key after the known sequence: stops at the author's last entry, and once `budget_bytes` is
/// spent (always taking the first one). Shared by the backends so they answer alike.
pub(crate) fn take_within_budget<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    space: &SpaceName,
    author: &AgentId,
    entries: impl Iterator<Item = Result<(K, V), StoreError>>,
    budget_bytes: usize,
) -> Result<Vec<(EnvelopeKey, Vec<u8>)>, StoreError> {
    let prefix = envelope_prefix(space, Some(author));
    let mut out = Vec::new();
    let mut spent = 0usize;
    for entry in entries {
        let (key, value) = entry?;
        if !key.as_ref().starts_with(&prefix) {
            break;
        }
        let (key, bytes) = decode_envelope(space, key.as_ref(), value.as_ref())?;
        if !out.is_empty() && spent + bytes.len() > budget_bytes {
            break;
        }
        spent += bytes.len();
        out.push((key, bytes));
    }
    Ok(out)
}

/// The authors with envelopes in `space`, in order, with one seek per author: `first_key_at`
/// answers the first stored key at or after a key (any space), and the cursor jumps from each
/// author's first key past its last possible one. Shared by the backends that can seek.
pub(crate) fn authors_by_seek<K: AsRef<[u8]>>(
    space: &SpaceName,
    mut first_key_at: impl FnMut(&[u8]) -> Result<Option<K>, StoreError>,
) -> Result<Vec<AgentId>, StoreError> {
    let prefix = envelope_prefix(space, None);
    let mut authors = Vec::new();
    let mut cursor = prefix.clone();
    while let Some(key) = first_key_at(&cursor)? {
        if !key.as_ref().starts_with(&prefix) {
            break;
        }
        let (author, _) = decode_key(space, key.as_ref())?;
        cursor = envelope_key(space, &author, u64::MAX);
        cursor.push(0);
        authors.push(author);
    }
    Ok(authors)
}
