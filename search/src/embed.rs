//! Text embedders: the [`Embedder`] trait, the embedded [`HashingEmbedder`] and, with the
//! `minilm` feature, [`MiniLmEmbedder`].

mod hashing;
#[cfg(feature = "minilm")]
mod minilm;

pub use hashing::{HashingConfig, HashingEmbedder};
#[cfg(feature = "minilm")]
pub use minilm::{MINILM_SAFETENSORS_SHA256, MiniLmEmbedder};

use crate::error::SearchError;

/// Turns texts into L2-normalised vectors whose dot product measures how alike the texts are.
///
/// Object safe, so an index can hold a `Box<dyn Embedder>` chosen at run time.
pub trait Embedder: Send + Sync {
    /// A short stable name (`hashing-384`, `all-MiniLM-L6-v2`), for logs and explanations.
    fn name(&self) -> &str;
    /// The length of every vector this embedder returns.
    fn dim(&self) -> usize;
    /// One L2-normalised vector of [`Embedder::dim`] components per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError>;
}

impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        (**self).embed(texts)
    }
}

impl<E: Embedder + ?Sized> Embedder for std::sync::Arc<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        (**self).embed(texts)
    }
}

/// Scales `v` to unit length in place; returns false (and leaves `v`) if it is zero or not
/// finite.
pub fn l2_normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// The dot product of two vectors of equal length (the cosine of unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorise the loop.
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let rest: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}
