//! Vectors checked and quantized ahead of being applied to an index all at once.

use crate::error::SearchError;
use crate::vector::checked;
use crate::vector::quantize::quantize_into;

/// Quantized vectors in order, waiting to be given keys by [`crate::VectorIndex`].
pub(crate) struct Staged {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl Staged {
    /// Room for `n` vectors of `dim` components.
    pub(crate) fn with_capacity(dim: usize, n: usize) -> Self {
        Staged {
            dim,
            codes: Vec::with_capacity(dim * n),
            scales: Vec::with_capacity(n),
        }
    }

    /// Checks `v` (length, finite, not zero), normalises and quantizes it.
    pub(crate) fn push(&mut self, v: &[f32]) -> Result<(), SearchError> {
        let unit = checked(self.dim, v)?;
        let start = self.codes.len();
        self.codes.resize(start + self.dim, 0);
        self.scales
            .push(quantize_into(&unit, &mut self.codes[start..]));
        Ok(())
    }

    /// Vectors staged.
    pub(crate) fn len(&self) -> usize {
        self.scales.len()
    }

    /// The codes and scale of the `i`-th vector.
    pub(crate) fn get(&self, i: usize) -> (&[i8], f32) {
        let start = i * self.dim;
        (&self.codes[start..start + self.dim], self.scales[i])
    }
}
