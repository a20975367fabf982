//! Scalar quantization: a stored unit vector as `i8` codes and one scale, a query as `i16` codes
//! and one scale, and their dot product in integers.
//!
//! A document vector `v` (unit length) is stored as `c_i = round(127 · v_i / max|v|)` and the
//! scale `s = 1 / ‖c‖`, so that `s · c` is again a unit vector: `dim + 4` bytes instead of
//! `4 · dim`. A query `q` (unit length) becomes `d_i = round(q_i / t)` with
//! `t = max|q| / Q`, `Q` = `query_levels(dim)` (32,767 for `dim` up to 516): exact to about 5
//! significant digits, and `Σ d_i · c_i` cannot overflow an `i32`. The cosine is then
//! `t · s · Σ d_i · c_i`.
//!
//! Error: `|s · c − v| ≤ 2 · √dim · max|v| / 254` (rounding moves each component by at most
//! half a step `max|v| / 127`; normalising at most doubles the distance to a unit vector), and
//! the query's rounding adds at most `√dim · t / 2`. So the cosine the index reports differs from
//! the `f32` cosine by at most [`cosine_error_bound`] — `0.022` for `dim` 8 in the worst case,
//! while on the 384-dimension hashing embeddings the measured error is about `0.002` (their
//! largest component is small, and rounding errors mostly cancel in the sum).

/// Largest stored code.
const CODE_MAX: f32 = 127.0;

/// A stored vector: its codes are written into the caller's buffer, its scale returned.
/// `v` must be a finite unit vector (the index checks and normalises before).
pub(crate) fn quantize_into(v: &[f32], codes: &mut [i8]) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let step = if max > 0.0 { CODE_MAX / max } else { 0.0 };
    let mut norm2 = 0.0f64;
    for (c, x) in codes.iter_mut().zip(v) {
        // In -127..=127 by construction; `as` saturates anyway.
        let code = (x * step).round().clamp(-CODE_MAX, CODE_MAX) as i8;
        norm2 += f64::from(code) * f64::from(code);
        *c = code;
    }
    if norm2 > 0.0 {
        (1.0 / norm2.sqrt()) as f32
    } else {
        0.0
    }
}

/// The vector a stored `codes` and `scale` stand for.
pub(crate) fn dequantize(codes: &[i8], scale: f32) -> Vec<f32> {
    codes.iter().map(|&c| f32::from(c) * scale).collect()
}

/// Levels of a query component for vectors of `dim` components: as many as `i16` holds
/// (32,767), fewer above 516 dimensions so that the integer dot product fits an `i32`.
pub(crate) fn query_levels(dim: usize) -> f32 {
    let fit = i32::MAX as f64 / (CODE_MAX as f64 * dim.max(1) as f64);
    fit.min(f64::from(i16::MAX)).floor() as f32
}

/// A query ready to be scored against stored codes.
#[derive(Debug, Clone)]
pub(crate) struct QuantizedQuery {
    /// The codes, one per component.
    pub(crate) codes: Vec<i16>,
    /// What one unit of `codes` is worth.
    pub(crate) scale: f32,
}

impl QuantizedQuery {
    /// The query for the unit vector `q`.
    pub(crate) fn new(q: &[f32]) -> Self {
        let levels = query_levels(q.len());
        let max = q.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / levels } else { 1.0 };
        let codes = q
            .iter()
            .map(|x| (x / scale).round().clamp(-levels, levels) as i16)
            .collect();
        QuantizedQuery { codes, scale }
    }

    /// The cosine of this query with the stored vector `codes`, `scale`.
    pub(crate) fn cosine(&self, codes: &[i8], scale: f32) -> f32 {
        dot_i16_i8(&self.codes, codes) as f32 * self.scale * scale
    }
}

/// `Σ a_i · b_i` in integers. Written as a plain reduction over lanes of 16 so that the
/// compiler turns it into SIMD multiply-adds (`pmaddwd` on x86-64, `smlal` on aarch64) without
/// `unsafe` or target-specific code. The caller keeps it from overflowing (see
/// [`query_levels`]).
pub(crate) fn dot_i16_i8(a: &[i16], b: &[i8]) -> i32 {
    const LANES: usize = 16;
    let head = a.len().min(b.len()) / LANES * LANES;
    let mut acc = [0i32; LANES];
    for (ca, cb) in a[..head]
        .chunks_exact(LANES)
        .zip(b[..head].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] += i32::from(ca[i]) * i32::from(cb[i]);
        }
    }
    let rest: i32 = a[head..]
        .iter()
        .zip(&b[head..])
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    acc.iter().sum::<i32>() + rest
}

/// The most the cosine a [`crate::VectorIndex`] reports for the unit vectors `q` (query) and
/// `v` (stored) can differ from their `f32` dot product (see the module documentation), plus
/// `f32` rounding.
pub fn cosine_error_bound(q: &[f32], v: &[f32]) -> f32 {
    let root = (v.len() as f32).sqrt();
    let max_v = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let max_q = q.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    root * max_v / CODE_MAX + root * max_q / query_levels(q.len()) / 2.0 + 1e-5
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

    use proptest::prelude::*;

    use super::*;
    use crate::embed::{dot, l2_normalize};

    fn unit(v: Vec<f32>) -> Option<Vec<f32>> {
        let mut v = v;
        l2_normalize(&mut v).then_some(v)
    }

    fn stored(v: &[f32]) -> (Vec<i8>, f32) {
        let mut codes = vec![0i8; v.len()];
        let scale = quantize_into(v, &mut codes);
        (codes, scale)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The quantized cosine is within the stated bound of the `f32` one, and a stored
        /// vector comes back as a unit vector.
        #[test]
        fn quantized_cosine_is_within_the_bound(
            dim in 1usize..700,
            seed in prop::collection::vec(-1.0f32..1.0, 1400),
        ) {
            let q = unit(seed[..dim].to_vec());
            let v = unit(seed[700..700 + dim].to_vec());
            let (Some(q), Some(v)) = (q, v)
            else {
                return Ok(());
            };
            let (codes, scale) = stored(&v);
            let back = dequantize(&codes, scale);
            prop_assert!((dot(&back, &back) - 1.0).abs() < 1e-4);
            let got = QuantizedQuery::new(&q).cosine(&codes, scale);
            let want = dot(&q, &v);
            let bound = cosine_error_bound(&q, &v);
            prop_assert!((got - want).abs() <= bound, "dim {dim}: {got} vs {want}, bound {bound}");
        }

        /// The integer dot product is the plain one, whatever the length.
        #[test]
        fn integer_dot_is_exact(
            pairs in prop::collection::vec((any::<i16>(), any::<i8>()), 0..200),
        ) {
            let (a, b): (Vec<i16>, Vec<i8>) = pairs.into_iter().unzip();
            let want: i64 = a.iter().zip(&b).map(|(&x, &y)| i64::from(x) * i64::from(y)).sum();
            prop_assert_eq!(i64::from(dot_i16_i8(&a, &b)), want);
        }
    }

    /// The largest possible sum fits an `i32` at every dimension.
    #[test]
    fn the_dot_product_cannot_overflow() {
        for dim in [1, 384, 516, 517, 1536, 4096] {
            let levels = query_levels(dim) as i64;
            assert!(levels >= 1);
            assert!(
                levels * 127 * dim as i64 <= i64::from(i32::MAX),
                "dim {dim}"
            );
        }
        let a = vec![i16::MAX; 384];
        let b = vec![i8::MIN; 384];
        assert_eq!(dot_i16_i8(&a, &b), -(32767 * 128 * 384));
    }

    /// On vectors like the embedders' (384 components, none dominant) the error is small.
    #[test]
    fn error_on_spread_vectors_is_small() {
        let mut worst = 0.0f32;
        for i in 0..200u32 {
            let wave = |k: u32| {
                (0..384)
                    .map(|j| ((j * k + i) as f32 * 0.37).sin())
                    .collect()
            };
            let q = unit(wave(3)).unwrap();
            let v = unit(wave(5 + i % 7)).unwrap();
            let (codes, scale) = stored(&v);
            let err = (QuantizedQuery::new(&q).cosine(&codes, scale) - dot(&q, &v)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 0.01, "worst cosine error {worst}");
    }
}
