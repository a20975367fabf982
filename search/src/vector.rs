//! The vector index: nearest neighbours by cosine over unit vectors, keyed by the caller's key.
//!
//! Each vector is stored once, quantized to one signed byte per component plus one `f32` scale
//! ([`quantize`]): 388 bytes at dimension 384 instead of 1,536, and about 0.5 KB per document
//! with the key and its slot. A query is quantized to `i16` and scored against every stored
//! vector by an integer dot product that the compiler vectorises ([`exact`]): the answer is
//! exact up to quantization (cosines within [`quantize`]'s bound of the `f32` ones), there is
//! nothing to build, and a removal or replacement is forgotten at once.
//!
//! Why a scan and not a graph: an HNSW graph (`hnsw_rs`, used before) held its own `f32` copy
//! of every vector plus its links, 5.4 to 6.2 KB per document, took 84 s to build at 100k
//! documents on two cores (searches waited meanwhile) and missed 3% of the true top 10. The
//! scan of 100k quantized vectors (38 MB) answers `nearest(q, 10)` in a few milliseconds on
//! one core (the crate's README has the figures), well within a search's budget, and costs
//! the same for `similar_to`. It grows linearly: past about a million documents per index a
//! graph or a partitioned index over the same codes would pay again.
//!
//! Nothing is persisted: the index lives in memory and is rebuilt from the documents when a
//! process starts, at the cost of embedding them.

pub mod exact;
pub mod quantize;
mod staged;
mod store;

use std::hash::Hash;

use crate::error::SearchError;
use crate::vector::quantize::{QuantizedQuery, dequantize};
use crate::vector::staged::Staged;
use crate::vector::store::VectorStore;

/// What a key must be: small, comparable (ties are broken by key), hashable and shareable.
pub trait Key: Copy + Eq + Hash + Ord + Send + Sync + 'static {}

impl<T: Copy + Eq + Hash + Ord + Send + Sync + 'static> Key for T {}

/// Longest vector accepted: the integer dot product keeps about 4 significant digits of the
/// query up to there (see [`quantize`]).
pub const MAX_DIM: usize = 4096;

/// Parameters of a [`VectorIndex`].
#[derive(Debug, Clone, PartialEq)]
pub struct VectorConfig {
    /// Vector length, `1..=`[`MAX_DIM`].
    pub dim: usize,
}

impl VectorConfig {
    /// The parameters for vectors of `dim` components.
    pub fn new(dim: usize) -> Self {
        VectorConfig { dim }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SearchError> {
        if !(1..=MAX_DIM).contains(&self.dim) {
            return Err(SearchError::InvalidParameter {
                field: "dim",
                value: self.dim.to_string(),
                reason: "must be within 1..=4096",
            });
        }
        Ok(())
    }
}

/// Nearest neighbours by cosine over quantized vectors, by an exact scan.
///
/// ```
/// use knack_search::{VectorConfig, VectorIndex};
///
/// let mut index = VectorIndex::<u32>::new(VectorConfig::new(2))?;
/// index.upsert(1, &[1.0, 0.0])?;
/// index.upsert(2, &[0.0, 1.0])?;
/// index.upsert(3, &[0.6, 0.8])?;
/// let near = index.nearest(&[1.0, 0.0], 2)?;
/// assert_eq!(near.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![1, 3]);
/// assert!((near[1].1 - 0.6).abs() < 0.01);
/// index.remove(&1);
/// assert_eq!(index.nearest(&[1.0, 0.0], 1)?[0].0, 3);
/// # Ok::<(), knack_search::SearchError>(())
/// ```
pub struct VectorIndex<K: Key> {
    config: VectorConfig,
    store: VectorStore<K>,
}

impl<K: Key> VectorIndex<K> {
    /// An empty index.
    pub fn new(config: VectorConfig) -> Result<Self, SearchError> {
        config.validate()?;
        Ok(VectorIndex {
            store: VectorStore::new(config.dim),
            config,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &VectorConfig {
        &self.config
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the index holds no vector.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// Makes room for `additional` more vectors.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.store.reserve(additional);
    }

    /// The slot of `key`'s vector, if it has one.
    pub(crate) fn slot(&self, key: &K) -> Option<u32> {
        self.store.slot(key)
    }

    /// Slots in use or free (the bound of [`VectorIndex::slot`]).
    pub(crate) fn slots(&self) -> usize {
        self.store.slots()
    }

    /// Whether `key` has a vector.
    pub fn contains(&self, key: &K) -> bool {
        self.store.slot(key).is_some()
    }

    /// The stored vector of `key`, as the index sees it: unit length, each component within
    /// `max|v| / 127` of the one given (see [`quantize`]).
    pub fn vector(&self, key: &K) -> Option<Vec<f32>> {
        self.store.slot(key).map(|s| {
            let (codes, scale) = self.store.vector(s);
            dequantize(codes, scale)
        })
    }

    /// Sets (or replaces) the vector of `key`. The vector must have [`VectorConfig::dim`]
    /// finite components and must not be zero; it is normalised to unit length.
    pub fn upsert(&mut self, key: K, vector: &[f32]) -> Result<(), SearchError> {
        let v = checked(self.config.dim, vector)?;
        self.store.upsert(key, &v);
        Ok(())
    }

    /// Sets many vectors at once, all or none (every vector is checked first).
    pub fn upsert_many(&mut self, items: &[(K, &[f32])]) -> Result<(), SearchError> {
        let mut staged = self.staging(items.len());
        for (_, v) in items {
            staged.push(v)?;
        }
        let keys: Vec<K> = items.iter().map(|(key, _)| *key).collect();
        self.apply(&keys, &staged);
        Ok(())
    }

    /// An empty batch of vectors for this index, with room for `n`.
    pub(crate) fn staging(&self, n: usize) -> Staged {
        Staged::with_capacity(self.config.dim, n)
    }

    /// Gives `staged`'s vectors, in order, to `keys` (as many).
    pub(crate) fn apply(&mut self, keys: &[K], staged: &Staged) {
        debug_assert_eq!(keys.len(), staged.len());
        self.store.reserve(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let (codes, scale) = staged.get(i);
            self.store.upsert_quantized(*key, codes, scale);
        }
    }

    /// Removes `key`'s vector; returns whether there was one.
    pub fn remove(&mut self, key: &K) -> bool {
        self.store.remove(key).is_some()
    }

    /// The `k` keys whose vectors are closest to `query` with their cosines, best first (ties
    /// by key).
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<(K, f32)>, SearchError> {
        let q = checked(self.config.dim, query)?;
        Ok(exact::nearest(
            &self.store,
            &QuantizedQuery::new(&q),
            k,
            None,
        ))
    }

    /// The `k` nearest keys to `key`'s own vector, `key` excluded; empty if `key` is unknown.
    pub fn nearest_to_key(&self, key: &K, k: usize) -> Vec<(K, f32)> {
        match self.store.slot(key) {
            Some(slot) => {
                let (codes, scale) = self.store.vector(slot);
                let q = QuantizedQuery::new(&dequantize(codes, scale));
                exact::nearest(&self.store, &q, k, Some(slot))
            }
            None => Vec::new(),
        }
    }

    /// The cosine between `query` (unit length) and `key`'s vector.
    pub fn cosine(&self, query: &[f32], key: &K) -> Option<f32> {
        let slot = self.store.slot(key)?;
        let (codes, scale) = self.store.vector(slot);
        Some(
            codes
                .iter()
                .zip(query)
                .map(|(&c, &x)| f32::from(c) * x)
                .sum::<f32>()
                * scale,
        )
    }
}

/// `vector` at unit length, if it has `dim` finite components and is not zero.
pub(crate) fn checked(dim: usize, vector: &[f32]) -> Result<Vec<f32>, SearchError> {
    if vector.len() != dim {
        return Err(SearchError::DimensionMismatch {
            expected: dim,
            got: vector.len(),
        });
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(SearchError::InvalidVector("a component is NaN or infinite"));
    }
    let mut v = vector.to_vec();
    if !crate::embed::l2_normalize(&mut v) {
        return Err(SearchError::InvalidVector(
            "the vector is zero or its length overflows",
        ));
    }
    Ok(v)
}

impl<K: Key + std::fmt::Debug> std::fmt::Debug for VectorIndex<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("len", &self.len())
            .field("dim", &self.config.dim)
            .finish()
    }
}
