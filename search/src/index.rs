//! [`SearchIndex`]: a document's vector and its words, searched together.

use std::collections::HashMap;
use std::sync::Arc;

use crate::embed::Embedder;
use crate::error::SearchError;
use crate::explain::{Explanation, Hit};
use crate::hybrid::{self, Evidence, HybridWeights, candidates_for, evidence_value};
use crate::lexical::{DocumentText, LexicalConfig, LexicalIndex, truncate};
use crate::vector::{Key, VectorConfig, VectorIndex};

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Largest result limit accepted.
pub const MAX_LIMIT: usize = 1000;
/// Documents embedded at once by [`SearchIndex::upsert_batch`].
pub const EMBED_BATCH: usize = 512;

/// A search request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// What the agent wants to do, in its own words (at most [`MAX_QUERY_BYTES`]).
    pub text: String,
    /// The context the agent is in (`deploy`, `ci`, ...): evidence then uses the procedure's
    /// success rate in that context when it has one. It does not change relevance.
    pub context: Option<String>,
    /// How many hits to return, `1..=`[`MAX_LIMIT`].
    pub limit: usize,
}

impl Query {
    /// A query for `limit` hits with no context.
    pub fn new(text: impl Into<String>, limit: usize) -> Self {
        Query {
            text: text.into(),
            context: None,
            limit,
        }
    }

    /// The same query in `context`.
    pub fn in_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Checks the text and the limit.
    pub fn validate(&self) -> Result<(), SearchError> {
        if self.text.len() > MAX_QUERY_BYTES {
            return Err(SearchError::QueryTooLong {
                len: self.text.len(),
                max: MAX_QUERY_BYTES,
            });
        }
        if self.text.trim().is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(SearchError::InvalidLimit {
                limit: self.limit,
                max: MAX_LIMIT,
            });
        }
        Ok(())
    }
}

/// Parameters of a [`SearchIndex`] (the vector dimension comes from the embedder).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// BM25F parameters.
    pub lexical: LexicalConfig,
    /// Bytes of body given to the embedder (the start of it). Default 512.
    pub max_embedded_body_bytes: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            lexical: LexicalConfig::default(),
            max_embedded_body_bytes: 512,
        }
    }
}

/// Hybrid search over documents: an embedder, a [`VectorIndex`] and a [`LexicalIndex`].
///
/// The index is in memory only; a node rebuilds it from its documents at start.
///
/// ```
/// use std::sync::Arc;
/// use knack_search::{DocumentText, HashingEmbedder, HybridWeights, Query, SearchIndex};
///
/// let mut index = SearchIndex::<u32>::new(Arc::new(HashingEmbedder::default()))?;
/// let doc = |name, description| DocumentText { name, description, ..DocumentText::default() };
/// index.upsert(1, &doc("Restart a deployment", "kubectl rollout restart deploy/web"))?;
/// index.upsert(2, &doc("Vacuum a postgres table", "reclaim space after mass deletes"))?;
/// let hits = index.search(&Query::new("how do I restart my pods", 5), |_, _| None,
///                         &HybridWeights::default())?;
/// assert_eq!(hits[0].key, 1);
/// println!("{}", serde_json::to_string(&hits[0].explanation).unwrap());
/// # Ok::<(), knack_search::SearchError>(())
/// ```
pub struct SearchIndex<K: Key> {
    embedder: Arc<dyn Embedder>,
    config: SearchConfig,
    vectors: VectorIndex<K>,
    lexical: LexicalIndex<K>,
    /// Per vector slot, a 64-bit hash of the text indexed there (see
    /// [`SearchIndex::is_current`]): 8 bytes a document, where a caller's own map from key to
    /// fingerprint took 54 at 100k documents.
    fingerprints: Vec<u64>,
}

impl<K: Key> SearchIndex<K> {
    /// An empty index with the default parameters.
    pub fn new(embedder: Arc<dyn Embedder>) -> Result<Self, SearchError> {
        Self::with_config(embedder, SearchConfig::default())
    }

    /// An empty index with `config`.
    pub fn with_config(
        embedder: Arc<dyn Embedder>,
        config: SearchConfig,
    ) -> Result<Self, SearchError> {
        let vectors = VectorIndex::new(VectorConfig::new(embedder.dim()))?;
        let lexical = LexicalIndex::new(config.lexical.clone())?;
        Ok(SearchIndex {
            embedder,
            config,
            vectors,
            lexical,
            fingerprints: Vec::new(),
        })
    }

    /// The embedder.
    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    /// The vector index.
    pub fn vectors(&self) -> &VectorIndex<K> {
        &self.vectors
    }

    /// The lexical index.
    pub fn lexical(&self) -> &LexicalIndex<K> {
        &self.lexical
    }

    /// Documents indexed.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Whether `key` is indexed.
    pub fn contains(&self, key: &K) -> bool {
        self.vectors.contains(key)
    }

    /// The text given to the embedder for `doc`: name, description, tags and the start of the
    /// body, one sentence each.
    pub fn embedding_text(&self, doc: &DocumentText<'_>) -> String {
        let mut text = String::with_capacity(256);
        text.push_str(doc.name.trim());
        for part in [doc.description.trim(), &doc.tags.join(", ")] {
            if !part.is_empty() {
                text.push_str(". ");
                text.push_str(part);
            }
        }
        if let Some(body) = doc.body {
            let body = truncate(body.trim(), self.config.max_embedded_body_bytes);
            if !body.is_empty() {
                text.push_str(". ");
                text.push_str(body);
            }
        }
        text
    }

    /// Makes room for `additional` more documents (a build that indexes a large space in
    /// batches reserves it all first, so the vectors are not grown by an eighth each time).
    pub fn reserve(&mut self, additional: usize) {
        self.vectors.reserve(additional);
        self.lexical.reserve(additional);
        self.fingerprints.reserve_exact(additional);
    }

    /// Gives back the room posting lists grew into (after a build in batches: a batch of less
    /// than an eighth of the index does not trim them, see [`SearchIndex::upsert_batch`]).
    pub fn shrink_to_fit(&mut self) {
        self.lexical.shrink_to_fit();
        self.fingerprints.shrink_to_fit();
    }

    /// Whether `key` is indexed with exactly the text of `doc` (up to a 64-bit hash collision):
    /// re-indexing it would change nothing.
    pub fn is_current(&self, key: &K, doc: &DocumentText<'_>) -> bool {
        self.held_print(key) == Some(fingerprint(doc))
    }

    /// The hash of the text indexed under `key`, if it is indexed.
    fn held_print(&self, key: &K) -> Option<u64> {
        let slot = self.vectors.slot(key)?;
        self.fingerprints.get(slot as usize).copied()
    }

    /// Indexes (or re-indexes) `key`. If embedding fails nothing changes. A text already
    /// indexed as it is costs a hash (see [`SearchIndex::is_current`]).
    pub fn upsert(&mut self, key: K, doc: &DocumentText<'_>) -> Result<(), SearchError> {
        self.upsert_batch(&[(key, *doc)])
    }

    /// Indexes many documents, embedding them [`EMBED_BATCH`] at a time (faster with a neural
    /// embedder than one by one); those already indexed with the same text are left as they
    /// are. All or nothing: if embedding fails, or gives a vector the index refuses, nothing
    /// changes. Only the quantized vectors of the batch are held until it is applied, not the
    /// embedder's `f32` ones (a quarter of the memory).
    pub fn upsert_batch(&mut self, docs: &[(K, DocumentText<'_>)]) -> Result<(), SearchError> {
        let prints: Vec<u64> = docs.iter().map(|(_, doc)| fingerprint(doc)).collect();
        let fresh: Vec<usize> = (0..docs.len())
            .filter(|&i| self.held_print(&docs[i].0) != Some(prints[i]))
            .collect();
        if fresh.len() < docs.len() {
            let docs: Vec<(K, DocumentText<'_>)> = fresh.iter().map(|&i| docs[i]).collect();
            let prints: Vec<u64> = fresh.iter().map(|&i| prints[i]).collect();
            return self.index_batch(&docs, &prints);
        }
        self.index_batch(docs, &prints)
    }

    /// Indexes `docs` whose texts hash to `prints`.
    fn index_batch(
        &mut self,
        docs: &[(K, DocumentText<'_>)],
        prints: &[u64],
    ) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut staged = self.vectors.staging(docs.len());
        for chunk in docs.chunks(EMBED_BATCH) {
            let texts: Vec<String> = chunk.iter().map(|(_, d)| self.embedding_text(d)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = self.embedder.embed(&refs)?;
            if vectors.len() != chunk.len() {
                return Err(SearchError::Embedding {
                    embedder: self.embedder.name().to_string(),
                    message: format!("{} vectors for {} texts", vectors.len(), chunk.len()),
                });
            }
            for v in &vectors {
                staged.push(v)?;
            }
        }
        let keys: Vec<K> = docs.iter().map(|(key, _)| *key).collect();
        self.vectors.apply(&keys, &staged);
        for (key, print) in keys.iter().zip(prints) {
            if let Some(slot) = self.vectors.slot(key) {
                let slot = slot as usize;
                if slot >= self.fingerprints.len() {
                    let want = self.vectors.slots();
                    self.fingerprints
                        .reserve_exact(want.saturating_sub(self.fingerprints.len()));
                    self.fingerprints.resize(slot + 1, 0);
                }
                self.fingerprints[slot] = *print;
            }
        }
        // A bulk load (an eighth of the index or more) ends by trimming the posting lists to
        // their length: linear in the index, so at most once per eighth of growth.
        let bulk = docs.len() >= 64 && docs.len() * 8 >= self.lexical.len() + docs.len();
        self.lexical.reserve(docs.len());
        for (key, doc) in docs {
            self.lexical.upsert(*key, doc);
        }
        if bulk {
            self.lexical.shrink_to_fit();
        }
        Ok(())
    }

    /// Removes `key`; returns whether it was indexed.
    pub fn remove(&mut self, key: &K) -> bool {
        let v = self.vectors.remove(key);
        let l = self.lexical.remove(key);
        v || l
    }

    /// Up to `k` documents whose vectors are closest to `key`'s own, with cosine at least
    /// `min_cosine`, best first, `key` excluded (for automatic `similar` relations). Empty if
    /// `key` is unknown.
    pub fn similar_to(&self, key: &K, k: usize, min_cosine: f32) -> Vec<(K, f32)> {
        let mut out = self.vectors.nearest_to_key(key, k);
        out.retain(|(_, cos)| *cos >= min_cosine);
        out
    }

    /// The best `query.limit` documents for `query`, each with its [`Explanation`].
    ///
    /// `evidence(key, context)` tells what is known of a candidate's use (`None`: nothing,
    /// counted as neutral); `context` is the query's. See [`crate::hybrid`] for the ranking.
    pub fn search(
        &self,
        query: &Query,
        evidence: impl Fn(K, Option<&str>) -> Option<Evidence>,
        weights: &HybridWeights,
    ) -> Result<Vec<Hit<K>>, SearchError> {
        query.validate()?;
        weights.validate()?;
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let n = candidates_for(query.limit);
        let qv = self
            .embedder
            .embed(&[query.text.as_str()])?
            .pop()
            .ok_or_else(|| SearchError::Embedding {
                embedder: self.embedder.name().to_string(),
                message: "no vector for the query".into(),
            })?;
        let vector_list = self.vectors.nearest(&qv, n)?;
        let vector_keys: Vec<K> = vector_list.iter().map(|(k, _)| *k).collect();
        let (lexical_list, vector_bm25) =
            self.lexical.query_and_score(&query.text, n, &vector_keys);
        let mut bm25: HashMap<K, f64> = lexical_list.iter().copied().collect();
        bm25.extend(vector_keys.iter().copied().zip(vector_bm25));
        let lexical_list = lexical_list.as_slice();

        let vranks = hybrid::ranks(&vector_list, |(_, c)| f64::from(*c));
        let lranks = hybrid::ranks(lexical_list, |(_, s)| *s);
        let mut cands: HashMap<K, Candidate> = HashMap::new();
        for ((key, cos), rank) in vector_list.iter().zip(vranks) {
            cands.entry(*key).or_default().vector_rank = Some(rank);
            cands.entry(*key).or_default().cosine = *cos;
        }
        for ((key, _), rank) in lexical_list.iter().zip(lranks) {
            let c = cands.entry(*key).or_default();
            c.lexical_rank = Some(rank);
            if c.vector_rank.is_none() {
                c.cosine = self.vectors.cosine(&qv, key).unwrap_or(0.0);
            }
        }

        let best_cos = cands.values().map(|c| c.cosine).fold(0.0f32, f32::max);
        let best_bm25 = lexical_list.first().map_or(0.0, |(_, s)| *s);
        let (ws, wl) = (weights.semantic, weights.lexical);
        let wl_eff = if best_bm25 > 0.0 { wl } else { 0.0 };
        let mut scored: Vec<(K, Candidate)> = cands.into_iter().collect();
        for (key, c) in &mut scored {
            c.bm25 = bm25.get(key).copied().unwrap_or(0.0);
            let rrf =
                |rank: Option<usize>, w: f64| rank.map_or(0.0, |r| w / (weights.rrf_k + r as f64));
            c.fused = rrf(c.vector_rank, ws) + rrf(c.lexical_rank, wl);
            let cos_part = if best_cos > 0.0 {
                f64::from(c.cosine.max(0.0) / best_cos)
            } else {
                0.0
            };
            let bm25_part = if best_bm25 > 0.0 {
                c.bm25 / best_bm25
            } else {
                0.0
            };
            c.strength = if ws + wl_eff > 0.0 {
                (ws * cos_part + wl_eff * bm25_part) / (ws + wl_eff)
            } else {
                0.0
            };
        }
        let best_fused = scored.iter().map(|(_, c)| c.fused).fold(0.0, f64::max);
        let use_context = query.context.is_some();
        let mut hits: Vec<Hit<K>> = Vec::with_capacity(scored.len());
        for (key, c) in scored {
            let relevance = if best_fused > 0.0 {
                c.fused / best_fused * c.strength
            } else {
                0.0
            };
            if relevance <= 0.0 {
                continue;
            }
            let ev = evidence(key, query.context.as_deref());
            let value = ev.as_ref().map_or(0.0, |e| evidence_value(e, use_context));
            let evidence_term = weights.evidence * value;
            let final_score = relevance * (1.0 + evidence_term);
            hits.push(Hit {
                key,
                score: final_score,
                explanation: Explanation {
                    cosine: c.cosine,
                    vector_rank: c.vector_rank,
                    lexical_rank: c.lexical_rank,
                    bm25: c.bm25,
                    fused: c.fused,
                    relevance,
                    evidence_term,
                    success_rate: ev.as_ref().map(|e| e.success_rate),
                    context_rate: ev
                        .as_ref()
                        .and_then(|e| e.context_rate)
                        .filter(|_| use_context),
                    crystallized: ev.as_ref().is_some_and(|e| e.crystallized),
                    boost: ev.as_ref().map_or(0.0, |e| e.boost),
                    final_score,
                    promoted: false,
                },
            });
        }
        let items: Vec<(f64, f64, bool, K)> = hits
            .iter()
            .map(|h| {
                (
                    h.score,
                    h.explanation.relevance,
                    h.explanation.crystallized,
                    h.key,
                )
            })
            .collect();
        let order = hybrid::order(&items, weights.near_tie);
        let mut slots: Vec<Option<Hit<K>>> = hits.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(query.limit);
        for (i, promoted) in order.into_iter().take(query.limit) {
            if let Some(mut hit) = slots[i].take() {
                hit.explanation.promoted = promoted;
                out.push(hit);
            }
        }
        Ok(out)
    }
}

impl<K: Key + std::fmt::Debug> std::fmt::Debug for SearchIndex<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("embedder", &self.embedder.name())
            .field("vectors", &self.vectors)
            .field("terms", &self.lexical.terms())
            .finish()
    }
}

/// A 64-bit hash of every field of `doc`, each with its length (SipHash with fixed keys: the
/// same text hashes the same for the life of the process, which is all an index in memory needs).
fn fingerprint(doc: &DocumentText<'_>) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    doc.name.hash(&mut h);
    doc.description.hash(&mut h);
    doc.tags.hash(&mut h);
    doc.body.hash(&mut h);
    h.finish()
}

#[derive(Debug, Clone, Default)]
struct Candidate {
    cosine: f32,
    vector_rank: Option<usize>,
    lexical_rank: Option<usize>,
    bm25: f64,
    fused: f64,
    strength: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node builds an index on a blocking thread and moves it to its actor, which owns it
    /// alone (no lock: searches run on the actor), so it must be `Send`; `Sync` lets a library
    /// user share one behind an `Arc` without a lock.
    #[test]
    fn the_index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SearchIndex<[u8; 32]>>();
        check::<Box<dyn Embedder>>();
    }

    #[test]
    fn upsert_replaces_and_remove_forgets() {
        let mut index =
            SearchIndex::<u8>::new(Arc::new(crate::HashingEmbedder::default())).unwrap();
        let doc = |name| DocumentText {
            name,
            ..DocumentText::default()
        };
        index.upsert(1, &doc("rotate tls certificates")).unwrap();
        index.upsert(1, &doc("vacuum postgres")).unwrap();
        assert_eq!(index.len(), 1);
        assert!(index.lexical().query("tls", 5).is_empty());
        assert_eq!(index.lexical().query("postgres", 5)[0].0, 1);
        assert!(index.remove(&1));
        assert!(!index.remove(&1));
        assert!(index.is_empty() && index.lexical().is_empty());
    }

    /// An embedder that counts the texts it is given.
    struct Counting(crate::HashingEmbedder, std::sync::atomic::AtomicUsize);

    impl Embedder for Counting {
        fn name(&self) -> &str {
            "counting"
        }

        fn dim(&self) -> usize {
            self.0.dim()
        }

        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
            self.1
                .fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
            self.0.embed(texts)
        }
    }

    /// A text indexed as it is is current and not embedded again; any changed field, a removal
    /// or a freed slot given to another key makes it stale.
    #[test]
    fn an_unchanged_text_is_not_indexed_again() {
        let embedder = Arc::new(Counting(
            crate::HashingEmbedder::default(),
            std::sync::atomic::AtomicUsize::new(0),
        ));
        let mut index = SearchIndex::<u8>::new(embedder.clone()).unwrap();
        let embedded = || embedder.1.load(std::sync::atomic::Ordering::Relaxed);
        let tags = ["db"];
        let doc = |name, body| DocumentText {
            name,
            description: "",
            tags: &tags,
            body,
        };
        let a = doc("vacuum postgres", Some("VACUUM FULL"));
        index
            .upsert_batch(&[(1, a), (2, doc("rotate tls", None))])
            .unwrap();
        assert_eq!(embedded(), 2);
        assert!(index.is_current(&1, &a));
        index
            .upsert_batch(&[(1, a), (2, doc("rotate tls", None))])
            .unwrap();
        assert_eq!(embedded(), 2, "nothing changed, nothing embedded");
        for changed in [
            doc("vacuum postgres", Some("VACUUM")),
            doc("vacuum postgres", None),
            doc("vacuum postgresql", Some("VACUUM FULL")),
            DocumentText { tags: &[], ..a },
            DocumentText {
                description: "x",
                ..a
            },
        ] {
            assert!(!index.is_current(&1, &changed));
        }
        index.upsert(1, &doc("vacuum postgres", None)).unwrap();
        assert_eq!(embedded(), 3);
        assert!(!index.is_current(&1, &a));
        assert!(index.lexical().query("full", 5).is_empty());
        index.remove(&1);
        assert!(!index.is_current(&1, &doc("vacuum postgres", None)));
        // Key 3 takes the freed slot: key 1's old text is not current for it.
        index.upsert(3, &doc("restart web", None)).unwrap();
        assert!(!index.is_current(&3, &doc("vacuum postgres", None)));
        assert!(index.is_current(&3, &doc("restart web", None)));
    }
}
