//! Snapshots stored in pieces: a space's snapshot (~200 MB at 100k procedures) is written as it
//! is encoded and read as it is decoded, never held whole.
//!
//! Layout for space `s`, in the fjall `snapshots` keyspace:
//! - `s \0 <index: u32 big-endian>`: the pieces, at most [`PIECE_BYTES`] each, in order;
//! - `s \x01`: the end record, how many pieces and bytes (see [`End`]);
//! - `s`: a snapshot stored whole, as nodes wrote it before pieces (still read when there is no
//!   end record; the next write deletes it).
//!
//! A snapshot's pieces, the end record and the deletions of what it replaces are one ingestion,
//! which the engine makes visible at once: a reader finds the old snapshot or the new one, never
//! a mix, and a crash while writing leaves the old one.

use std::io::{self, Read, Write};

use knack_crdt::SpaceName;

use super::{StoreError, StoredBytes};

/// Largest piece, in bytes.
pub(crate) const PIECE_BYTES: usize = 1 << 20;

/// The key of piece `index` of `space`'s snapshot.
pub(crate) fn piece_key(space: &SpaceName, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(space.as_str().len() + 5);
    key.extend_from_slice(space.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The key of the end record of `space`'s snapshot.
pub(crate) fn end_key(space: &SpaceName) -> Vec<u8> {
    let mut key = Vec::with_capacity(space.as_str().len() + 1);
    key.extend_from_slice(space.as_str().as_bytes());
    key.push(1);
    key
}

/// The end record: how many pieces a snapshot has and how many bytes they hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct End {
    pub(crate) pieces: u32,
    pub(crate) bytes: u64,
}

impl End {
    /// Its 12 bytes: pieces, then bytes, big-endian.
    pub(crate) fn encode(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.pieces.to_be_bytes());
        out[4..].copy_from_slice(&self.bytes.to_be_bytes());
        out
    }

    /// Reads an end record of `space`.
    pub(crate) fn decode(space: &SpaceName, bytes: &[u8]) -> Result<Self, StoreError> {
        let bad = || StoreError::Corrupt(format!("end record of the snapshot of {space}"));
        let pieces: [u8; 4] = bytes
            .get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        let total: [u8; 8] = bytes
            .get(4..12)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        if bytes.len() != 12 {
            return Err(bad());
        }
        Ok(End {
            pieces: u32::from_be_bytes(pieces),
            bytes: u64::from_be_bytes(total),
        })
    }
}

/// A writer that cuts what it is given into pieces of [`PIECE_BYTES`] and hands each, with its
/// index, to `put` as soon as it is full.
pub(crate) struct PieceWriter<F: FnMut(u32, Vec<u8>) -> Result<(), StoreError>> {
    put: F,
    piece: Vec<u8>,
    end: End,
}

impl<F: FnMut(u32, Vec<u8>) -> Result<(), StoreError>> PieceWriter<F> {
    pub(crate) fn new(put: F) -> Self {
        PieceWriter {
            put,
            piece: Vec::new(),
            end: End::default(),
        }
    }

    fn hand_over(&mut self) -> Result<(), StoreError> {
        let piece = std::mem::take(&mut self.piece);
        self.end.bytes += piece.len() as u64;
        (self.put)(self.end.pieces, piece)?;
        self.end.pieces = self
            .end
            .pieces
            .checked_add(1)
            .ok_or_else(|| StoreError::Write("a snapshot of more than 4 PiB".into()))?;
        Ok(())
    }

    /// Hands over the last piece; the end record of what was written.
    pub(crate) fn finish(mut self) -> Result<End, StoreError> {
        if !self.piece.is_empty() {
            self.hand_over()?;
        }
        Ok(self.end)
    }
}

impl<F: FnMut(u32, Vec<u8>) -> Result<(), StoreError>> Write for PieceWriter<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.piece.capacity() == 0 {
            self.piece.reserve_exact(PIECE_BYTES);
        }
        let n = buf.len().min(PIECE_BYTES - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == PIECE_BYTES {
            self.hand_over().map_err(io::Error::other)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader over a snapshot's pieces, as `(index, bytes)` in order: each must be the next
/// index, and there must be `end.pieces` of them holding `end.bytes`.
pub(crate) struct PieceReader<I> {
    pieces: I,
    space: SpaceName,
    end: End,
    current: Option<StoredBytes>,
    at: usize,
    next: u32,
    read: u64,
}

impl<I: Iterator<Item = Result<(u32, StoredBytes), StoreError>>> PieceReader<I> {
    pub(crate) fn new(space: SpaceName, end: End, pieces: I) -> Self {
        PieceReader {
            pieces,
            space,
            end,
            current: None,
            at: 0,
            next: 0,
            read: 0,
        }
    }

    /// Moves to the next piece; false at the end.
    fn advance(&mut self) -> io::Result<bool> {
        self.current = None;
        self.at = 0;
        if self.next == self.end.pieces {
            if self.read != self.end.bytes {
                return Err(self.damaged(format!(
                    "{} bytes in its pieces, {} recorded",
                    self.read, self.end.bytes
                )));
            }
            return Ok(false);
        }
        match self.pieces.next() {
            Some(Ok((index, bytes))) if index == self.next => {
                self.next += 1;
                self.read += bytes.len() as u64;
                self.current = Some(bytes);
                Ok(true)
            }
            Some(Ok((index, _))) => Err(self.damaged(format!(
                "piece {index} where piece {} was expected",
                self.next
            ))),
            Some(Err(e)) => Err(io::Error::other(e)),
            None => Err(self.damaged(format!(
                "{} of its {} pieces found",
                self.next, self.end.pieces
            ))),
        }
    }

    fn damaged(&self, what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("snapshot of {}: {what}", self.space),
        )
    }
}

impl<I: Iterator<Item = Result<(u32, StoredBytes), StoreError>>> Read for PieceReader<I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(piece) = &self.current
                && self.at < piece.len()
            {
                let n = buf.len().min(piece.len() - self.at);
                buf[..n].copy_from_slice(&piece[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if !self.advance()? {
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

    use super::*;

    fn space() -> SpaceName {
        SpaceName::new("s").unwrap()
    }

    fn written(bytes: &[u8]) -> (Vec<(u32, Vec<u8>)>, End) {
        let mut pieces = Vec::new();
        let mut writer = PieceWriter::new(|index, piece| {
            pieces.push((index, piece));
            Ok(())
        });
        // In uneven writes, as an encoder makes them.
        for part in bytes.chunks(PIECE_BYTES / 3 + 7) {
            writer.write_all(part).unwrap();
        }
        let end = writer.finish().unwrap();
        (pieces, end)
    }

    fn reader(
        pieces: Vec<(u32, Vec<u8>)>,
        end: End,
    ) -> PieceReader<impl Iterator<Item = Result<(u32, StoredBytes), StoreError>>> {
        let pieces = pieces
            .into_iter()
            .map(|(index, bytes)| Ok((index, StoredBytes::new(bytes))));
        PieceReader::new(space(), end, pieces)
    }

    #[test]
    fn bytes_come_back_whole_through_pieces() {
        let bytes: Vec<u8> = (0..PIECE_BYTES * 2 + 12_345).map(|i| i as u8).collect();
        let (pieces, end) = written(&bytes);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|(_, p)| p.len() <= PIECE_BYTES));
        assert_eq!(
            end,
            End {
                pieces: 3,
                bytes: bytes.len() as u64
            }
        );
        assert_eq!(End::decode(&space(), &end.encode()).unwrap(), end);
        let mut back = Vec::new();
        reader(pieces, end).read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes);
        let (none, empty) = written(&[]);
        assert!(none.is_empty());
        assert_eq!(empty, End::default());
    }

    #[test]
    fn a_missing_or_misplaced_piece_is_an_error() {
        let bytes = vec![7u8; PIECE_BYTES * 2 + 1];
        let (pieces, end) = written(&bytes);
        let mut missing = pieces.clone();
        missing.remove(1);
        let mut out = Vec::new();
        let e = reader(missing, end).read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let mut short = pieces.clone();
        short.pop();
        assert!(reader(short, end).read_to_end(&mut Vec::new()).is_err());
        let wrong = End {
            bytes: end.bytes + 1,
            ..end
        };
        assert!(reader(pieces, wrong).read_to_end(&mut Vec::new()).is_err());
        assert!(End::decode(&space(), &[0; 11]).is_err());
    }

    #[test]
    fn keys_sort_as_pieces_then_end() {
        let s = space();
        let mut keys = vec![
            end_key(&s),
            piece_key(&s, 256),
            piece_key(&s, 1),
            piece_key(&s, 0),
        ];
        keys.push(s.as_str().as_bytes().to_vec());
        keys.sort();
        assert_eq!(
            keys,
            vec![
                b"s".to_vec(),
                piece_key(&s, 0),
                piece_key(&s, 1),
                piece_key(&s, 256),
                end_key(&s)
            ]
        );
        // Another space whose name extends this one sorts after every key of this one.
        let longer = SpaceName::new("s0").unwrap();
        assert!(piece_key(&longer, 0) > end_key(&s));
    }
}
