//! # knack-search: hybrid search over procedures
//!
//! An agent asks knack for a procedure in its own words ("my pod keeps restarting, how do I see
//! why"). This crate finds the procedures that answer, and ranks them by what they say *and*
//! by how well they worked:
//!
//! - an [`Embedder`] turns text into unit vectors: [`HashingEmbedder`] (the default; feature
//!   hashing of words, word pairs and character n-grams; no model files, deterministic
//!   everywhere) or, with the `minilm` feature, `MiniLmEmbedder` (all-MiniLM-L6-v2 through
//!   candle, from files the caller provides; see `tools/fetch-minilm.sh`);
//! - a [`VectorIndex`] finds the nearest vectors by an exact scan of vectors quantized to one
//!   byte per component (a quarter of the memory of `f32`, no graph to build);
//! - a [`LexicalIndex`] scores words with BM25F over name, description, tags and body, with a
//!   tokenizer that keeps tool names and error codes whole ([`tokenize`]);
//! - [`SearchIndex`] holds all three and ranks by reciprocal-rank fusion gated by match
//!   strength, blended with the caller's [`Evidence`] of past outcomes ([`hybrid`]); every
//!   [`Hit`] carries an [`Explanation`] of its score.
//!
//! The crate knows nothing of the node: keys are any small copyable type (the node uses a
//! 32-byte procedure id) and evidence comes from a callback. Indexes live in memory and are
//! rebuilt when a process starts.
//!
//! ```
//! use std::sync::Arc;
//! use knack_search::{DocumentText, Evidence, HashingEmbedder, HybridWeights, Query, SearchIndex};
//!
//! let mut index = SearchIndex::<[u8; 32]>::new(Arc::new(HashingEmbedder::default()))?;
//! let tags = ["k8s"];
//! for (id, name) in [(1, "Restart a deployment"), (2, "Roll back a deployment")] {
//!     let doc = DocumentText { name, description: "kubectl rollout", tags: &tags, body: None };
//!     index.upsert([id; 32], &doc)?;
//! }
//! let evidence = |key: [u8; 32], _context: Option<&str>| {
//!     Some(Evidence { success_rate: 0.9, outcomes: 30, ..Evidence::default() })
//!         .filter(|_| key == [2; 32])
//! };
//! let hits = index.search(&Query::new("undo a bad rollout", 3), evidence,
//!                         &HybridWeights::default())?;
//! assert_eq!(hits[0].key, [2; 32]);
//! assert!(hits[0].explanation.evidence_term > 0.0);
//! # Ok::<(), knack_search::SearchError>(())
//! ```

pub mod embed;
pub mod error;
pub mod explain;
pub mod hybrid;
pub mod index;
pub mod lexical;
pub mod tokenize;
pub mod vector;

pub use embed::{Embedder, HashingConfig, HashingEmbedder, dot, l2_normalize};
#[cfg(feature = "minilm")]
pub use embed::{MINILM_SAFETENSORS_SHA256, MiniLmEmbedder};
pub use error::SearchError;
pub use explain::{Explanation, Hit};
pub use hybrid::{Evidence, HybridWeights, evidence_value};
pub use index::{EMBED_BATCH, MAX_LIMIT, MAX_QUERY_BYTES, Query, SearchConfig, SearchIndex};
pub use lexical::{DocumentText, LexicalConfig, LexicalIndex};
pub use vector::{Key, MAX_DIM, VectorConfig, VectorIndex};
