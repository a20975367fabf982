//! The vector index: nearest neighbours by cosine over unit vectors, keyed by the caller's key.
//!
//! Below [`VectorConfig::exact_threshold`] live vectors a flat scan ([`exact`]) answers: it is
//! exact and, at that size, faster than a graph. From the threshold up, an HNSW graph
//! ([`hnsw`], Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs", 2016/2018, through the `hnsw_rs` crate) answers.
//! `hnsw_rs` cannot delete a point, so a removed or replaced vector leaves a *tombstone* in the
//! graph that searches skip; when tombstones exceed [`HnswParams::max_tombstone_ratio`] of the
//! graph's points the graph is rebuilt from the live vectors.
//!
//! Nothing is persisted: the index lives in memory and is rebuilt from the documents when a
//! process starts (at 100k documents that is the build time reported by the benchmark).
//! The vectors are kept in a flat arena ([`store`]) as well as in the graph (which holds its
//! own copy), so memory is about `2 * 4 * dim` bytes per document with the graph on.

pub mod exact;
pub mod hnsw;
mod store;

use std::hash::Hash;

use crate::error::SearchError;
use crate::vector::hnsw::HnswGraph;
use crate::vector::store::VectorStore;

/// What a key must be: small, comparable (ties are broken by key), hashable and shareable.
pub trait Key: Copy + Eq + Hash + Ord + Send + Sync + 'static {}

impl<T: Copy + Eq + Hash + Ord + Send + Sync + 'static> Key for T {}

/// Parameters of the HNSW graph.
#[derive(Debug, Clone, PartialEq)]
pub struct HnswParams {
    /// Links per node and layer (`M`; layer 0 has `2M`). Default 16. At most 256: `hnsw_rs`
    /// exits the process above that, so [`VectorConfig::validate`] refuses it.
    pub max_connections: usize,
    /// Candidate list size while inserting. Default 100.
    pub ef_construction: usize,
    /// Candidate list size while searching (at least `k`). Default 64: recall@10 0.97 at
    /// 100k documents in the benchmark (see the crate's README).
    pub ef_search: usize,
    /// Share of dead points that triggers a rebuild. Default 0.2.
    pub max_tombstone_ratio: f64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            max_connections: 16,
            ef_construction: 100,
            ef_search: 64,
            max_tombstone_ratio: 0.2,
        }
    }
}

/// Parameters of a [`VectorIndex`].
#[derive(Debug, Clone, PartialEq)]
pub struct VectorConfig {
    /// Vector length.
    pub dim: usize,
    /// Live vectors from which the HNSW graph is built and used. Default 5,000. The graph is
    /// dropped again when the index shrinks below half of it.
    pub exact_threshold: usize,
    /// The graph's parameters.
    pub hnsw: HnswParams,
}

impl VectorConfig {
    /// The defaults for vectors of `dim` components.
    pub fn new(dim: usize) -> Self {
        VectorConfig {
            dim,
            exact_threshold: 5_000,
            hnsw: HnswParams::default(),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SearchError> {
        let bad = |field, value: String, reason| {
            Err(SearchError::InvalidParameter {
                field,
                value,
                reason,
            })
        };
        if self.dim == 0 {
            return bad("dim", "0".into(), "must be at least 1");
        }
        let m = self.hnsw.max_connections;
        if !(2..=256).contains(&m) {
            return bad("max_connections", m.to_string(), "must be within 2..=256");
        }
        if self.hnsw.ef_construction == 0 || self.hnsw.ef_search == 0 {
            return bad(
                "ef",
                format!("{}/{}", self.hnsw.ef_construction, self.hnsw.ef_search),
                "ef_construction and ef_search must be at least 1",
            );
        }
        let r = self.hnsw.max_tombstone_ratio;
        if !(r > 0.0 && r < 1.0) {
            return bad(
                "max_tombstone_ratio",
                r.to_string(),
                "must be within (0, 1)",
            );
        }
        Ok(())
    }
}

/// Which structure answers queries now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorMode {
    /// A flat scan of every vector.
    Exact,
    /// The HNSW graph.
    Hnsw,
}

/// Nearest neighbours by cosine: exact below a size threshold, HNSW above it.
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
/// index.remove(&1);
/// assert_eq!(index.nearest(&[1.0, 0.0], 1)?[0].0, 3);
/// # Ok::<(), knack_search::SearchError>(())
/// ```
pub struct VectorIndex<K: Key> {
    config: VectorConfig,
    store: VectorStore<K>,
    graph: Option<HnswGraph>,
    rebuilds: u64,
}

impl<K: Key> VectorIndex<K> {
    /// An empty index.
    pub fn new(config: VectorConfig) -> Result<Self, SearchError> {
        config.validate()?;
        Ok(VectorIndex {
            store: VectorStore::new(config.dim),
            config,
            graph: None,
            rebuilds: 0,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &VectorConfig {
        &self.config
    }

    /// Changes the HNSW search width (takes effect at the next query; 0 is taken as 1).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.config.hnsw.ef_search = ef.max(1);
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the index holds no vector.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// Whether `key` has a vector.
    pub fn contains(&self, key: &K) -> bool {
        self.store.slot(key).is_some()
    }

    /// The stored vector of `key`.
    pub fn vector(&self, key: &K) -> Option<&[f32]> {
        self.store.slot(key).map(|s| self.store.vector(s))
    }

    /// Which structure answers [`VectorIndex::nearest`] now.
    pub fn mode(&self) -> VectorMode {
        if self.graph.is_some() && self.store.len() >= self.config.exact_threshold {
            VectorMode::Hnsw
        } else {
            VectorMode::Exact
        }
    }

    /// How many times the graph was built (the first build included).
    pub fn graph_builds(&self) -> u64 {
        self.rebuilds
    }

    /// Dead points in the graph (0 without a graph).
    pub fn tombstones(&self) -> usize {
        self.graph.as_ref().map_or(0, HnswGraph::tombstones)
    }

    /// Sets (or replaces) the vector of `key`. The vector must have [`VectorConfig::dim`]
    /// finite components and must not be zero; it is normalised to unit length.
    pub fn upsert(&mut self, key: K, vector: &[f32]) -> Result<(), SearchError> {
        let v = self.checked(vector)?;
        let slot = self.store.upsert(key, &v);
        if let Some(graph) = &mut self.graph {
            graph.insert(slot, &v);
            if graph.needs_rebuild(self.config.hnsw.max_tombstone_ratio) {
                self.build_graph();
            }
        } else if self.store.len() >= self.config.exact_threshold {
            self.build_graph();
        }
        Ok(())
    }

    /// Sets many vectors at once, all or none (every vector is checked first). Faster than
    /// one [`VectorIndex::upsert`] each for a bulk load: a graph that is missing, or that the
    /// batch would fill with more than a tenth of its size, is (re)built once, in parallel.
    pub fn upsert_many(&mut self, items: &[(K, &[f32])]) -> Result<(), SearchError> {
        let checked: Vec<Vec<f32>> = items
            .iter()
            .map(|(_, v)| self.checked(v))
            .collect::<Result<_, _>>()?;
        let slots: Vec<u32> = items
            .iter()
            .zip(&checked)
            .map(|((key, _), v)| self.store.upsert(*key, v))
            .collect();
        let bulk = items.len() * 10 > self.store.len();
        match &mut self.graph {
            Some(graph) if !bulk => {
                for (slot, v) in slots.iter().zip(&checked) {
                    graph.insert(*slot, v);
                }
                if graph.needs_rebuild(self.config.hnsw.max_tombstone_ratio) {
                    self.build_graph();
                }
            }
            Some(_) => self.build_graph(),
            None if self.store.len() >= self.config.exact_threshold => self.build_graph(),
            None => {}
        }
        Ok(())
    }

    /// Removes `key`'s vector; returns whether there was one.
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(slot) = self.store.remove(key) else {
            return false;
        };
        if let Some(graph) = &mut self.graph {
            graph.remove(slot);
            if self.store.len() < self.config.exact_threshold / 2 {
                self.graph = None;
            } else if graph.needs_rebuild(self.config.hnsw.max_tombstone_ratio) {
                self.build_graph();
            }
        }
        true
    }

    /// The `k` keys whose vectors are closest to `query` with their cosines, best first (ties
    /// by key).
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<(K, f32)>, SearchError> {
        let q = self.checked(query)?;
        Ok(self.nearest_unit(&q, k, None))
    }

    /// Like [`VectorIndex::nearest`] with the exact scan, whatever the size (the reference
    /// the benchmark and tests measure recall against).
    pub fn nearest_exact(&self, query: &[f32], k: usize) -> Result<Vec<(K, f32)>, SearchError> {
        let q = self.checked(query)?;
        Ok(exact::nearest(&self.store, &q, k, None))
    }

    /// The `k` nearest keys to `key`'s own vector, `key` excluded; empty if `key` is unknown.
    pub fn nearest_to_key(&self, key: &K, k: usize) -> Vec<(K, f32)> {
        match self.store.slot(key) {
            Some(slot) => {
                let v = self.store.vector(slot).to_vec();
                self.nearest_unit(&v, k, Some(slot))
            }
            None => Vec::new(),
        }
    }

    /// The cosine between `query` (unit length) and `key`'s vector.
    pub fn cosine(&self, query: &[f32], key: &K) -> Option<f32> {
        self.vector(key).map(|v| crate::embed::dot(query, v))
    }

    fn nearest_unit(&self, q: &[f32], k: usize, exclude: Option<u32>) -> Vec<(K, f32)> {
        if k == 0 {
            return Vec::new();
        }
        match (&self.graph, self.mode()) {
            (Some(graph), VectorMode::Hnsw) => {
                let want = k + usize::from(exclude.is_some());
                let mut out: Vec<(K, f32)> = graph
                    .search(q, want, self.config.hnsw.ef_search)
                    .into_iter()
                    .filter(|(slot, _)| Some(*slot) != exclude)
                    .filter_map(|(slot, cos)| self.store.key(slot).map(|key| (key, cos)))
                    .collect();
                out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                out.truncate(k);
                out
            }
            _ => exact::nearest(&self.store, q, k, exclude),
        }
    }

    fn build_graph(&mut self) {
        self.graph = Some(HnswGraph::build(&self.store, &self.config.hnsw));
        self.rebuilds += 1;
    }

    fn checked(&self, vector: &[f32]) -> Result<Vec<f32>, SearchError> {
        if vector.len() != self.config.dim {
            return Err(SearchError::DimensionMismatch {
                expected: self.config.dim,
                got: vector.len(),
            });
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(SearchError::InvalidVector("a component is NaN or infinite"));
        }
        let mut v = vector.to_vec();
        if !crate::embed::l2_normalize(&mut v) {
            return Err(SearchError::InvalidVector("the vector is zero"));
        }
        Ok(v)
    }
}

impl<K: Key + std::fmt::Debug> std::fmt::Debug for VectorIndex<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("len", &self.len())
            .field("mode", &self.mode())
            .field("tombstones", &self.tombstones())
            .finish()
    }
}
