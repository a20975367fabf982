//! Outcome evidence as the contagion index keeps it: a procedure's own counts, and the
//! strength-weighted sums of its neighbourhood's counts.

/// A procedure's own evidence: summed outcome counts (all and per context) and its last use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Own {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    /// `(context id, successes, failures)`, sorted by context id.
    pub(crate) contexts: Vec<(u32, u64, u64)>,
    /// Wall milliseconds of the last use (0: never).
    pub(crate) last_used_ms: u64,
}

/// A change of a procedure's own evidence, as signed amounts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) successes: i128,
    pub(crate) failures: i128,
    /// `(context id, successes, failures)`.
    pub(crate) contexts: Vec<(u32, i128, i128)>,
    pub(crate) last_used_ms: u64,
}

/// The evidence of a procedure's neighbourhood: `Σ w(P) · counts(P)` over every procedure P
/// within the hop limit, `w` the strongest path weight in millionths. Exact integers, so the
/// sums are the same whatever order the evidence arrived in. Kept with wrapping arithmetic: a
/// faulty author may lower its own counts, and modular sums of the exact changes still land
/// on the exact (non-negative) total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Neighbourhood {
    pub(crate) successes: u128,
    pub(crate) failures: u128,
    /// `(context id, successes, failures)`, sorted by context id; each sum as the two halves
    /// of its `u128` (see [`Halves`]).
    pub(crate) contexts: Vec<(u32, Halves, Halves)>,
    /// The latest use of any procedure in the neighbourhood (0: none).
    pub(crate) last_used_ms: u64,
}

/// A `u128` as its low and high `u64`: 8-byte aligned, so a context entry of a neighbourhood
/// takes 40 bytes, not the 48 a `u128`'s 16-byte alignment pads it to (3 MB at 100k procedures
/// in 3 contexts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Halves([u64; 2]);

impl Halves {
    pub(crate) fn get(self) -> u128 {
        u128::from(self.0[0]) | (u128::from(self.0[1]) << 64)
    }

    fn of(value: u128) -> Self {
        Halves([value as u64, (value >> 64) as u64])
    }

    fn wrapping_add(self, delta: u128) -> Self {
        Halves::of(self.get().wrapping_add(delta))
    }
}

impl Own {
    /// Applies `change`.
    pub(crate) fn apply(&mut self, change: &Change) {
        self.successes = add_signed(self.successes, change.successes);
        self.failures = add_signed(self.failures, change.failures);
        for &(ctx, s, f) in &change.contexts {
            let at = match self.contexts.binary_search_by_key(&ctx, |e| e.0) {
                Ok(at) => at,
                Err(at) => {
                    crate::compact::insert_at(&mut self.contexts, at, (ctx, 0, 0));
                    at
                }
            };
            let entry = &mut self.contexts[at];
            entry.1 = add_signed(entry.1, s);
            entry.2 = add_signed(entry.2, f);
        }
        self.last_used_ms = self.last_used_ms.max(change.last_used_ms);
    }
}

impl Change {
    /// Whether the change moves nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.successes == 0
            && self.failures == 0
            && self.contexts.iter().all(|&(_, s, f)| s == 0 && f == 0)
            && self.last_used_ms == 0
    }

    /// Folds `other` into `self`.
    pub(crate) fn add(&mut self, other: &Change) {
        self.successes += other.successes;
        self.failures += other.failures;
        for &(ctx, s, f) in &other.contexts {
            match self.contexts.iter_mut().find(|e| e.0 == ctx) {
                Some(e) => {
                    e.1 += s;
                    e.2 += f;
                }
                None => self.contexts.push((ctx, s, f)),
            }
        }
        self.last_used_ms = self.last_used_ms.max(other.last_used_ms);
    }
}

impl Neighbourhood {
    /// Adds `weight` (millionths) times `change`.
    pub(crate) fn add(&mut self, weight: u64, change: &Change) {
        let w = i128::from(weight);
        // Signed products cast to u128 are their two's complement: wrapping adds stay exact.
        self.successes = self.successes.wrapping_add((w * change.successes) as u128);
        self.failures = self.failures.wrapping_add((w * change.failures) as u128);
        for &(ctx, s, f) in &change.contexts {
            self.add_context(ctx, (w * s) as u128, (w * f) as u128);
        }
        self.last_used_ms = self.last_used_ms.max(change.last_used_ms);
    }

    /// Adds `weight` (millionths) times a procedure's whole own evidence.
    pub(crate) fn add_own(&mut self, weight: u64, own: &Own) {
        let w = u128::from(weight);
        self.successes = self.successes.wrapping_add(w * u128::from(own.successes));
        self.failures = self.failures.wrapping_add(w * u128::from(own.failures));
        for &(ctx, s, f) in &own.contexts {
            self.add_context(ctx, w * u128::from(s), w * u128::from(f));
        }
        self.last_used_ms = self.last_used_ms.max(own.last_used_ms);
    }

    /// Adds (wrapping) another neighbourhood's sums: the pushes a background settle's sum
    /// missed, kept aside while it ran.
    pub(crate) fn absorb(&mut self, other: &Neighbourhood) {
        self.successes = self.successes.wrapping_add(other.successes);
        self.failures = self.failures.wrapping_add(other.failures);
        for &(ctx, s, f) in &other.contexts {
            self.add_context(ctx, s.get(), f.get());
        }
        self.last_used_ms = self.last_used_ms.max(other.last_used_ms);
    }

    /// Adds (wrapping) `(s, f)` to context `ctx`'s sums.
    fn add_context(&mut self, ctx: u32, s: u128, f: u128) {
        if s == 0 && f == 0 {
            return;
        }
        let at = match self.contexts.binary_search_by_key(&ctx, |e| e.0) {
            Ok(at) => at,
            Err(at) => {
                crate::compact::insert_at(
                    &mut self.contexts,
                    at,
                    (ctx, Halves::default(), Halves::default()),
                );
                at
            }
        };
        let entry = &mut self.contexts[at];
        entry.1 = entry.1.wrapping_add(s);
        entry.2 = entry.2.wrapping_add(f);
    }

    /// The weighted sums `(successes, failures)` in millionths, for all evidence or one context.
    pub(crate) fn sums(&self, context: Option<u32>) -> (u128, u128) {
        match context {
            None => (self.successes, self.failures),
            Some(ctx) => self
                .contexts
                .binary_search_by_key(&ctx, |e| e.0)
                .map_or((0, 0), |at| {
                    (self.contexts[at].1.get(), self.contexts[at].2.get())
                }),
        }
    }
}

/// `value + delta`, saturating: own counts are sums of current slot values, never negative,
/// so in exact arithmetic the clamp never bites.
fn add_signed(value: u64, delta: i128) -> u64 {
    (i128::from(value) + delta).clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Halves add as the `u128` they stand for, across the 64-bit carry and for a negative
    /// change (two's complement), and an entry is 40 bytes.
    #[test]
    fn halves_add_as_a_u128() {
        let near = Halves::of(u128::from(u64::MAX));
        assert_eq!(near.wrapping_add(1).get(), 1u128 << 64);
        let lowered = Halves::of(1u128 << 70).wrapping_add((-5i128) as u128);
        assert_eq!(lowered.get(), (1u128 << 70) - 5);
        assert_eq!(Halves::of(u128::MAX).wrapping_add(1).get(), 0);
        assert_eq!(std::mem::size_of::<(u32, Halves, Halves)>(), 40);
    }
}
