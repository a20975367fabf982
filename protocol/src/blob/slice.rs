//! BLAKE3 verified streaming (bao): outboards, chunk extraction and chunk verification.

use std::io::{self, Cursor, Read, Seek, Write};

use knack_crdt::ContentHash;

use super::{BlobRequest, BlobResponse};
use crate::error::ProtocolError;

/// Length of the header of a bao encoding or slice: the blob's size, little endian.
const HEADER_BYTES: usize = 8;

/// The size in bytes of the outboard of a blob of `size` bytes (about `size / 16`).
pub fn outboard_size(size: u64) -> u64 {
    // bao's own figure: the header, then 64 bytes per parent node (one fewer than chunks).
    u64::try_from(bao::encode::outboard_size(size)).unwrap_or(u64::MAX)
}

/// Reads a whole blob from `content` and writes its outboard (the bao tree without the
/// content) to `outboard`, which must be empty. Returns the blob's blake3 hash.
pub fn write_outboard<R, O>(mut content: R, outboard: O) -> io::Result<ContentHash>
where
    R: Read,
    O: Read + Write + Seek,
{
    let mut encoder = bao::encode::Encoder::new_outboard(outboard);
    io::copy(&mut content, &mut encoder)?;
    let hash = encoder.finalize()?;
    encoder.into_inner().flush()?;
    Ok(ContentHash(*hash.as_bytes()))
}

/// The response to `request` for a blob of `size` bytes, built from the blob and its outboard
/// (as written by [`write_outboard`]). A request starting at or past the end of a non-empty
/// blob is malformed.
pub fn extract_chunk<C, O>(
    content: C,
    outboard: O,
    size: u64,
    request: &BlobRequest,
) -> Result<BlobResponse, ProtocolError>
where
    C: Read + Seek,
    O: Read + Seek,
{
    if size > 0 && request.offset >= size {
        return Err(ProtocolError::Malformed(format!(
            "blob request at offset {} of a {size}-byte blob",
            request.offset
        )));
    }
    let len = request.range_len(size);
    let mut extractor =
        bao::encode::SliceExtractor::new_outboard(content, outboard, request.offset, len);
    let mut slice = Vec::with_capacity(len as usize + len as usize / 16 + 4096);
    extractor
        .read_to_end(&mut slice)
        .map_err(|e| ProtocolError::Malformed(format!("cannot read the blob: {e}")))?;
    Ok(BlobResponse::Chunk {
        hash: request.hash,
        offset: request.offset,
        slice,
    })
}

/// Checks a chunk received for `request` of the blob `request.hash` of `size` bytes and
/// returns its verified bytes: the slice must prove exactly the requested range
/// (`request.range_len(size)` bytes from `request.offset`) against the hash, declare the same
/// size, and carry nothing more.
pub fn verify_chunk(
    request: &BlobRequest,
    size: u64,
    response_offset: u64,
    slice: &[u8],
) -> Result<Vec<u8>, ProtocolError> {
    let bad = |what: String| Err(ProtocolError::Malformed(format!("blob chunk {what}")));
    if response_offset != request.offset {
        return bad(format!(
            "starts at {response_offset}, {} was asked",
            request.offset
        ));
    }
    let Some(header) = slice.get(..HEADER_BYTES) else {
        return bad("is shorter than its header".into());
    };
    let mut declared = [0u8; HEADER_BYTES];
    declared.copy_from_slice(header);
    let declared = u64::from_le_bytes(declared);
    if declared != size {
        return bad(format!("declares a {declared}-byte blob, not {size}"));
    }
    let len = request.range_len(size);
    let hash = blake3::Hash::from_bytes(request.hash.0);
    let mut reader = Cursor::new(slice);
    let mut data = Vec::with_capacity(len as usize);
    let mut decoder = bao::decode::SliceDecoder::new(&mut reader, &hash, request.offset, len);
    if let Err(e) = decoder.read_to_end(&mut data) {
        return bad(format!("does not verify against the blob's hash: {e}"));
    }
    if data.len() as u64 != len {
        return bad(format!("holds {} bytes, {len} were asked", data.len()));
    }
    if reader.position() != slice.len() as u64 {
        return bad("carries trailing bytes".into());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::MAX_BLOB_CHUNK_BYTES;

    fn blob(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
            .collect()
    }

    fn outboard(data: &[u8]) -> (Vec<u8>, ContentHash) {
        let mut out = Cursor::new(Vec::new());
        let hash = write_outboard(data, &mut out).unwrap();
        (out.into_inner(), hash)
    }

    fn request(hash: ContentHash, offset: u64) -> BlobRequest {
        BlobRequest {
            hash,
            offset,
            max_len: MAX_BLOB_CHUNK_BYTES as u32,
        }
    }

    fn slice_of(resp: BlobResponse) -> Vec<u8> {
        match resp {
            BlobResponse::Chunk { slice, .. } => slice,
            other => panic!("not a chunk: {other:?}"),
        }
    }

    #[test]
    fn the_outboard_root_is_the_blake3_hash() {
        for len in [0, 1, 1024, 1025, 600_000] {
            let data = blob(len);
            let (ob, hash) = outboard(&data);
            assert_eq!(hash, ContentHash::of(&data), "len {len}");
            assert_eq!(ob.len() as u64, outboard_size(len as u64));
        }
    }

    #[test]
    fn every_chunk_verifies_and_reassembles_the_blob() {
        let data = blob(3 * MAX_BLOB_CHUNK_BYTES + 777);
        let (ob, hash) = outboard(&data);
        let size = data.len() as u64;
        let mut back = Vec::new();
        let mut offset = 0;
        while offset < size {
            let req = request(hash, offset);
            let resp = extract_chunk(Cursor::new(&data), Cursor::new(&ob), size, &req).unwrap();
            let resp = BlobResponse::decode(&resp.encode()).unwrap();
            let chunk = verify_chunk(&req, size, offset, &slice_of(resp)).unwrap();
            offset += chunk.len() as u64;
            back.extend(chunk);
        }
        assert_eq!(back, data);
    }

    #[test]
    fn the_empty_blob_has_a_verifiable_chunk() {
        let (ob, hash) = outboard(&[]);
        let req = request(hash, 0);
        let resp = extract_chunk(Cursor::new(&[]), Cursor::new(&ob), 0, &req).unwrap();
        assert_eq!(verify_chunk(&req, 0, 0, &slice_of(resp)).unwrap(), b"");
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let data = blob(2 * MAX_BLOB_CHUNK_BYTES);
        let (ob, hash) = outboard(&data);
        let size = data.len() as u64;
        let req = request(hash, MAX_BLOB_CHUNK_BYTES as u64);
        let good =
            slice_of(extract_chunk(Cursor::new(&data), Cursor::new(&ob), size, &req).unwrap());
        // Refused as malformed, for the reason `why` names.
        let refused = |result: Result<Vec<u8>, ProtocolError>, why: &str| match result {
            Err(ProtocolError::Malformed(m)) => assert!(m.contains(why), "{why:?} not in {m:?}"),
            other => panic!("{why}: {other:?}"),
        };
        for at in [0, 7, 8, 100, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            // The first 8 bytes declare the blob's size; the rest is proven by the hash.
            let why = if at < 8 {
                "declares a"
            } else {
                "does not verify"
            };
            refused(verify_chunk(&req, size, req.offset, &bad), why);
        }
        let mut longer = good.clone();
        longer.push(0);
        refused(
            verify_chunk(&req, size, req.offset, &longer),
            "trailing bytes",
        );
        refused(
            verify_chunk(&req, size, req.offset, &good[..good.len() - 1]),
            "does not verify",
        );
        refused(verify_chunk(&req, size, 0, &good), "starts at 0");
        refused(
            verify_chunk(&req, size + 1, req.offset, &good),
            "declares a",
        );
        let other = request(ContentHash::of(b"other"), req.offset);
        refused(
            verify_chunk(&other, size, req.offset, &good),
            "does not verify",
        );
        assert_eq!(
            verify_chunk(&req, size, req.offset, &good).unwrap(),
            data[MAX_BLOB_CHUNK_BYTES..]
        );
    }

    #[test]
    fn requests_past_the_end_are_refused() {
        let data = blob(10);
        let (ob, hash) = outboard(&data);
        let req = request(hash, 10);
        assert!(matches!(
            extract_chunk(Cursor::new(&data), Cursor::new(&ob), 10, &req),
            Err(ProtocolError::Malformed(m)) if m == "blob request at offset 10 of a 10-byte blob"
        ));
    }

    #[test]
    fn a_full_chunk_fits_the_message_limit() {
        let data = blob(64 * MAX_BLOB_CHUNK_BYTES + 3);
        let (ob, hash) = outboard(&data);
        let size = data.len() as u64;
        let req = request(hash, 17 * MAX_BLOB_CHUNK_BYTES as u64);
        let resp = extract_chunk(Cursor::new(&data), Cursor::new(&ob), size, &req).unwrap();
        assert!(resp.encode().len() <= crate::blob::MAX_BLOB_MESSAGE_BYTES);
    }
}
