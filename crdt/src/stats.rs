//! Derived statistics: rate and confidence of a procedure's counts.

use crate::outcome::Counts;

/// The z-score of a 95% two-sided interval, used by [`confidence`].
pub const WILSON_Z: f64 = 1.96;

/// Laplace-smoothed success rate: `(s + 1) / (s + f + 2)` (0.5 with no evidence).
pub fn rate(counts: &Counts) -> f64 {
    (counts.successes as f64 + 1.0) / (counts.uses() as f64 + 2.0)
}

/// Lower bound of the Wilson score interval (z = 1.96) of the success proportion `s / (s + f)`;
/// 0 with no evidence. Grows with the amount of evidence, which is what makes it a confidence.
pub fn confidence(counts: &Counts) -> f64 {
    confidence_of(counts.successes as f64, counts.failures as f64)
}

/// [`confidence`] of fractional counts (own counts plus a contagion prior's pseudo-counts).
pub fn confidence_of(successes: f64, failures: f64) -> f64 {
    let n = successes + failures;
    if n <= 0.0 {
        return 0.0;
    }
    let p = successes / n;
    let z2 = WILSON_Z * WILSON_Z;
    let centre = p + z2 / (2.0 * n);
    let margin = WILSON_Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(successes: u64, failures: u64) -> Counts {
        Counts {
            successes,
            failures,
            total_duration_ms: 0,
        }
    }

    #[test]
    fn rate_is_laplace_smoothed() {
        assert_eq!(rate(&counts(0, 0)), 0.5);
        assert_eq!(rate(&counts(3, 1)), 4.0 / 6.0);
    }

    #[test]
    fn wilson_lower_bound_matches_hand_computed_values() {
        assert_eq!(confidence(&counts(0, 0)), 0.0);
        // 10/10: (1 + 1.9208/10 - 1.96*sqrt(0 + 3.8416/400)) / (1 + 0.38416) = 0.72246...
        assert!((confidence(&counts(10, 0)) - 0.722_460).abs() < 1e-5);
        // 19/20: 0.763869...; 20/20: 0.838875...
        assert!((confidence(&counts(19, 1)) - 0.763_869).abs() < 1e-5);
        assert!((confidence(&counts(20, 0)) - 0.838_875).abs() < 1e-5);
        assert!(confidence(&counts(0, 5)) == 0.0);
    }
}
