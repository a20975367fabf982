//! Fixed-point numbers in `0..=1`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::CrdtError;

/// A number in `0..=1` stored in millionths.
///
/// Relation strengths and the fractional settings are replicated state: fixed point makes their
/// encoding canonical, their order total (last-writer-wins ties are broken by value) and their
/// value identical on every platform.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Fraction(u32);

impl Fraction {
    /// One million: the denominator.
    pub const SCALE: u32 = 1_000_000;
    /// Zero.
    pub const ZERO: Fraction = Fraction(0);
    /// One.
    pub const ONE: Fraction = Fraction(Self::SCALE);

    /// `millionths / 1_000_000`, or an error above one.
    pub fn from_millionths(millionths: u32) -> Result<Self, CrdtError> {
        if millionths > Self::SCALE {
            return Err(CrdtError::OutOfRange {
                field: "fraction",
                range: "0..=1",
                value: format!("{millionths}/1000000"),
            });
        }
        Ok(Fraction(millionths))
    }

    /// Rounds a finite `value` in `0..=1` to the nearest millionth.
    pub fn from_f64(field: &'static str, value: f64) -> Result<Self, CrdtError> {
        if !value.is_finite() || !(0.0..=1.0).contains(&value) {
            return Err(CrdtError::OutOfRange {
                field,
                range: "0..=1",
                value: value.to_string(),
            });
        }
        // In range by the check above, so the cast cannot saturate.
        Ok(Fraction((value * f64::from(Self::SCALE)).round() as u32))
    }

    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::SCALE)
    }

    /// The value in millionths.
    pub const fn millionths(self) -> u32 {
        self.0
    }

    /// A constant from millionths; panics at compile time when above one.
    pub(crate) const fn const_millionths(millionths: u32) -> Self {
        assert!(millionths <= Self::SCALE);
        Fraction(millionths)
    }
}

impl TryFrom<u32> for Fraction {
    type Error = CrdtError;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Fraction::from_millionths(value)
    }
}

impl From<Fraction> for u32 {
    fn from(value: Fraction) -> Self {
        value.0
    }
}

impl fmt::Debug for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_f64())
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_rejects() {
        assert_eq!(Fraction::from_f64("x", 0.8).unwrap().millionths(), 800_000);
        assert_eq!(Fraction::from_f64("x", 1.0).unwrap(), Fraction::ONE);
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    Fraction::from_f64("x", bad),
                    Err(CrdtError::OutOfRange {
                        field: "x",
                        range: "0..=1",
                        ..
                    })
                ),
                "{bad} accepted"
            );
        }
        assert_eq!(
            Fraction::from_millionths(1_000_001),
            Err(CrdtError::OutOfRange {
                field: "fraction",
                range: "0..=1",
                value: "1000001/1000000".into()
            })
        );
    }
}
