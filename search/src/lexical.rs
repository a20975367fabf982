//! The lexical index: BM25F over a document's name, description, tags and body.
//!
//! Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond" (2009), §3.5:
//! for each query term `t` the field frequencies are normalised by field length and weighted,
//! `tf' = Σ_f w_f · tf_f / (1 − b + b · len_f / avglen_f)`, then saturated once,
//! `score += idf(t) · tf' · (k1 + 1) / (k1 + tf')` with
//! `idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5))`. One saturation over all fields (rather than a
//! sum of per-field BM25s) keeps a word repeated in name and tags from counting twice.
//!
//! Terms come from [`crate::tokenize`]: stems of words that are not stop words, plus whole
//! compounds, so `cargo-build` matches `cargo-build` best and `cargo build` too.
//!
//! Memory (0.45 KB per document in the benchmark, whose documents have about 40 words): a
//! term's text is held once (`vocab.rs`), a posting is 8 bytes (a `u32` document slot and one
//! byte of frequency per field: a field counts at most 255 occurrences of a term, which only a
//! body repeating one word more than 255 times in its indexed 8 KiB reaches), a document keeps
//! the ids of its terms (to remove them) delta-coded in one or two bytes each, and a bulk load ends by
//! trimming every posting list to its length ([`LexicalIndex::shrink_to_fit`]).

mod vocab;

use std::collections::HashMap;

use crate::error::SearchError;
use crate::lexical::vocab::Vocab;
use crate::tokenize::tokenize;
use crate::vector::Key;

/// The fields of a document, in index order.
const FIELDS: usize = 4;
const NAME: usize = 0;
const DESCRIPTION: usize = 1;
const TAGS: usize = 2;
const BODY: usize = 3;

/// Parameters of the lexical index.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalConfig {
    /// Term frequency saturation. Default 1.2.
    pub k1: f64,
    /// Length normalisation. Default 0.75.
    pub b: f64,
    /// Weight of the name. Default 3.0 (the highest: a name says what a procedure is for).
    pub name_weight: f64,
    /// Weight of the description. Default 1.0.
    pub description_weight: f64,
    /// Weight of the tags. Default 2.0.
    pub tags_weight: f64,
    /// Weight of the body. Default 0.5.
    pub body_weight: f64,
    /// Bytes of body indexed (the start of it). Default 8 KiB.
    pub max_body_bytes: usize,
}

impl Default for LexicalConfig {
    fn default() -> Self {
        LexicalConfig {
            k1: 1.2,
            b: 0.75,
            name_weight: 3.0,
            description_weight: 1.0,
            tags_weight: 2.0,
            body_weight: 0.5,
            max_body_bytes: 8 * 1024,
        }
    }
}

impl LexicalConfig {
    /// Checks the parameters: `k1 >= 0`, `0 <= b <= 1`, weights finite and `>= 0`.
    pub fn validate(&self) -> Result<(), SearchError> {
        let checks = [
            ("k1", self.k1, self.k1 >= 0.0),
            ("b", self.b, (0.0..=1.0).contains(&self.b)),
            ("name_weight", self.name_weight, self.name_weight >= 0.0),
            (
                "description_weight",
                self.description_weight,
                self.description_weight >= 0.0,
            ),
            ("tags_weight", self.tags_weight, self.tags_weight >= 0.0),
            ("body_weight", self.body_weight, self.body_weight >= 0.0),
        ];
        for (field, value, ok) in checks {
            if !value.is_finite() || !ok {
                return Err(SearchError::InvalidParameter {
                    field,
                    value: value.to_string(),
                    reason: "k1 and weights must be finite and >= 0, b within 0..=1",
                });
            }
        }
        Ok(())
    }

    fn weights(&self) -> [f64; FIELDS] {
        [
            self.name_weight,
            self.description_weight,
            self.tags_weight,
            self.body_weight,
        ]
    }
}

/// The text of a document, by field.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentText<'a> {
    /// The name (weighted highest).
    pub name: &'a str,
    /// The description.
    pub description: &'a str,
    /// The tags.
    pub tags: &'a [&'a str],
    /// The body, if it is text (only its start is indexed).
    pub body: Option<&'a str>,
}

/// One document's occurrences of one term.
#[derive(Debug, Clone, Copy)]
struct Posting {
    /// The document's slot.
    doc: u32,
    /// Occurrences per field, saturating at 255.
    tf: [u8; FIELDS],
}

#[derive(Debug)]
struct Doc<K> {
    key: K,
    len: [u32; FIELDS],
    /// The ids of its terms, to find its postings when it goes (see [`TermIds`]).
    terms: TermIds,
}

/// A document's term ids, ascending, each held as its distance from the previous one in a
/// LEB128 varint: one or two bytes a term where a `u32` took four (at 100k documents of ~35
/// distinct terms, 14 MB became 5).
#[derive(Debug)]
struct TermIds(Box<[u8]>);

impl TermIds {
    /// The list of `ids` (any order, no duplicates).
    fn of(mut ids: Vec<u32>) -> Self {
        ids.sort_unstable();
        let mut bytes = Vec::with_capacity(ids.len() * 2);
        let mut buf = unsigned_varint::encode::u32_buffer();
        let mut previous = 0;
        for id in ids {
            bytes.extend_from_slice(unsigned_varint::encode::u32(id - previous, &mut buf));
            previous = id;
        }
        TermIds(bytes.into_boxed_slice())
    }

    /// The ids, ascending.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut rest: &[u8] = &self.0;
        let mut previous = 0u32;
        std::iter::from_fn(move || {
            // Only `of` wrote these bytes: they decode.
            let (delta, tail) = unsigned_varint::decode::u32(rest).ok()?;
            rest = tail;
            previous += delta;
            Some(previous)
        })
    }
}

/// BM25F over name, description, tags and body.
///
/// ```
/// use knack_search::{DocumentText, LexicalConfig, LexicalIndex};
///
/// let mut index = LexicalIndex::<u32>::new(LexicalConfig::default())?;
/// let doc = |name| DocumentText { name, ..DocumentText::default() };
/// index.upsert(1, &doc("cargo-build fails with ENOSPC"));
/// index.upsert(2, &doc("cargo test in CI"));
/// assert_eq!(index.query("enospc", 10)[0].0, 1);
/// assert_eq!(index.query("cargo", 10).len(), 2);
/// # Ok::<(), knack_search::SearchError>(())
/// ```
#[derive(Debug)]
pub struct LexicalIndex<K: Key> {
    config: LexicalConfig,
    vocab: Vocab,
    postings: Vec<Vec<Posting>>,
    docs: Vec<Option<Doc<K>>>,
    slots: HashMap<K, u32>,
    free_docs: Vec<u32>,
    total_len: [u64; FIELDS],
}

impl<K: Key> LexicalIndex<K> {
    /// An empty index.
    pub fn new(config: LexicalConfig) -> Result<Self, SearchError> {
        config.validate()?;
        Ok(LexicalIndex {
            config,
            vocab: Vocab::default(),
            postings: Vec::new(),
            docs: Vec::new(),
            slots: HashMap::new(),
            free_docs: Vec::new(),
            total_len: [0; FIELDS],
        })
    }

    /// Documents indexed.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Distinct terms indexed.
    pub fn terms(&self) -> usize {
        self.vocab.len()
    }

    /// Whether `key` is indexed.
    pub fn contains(&self, key: &K) -> bool {
        self.slots.contains_key(key)
    }

    /// Makes room for `additional` more documents: exactly for a large batch, else by an
    /// eighth of the index (amortised constant time per document).
    pub fn reserve(&mut self, additional: usize) {
        let want = self.docs.len() + additional.saturating_sub(self.free_docs.len());
        if want > self.docs.capacity() {
            let target = want.max(self.docs.len() + self.docs.len() / 8 + 16);
            self.docs.reserve_exact(target - self.docs.len());
        }
        self.slots.reserve(additional);
    }

    /// Gives back the room posting lists grew into but do not use (after a bulk load: lists
    /// grow by doubling, a quarter of their room is empty on average).
    pub fn shrink_to_fit(&mut self) {
        for list in &mut self.postings {
            list.shrink_to_fit();
        }
        self.postings.shrink_to_fit();
    }

    /// Indexes (or re-indexes) `key`'s text.
    pub fn upsert(&mut self, key: K, doc: &DocumentText<'_>) {
        self.remove(&key);
        let mut counts: HashMap<&str, [u8; FIELDS]> = HashMap::new();
        let mut len = [0u32; FIELDS];
        let body = doc.body.map(|b| truncate(b, self.config.max_body_bytes));
        let tokens = [
            (NAME, tokenize(doc.name)),
            (DESCRIPTION, tokenize(doc.description)),
            (TAGS, doc.tags.iter().flat_map(|t| tokenize(t)).collect()),
            (BODY, body.map(tokenize).unwrap_or_default()),
        ];
        for (field, list) in &tokens {
            for t in list.iter().filter(|t| !t.stop) {
                let tf = &mut counts.entry(t.stem.as_str()).or_insert([0; FIELDS])[*field];
                *tf = tf.saturating_add(1);
                len[*field] += 1;
            }
        }
        let slot = match self.free_docs.pop() {
            Some(slot) => slot,
            None => {
                self.reserve(1);
                self.docs.push(None);
                (self.docs.len() - 1) as u32
            }
        };
        let mut terms = Vec::with_capacity(counts.len());
        for (term, tf) in counts {
            let id = self.vocab.intern(term);
            if id as usize == self.postings.len() {
                self.postings.push(Vec::new());
            }
            self.postings[id as usize].push(Posting { doc: slot, tf });
            terms.push(id);
        }
        for (total, l) in self.total_len.iter_mut().zip(len) {
            *total += u64::from(l);
        }
        self.docs[slot as usize] = Some(Doc {
            key,
            len,
            terms: TermIds::of(terms),
        });
        self.slots.insert(key, slot);
    }

    /// Removes `key`; returns whether it was indexed.
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(slot) = self.slots.remove(key) else {
            return false;
        };
        let Some(doc) = self.docs[slot as usize].take() else {
            return false;
        };
        for id in doc.terms.iter() {
            let list = &mut self.postings[id as usize];
            if let Some(i) = list.iter().position(|p| p.doc == slot) {
                list.swap_remove(i);
            }
            if list.is_empty() {
                *list = Vec::new();
                self.vocab.release(id);
            }
        }
        for (total, l) in self.total_len.iter_mut().zip(doc.len) {
            *total -= u64::from(l);
        }
        self.free_docs.push(slot);
        true
    }

    /// The `n` best matches of `text`, best first (ties by key).
    pub fn query(&self, text: &str, n: usize) -> Vec<(K, f64)> {
        self.query_and_score(text, n, &[]).0
    }

    /// Every document matching at least one term of `text` with its BM25F score, best first
    /// (ties by key).
    pub fn scores(&self, text: &str) -> Vec<(K, f64)> {
        self.query_and_score(text, usize::MAX, &[]).0
    }

    /// The `n` best matches of `text` (as [`LexicalIndex::query`]) and, in one pass, the score
    /// of each of `keys` (0 for a key that matches nothing or is not indexed).
    pub fn query_and_score(&self, text: &str, n: usize, keys: &[K]) -> (Vec<(K, f64)>, Vec<f64>) {
        let acc = self.accumulate(text);
        let lookup = keys
            .iter()
            .map(|k| {
                self.slots
                    .get(k)
                    .and_then(|&slot| acc.get(slot as usize))
                    .copied()
                    .unwrap_or(0.0)
            })
            .collect();
        let mut out: Vec<(K, f64)> = acc
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
            .filter_map(|(slot, s)| Some((self.docs[slot].as_ref()?.key, *s)))
            .collect();
        let by_score = |a: &(K, f64), b: &(K, f64)| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0));
        if n < out.len() {
            if n > 0 {
                out.select_nth_unstable_by(n - 1, by_score);
            }
            out.truncate(n);
        }
        out.sort_by(by_score);
        (out, lookup)
    }

    /// BM25F of `text` for every document slot (0 where nothing matches), in a dense vector:
    /// cheaper than a map when common terms touch many documents.
    fn accumulate(&self, text: &str) -> Vec<f64> {
        let n_docs = self.slots.len() as f64;
        let terms = self.query_terms(text);
        if n_docs == 0.0 || terms.is_empty() {
            return Vec::new();
        }
        let weights = self.config.weights();
        let (k1, b) = (self.config.k1, self.config.b);
        let avg: Vec<f64> = self
            .total_len
            .iter()
            .map(|&t| (t as f64 / n_docs).max(1.0))
            .collect();
        let mut acc = vec![0.0f64; self.docs.len()];
        for id in terms {
            let list = &self.postings[id as usize];
            let df = list.len() as f64;
            let idf = (1.0 + (n_docs - df + 0.5) / (df + 0.5)).ln();
            for p in list {
                let Some(doc) = &self.docs[p.doc as usize] else {
                    continue;
                };
                let mut tf = 0.0;
                for f in 0..FIELDS {
                    if p.tf[f] > 0 {
                        let norm = 1.0 - b + b * f64::from(doc.len[f]) / avg[f];
                        tf += weights[f] * f64::from(p.tf[f]) / norm;
                    }
                }
                acc[p.doc as usize] += idf * tf * (k1 + 1.0) / (k1 + tf);
            }
        }
        acc
    }

    /// The distinct indexed term ids of `text`: its non-stop terms, or all its terms if it has
    /// only stop words.
    fn query_terms(&self, text: &str) -> Vec<u32> {
        let tokens = tokenize(text);
        let only_stops = tokens.iter().all(|t| t.stop);
        let mut ids: Vec<u32> = tokens
            .iter()
            .filter(|t| only_stops || !t.stop)
            .filter_map(|t| self.vocab.id(&t.stem))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

    use super::*;

    fn doc(name: &str) -> DocumentText<'_> {
        DocumentText {
            name,
            ..DocumentText::default()
        }
    }

    #[test]
    fn trimming_and_reserving_change_no_score() {
        let mut index = LexicalIndex::<u32>::new(LexicalConfig::default()).unwrap();
        index.reserve(100);
        for k in 0..100u32 {
            index.upsert(k, &doc(&format!("restart deployment {k} cargo-build")));
        }
        let before = index.scores("restart cargo 7");
        index.shrink_to_fit();
        assert_eq!(index.scores("restart cargo 7"), before);
        assert_eq!(before[0].0, 7);
    }

    #[test]
    fn a_removed_document_releases_its_own_terms() {
        let mut index = LexicalIndex::<u32>::new(LexicalConfig::default()).unwrap();
        index.upsert(1, &doc("vacuum postgres"));
        let terms = index.terms();
        index.upsert(2, &doc("postgres enospc"));
        assert_eq!(index.terms(), terms + 1);
        assert!(index.remove(&2));
        assert_eq!(index.terms(), terms);
        assert!(index.query("enospc", 5).is_empty());
        // The released id serves a new term correctly.
        index.upsert(3, &doc("rotate certificates"));
        assert_eq!(index.query("certificates", 5)[0].0, 3);
        assert_eq!(index.query("postgres", 5)[0].0, 1);
    }

    #[test]
    fn term_ids_come_back_ascending_whatever_their_size() {
        let ids = vec![70_000, 3, 0, 127, 128, 16_384, u32::MAX, 200];
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(TermIds::of(ids).iter().collect::<Vec<_>>(), sorted);
        assert_eq!(TermIds::of(Vec::new()).iter().count(), 0);
        // Close ids take a byte each.
        assert_eq!(TermIds::of((0..100).collect()).0.len(), 100);
    }

    #[test]
    fn a_field_counts_at_most_255_occurrences() {
        let mut index = LexicalIndex::<u32>::new(LexicalConfig::default()).unwrap();
        let body = "flaky ".repeat(300);
        index.upsert(
            1,
            &DocumentText {
                body: Some(&body),
                ..doc("tests")
            },
        );
        let slot = index.slots[&1];
        let id = index.vocab.id("flaky").unwrap();
        let tf = index.postings[id as usize]
            .iter()
            .find(|p| p.doc == slot)
            .map(|p| p.tf[BODY]);
        assert_eq!(tf, Some(255));
        assert_eq!(index.query("flaky", 5)[0].0, 1);
    }
}
