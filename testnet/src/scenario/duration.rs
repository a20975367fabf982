//! Durations in scenario files: `"250ms"`, `"30s"`, `"2m"`, `"1.5s"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as a number and a unit (`ms`, `s`, `m`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    /// Parses `"250ms"`, `"30s"`, `"2m"`, `"1.5s"`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number.parse().map_err(|_| {
            format!("`{text}` is no duration (write e.g. \"500ms\", \"30s\", \"2m\")")
        })?;
        let seconds = match unit.trim() {
            "ms" => value / 1000.0,
            "s" => value,
            "m" | "min" => value * 60.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (use ms, s or m)"
                ));
            }
        };
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(format!("`{text}` is no duration"));
        }
        Ok(Span(Duration::from_secs_f64(seconds)))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Span, D::Error> {
        struct SpanVisitor;
        impl Visitor<'_> for SpanVisitor {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", \"30s\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                Span::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(SpanVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Span::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(Span::parse("30s").unwrap().0, Duration::from_secs(30));
        assert_eq!(Span::parse("2m").unwrap().0, Duration::from_secs(120));
        assert_eq!(Span::parse("1.5s").unwrap().0, Duration::from_millis(1500));
        assert!(Span::parse("5").is_err());
        assert!(Span::parse("5h").is_err());
        assert!(Span::parse("s").is_err());
    }
}
