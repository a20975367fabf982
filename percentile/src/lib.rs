//! Nearest-rank percentiles of measurements: the one definition knack's simulator, testnet
//! and benches report latencies with.
//!
//! The `p`-th percentile of `n` samples sorted ascending is the sample at rank
//! `ceil(p / 100 * n)` (1-based), clamped to `1..=n`: always one of the samples, never an
//! interpolation, so `p0` is the smallest, `p100` the largest and `p50` of an even count the
//! lower middle one. `p` outside `0..=100` is clamped to it; a NaN `p` counts as 0. No samples,
//! no percentile (`None`).
//!
//! ```
//! use knack_percentile::{Sorted, percentile};
//!
//! assert_eq!(percentile(&[30, 10, 20], 50.0), Some(20));
//! let latencies = Sorted::new((1..=100u64).rev().collect());
//! assert_eq!(latencies.percentile(99.0), Some(99));
//! assert_eq!(latencies.max(), Some(100));
//! ```

/// The 0-based index of the `p`-th percentile among `n` sorted samples (`None` when `n` is 0).
pub fn rank(n: usize, p: f64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    // `as` saturates: NaN becomes 0, and the clamp keeps the rank within the samples.
    let rank = (fraction(p) * n as f64).ceil() as usize;
    Some(rank.clamp(1, n) - 1)
}

/// `p` percent as a fraction in `0..=1` (NaN stays NaN and saturates to rank 0 in a cast).
fn fraction(p: f64) -> f64 {
    p.clamp(0.0, 100.0) / 100.0
}

/// The `p`-th percentile of `sorted`, which must be sorted ascending (use [`Sorted`] or
/// [`percentile`] otherwise).
pub fn percentile_of_sorted<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    rank(sorted.len(), p).map(|i| sorted[i])
}

/// The `p`-th percentile of `samples` in any order (sorts a copy; to take several
/// percentiles of the same samples, sort them once with [`Sorted`]).
pub fn percentile<T: Copy + Ord>(samples: &[T], p: f64) -> Option<T> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    percentile_of_sorted(&sorted, p)
}

/// The `p`-th percentile of a histogram whose bucket `i` counts the samples of value `i`
/// (e.g. latencies in whole milliseconds): the value the nearest rank falls on, as if the
/// samples were listed. `None` when it counts nothing.
pub fn percentile_of_histogram(counts: &[u64], p: f64) -> Option<usize> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let target = ((fraction(p) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    counts.iter().position(|&c| {
        seen += c;
        seen >= target
    })
}

/// Samples sorted once, for several percentiles of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sorted<T>(Vec<T>);

impl<T: Copy + Ord> Sorted<T> {
    /// Sorts `samples`.
    pub fn new(mut samples: Vec<T>) -> Self {
        samples.sort_unstable();
        Sorted(samples)
    }
}

impl Sorted<f64> {
    /// Sorts floating-point `samples` by [`f64::total_cmp`] (a NaN sorts after every number).
    pub fn of_f64(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Sorted(samples)
    }
}

impl<T: Copy> Sorted<T> {
    /// The `p`-th percentile (`None` without samples).
    pub fn percentile(&self, p: f64) -> Option<T> {
        percentile_of_sorted(&self.0, p)
    }

    /// The largest sample.
    pub fn max(&self) -> Option<T> {
        self.0.last().copied()
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The samples, ascending.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_samples_no_percentile() {
        assert_eq!(rank(0, 50.0), None);
        assert_eq!(percentile::<u64>(&[], 50.0), None);
        assert_eq!(percentile_of_sorted::<u64>(&[], 0.0), None);
        assert_eq!(percentile_of_histogram(&[], 99.0), None);
        assert_eq!(percentile_of_histogram(&[0, 0, 0], 99.0), None);
        let empty = Sorted::<u64>::new(Vec::new());
        assert_eq!((empty.percentile(100.0), empty.max()), (None, None));
        assert!(empty.is_empty());
    }

    #[test]
    fn one_sample_is_every_percentile() {
        for p in [0.0, 1.0, 50.0, 99.0, 100.0] {
            assert_eq!(percentile(&[7u64], p), Some(7), "p{p}");
            assert_eq!(percentile_of_histogram(&[0, 0, 1], p), Some(2), "p{p}");
        }
    }

    #[test]
    fn nearest_rank_at_p0_p50_p99_p100() {
        let hundred: Vec<u64> = (1..=100).collect();
        let at = |p| percentile_of_sorted(&hundred, p);
        assert_eq!(
            (at(0.0), at(1.0), at(50.0), at(99.0), at(100.0)),
            (Some(1), Some(1), Some(50), Some(99), Some(100))
        );
        // Between ranks: the next sample up, never an interpolation.
        assert_eq!(at(99.5), Some(100));
        assert_eq!(at(0.1), Some(1));
        // An even count's median is the lower middle sample; an odd count's the middle one.
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 50.0), Some(3));
        // p99 of fewer than 100 samples is the largest.
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 99.0), Some(5));
    }

    #[test]
    fn p_outside_0_to_100_is_clamped_and_nan_is_0() {
        let v = [10, 20, 30];
        assert_eq!(percentile(&v, -5.0), Some(10));
        assert_eq!(percentile(&v, 250.0), Some(30));
        assert_eq!(percentile(&v, f64::NAN), Some(10));
        assert_eq!(percentile_of_histogram(&[1, 1, 1], 250.0), Some(2));
        assert_eq!(percentile_of_histogram(&[1, 1, 1], f64::NAN), Some(0));
    }

    #[test]
    fn unsorted_input_is_sorted_first() {
        let shuffled = [9u64, 2, 7, 1, 10, 4, 3, 8, 6, 5];
        assert_eq!(percentile(&shuffled, 0.0), Some(1));
        assert_eq!(percentile(&shuffled, 50.0), Some(5));
        assert_eq!(percentile(&shuffled, 90.0), Some(9));
        assert_eq!(percentile(&shuffled, 100.0), Some(10));
        let sorted = Sorted::new(shuffled.to_vec());
        assert_eq!(sorted.as_slice(), &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!((sorted.percentile(50.0), sorted.max()), (Some(5), Some(10)));
        let floats = Sorted::of_f64(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(floats.percentile(50.0), Some(2.0));
        assert_eq!(floats.percentile(99.0), Some(4.0));
        assert_eq!(floats.len(), 4);
        let durations = Sorted::new(vec![
            std::time::Duration::from_millis(3),
            std::time::Duration::from_millis(1),
        ]);
        assert_eq!(
            durations.percentile(0.0),
            Some(std::time::Duration::from_millis(1))
        );
    }

    #[test]
    fn a_histogram_gives_what_its_listed_samples_give() {
        // Values 0..6 counted 3, 0, 5, 1, 0, 2 times.
        let counts = [3u64, 0, 5, 1, 0, 2];
        let listed: Vec<usize> = counts
            .iter()
            .enumerate()
            .flat_map(|(v, &c)| std::iter::repeat_n(v, c as usize))
            .collect();
        for p in [0.0, 10.0, 27.3, 50.0, 72.7, 73.0, 90.0, 99.0, 100.0] {
            assert_eq!(
                percentile_of_histogram(&counts, p),
                percentile_of_sorted(&listed, p),
                "p{p}"
            );
        }
        assert_eq!(percentile_of_histogram(&counts, 0.0), Some(0));
        assert_eq!(percentile_of_histogram(&counts, 100.0), Some(5));
    }
}
