//! [`HashingEmbedder`]: deterministic feature hashing, no model files.
//!
//! Features of a text (see [`crate::tokenize`]):
//! - word unigrams: the stems of the words that are not stop words, and the compounds
//!   (`cargo-build`);
//! - word bigrams: consecutive pairs of those stems;
//! - character 3- to 5-grams of each such word with boundary markers (`<pod>` gives `<po`, `pod`,
//!   `od>`, `<pod`, `pod>`, `<pod>`), which tie together forms and near-spellings of a word
//!   (`kubernetes` / `k8s` do not meet; `postgres` / `postgresql` do).
//!
//! Each feature is hashed with 64-bit FNV-1a seeded by its family, then mixed (the finaliser of
//! MurmurHash3); the hash picks a component (`h mod dim`) and a sign (its top bit), so unrelated
//! features cancel out on average instead of piling up (Weinberger et al., "Feature Hashing for
//! Large Scale Multitask Learning", 2009). A feature seen `tf` times adds
//! `sign * weight(family) * (1 + ln tf)`. The vector is then L2-normalised. Nothing depends on
//! the process, the machine or the run: no `RandomState`, no floating-point order that varies.
//!
//! A text with only stop words uses them; a text with no word at all (`"!!!"`) hashes its
//! trimmed bytes as one feature, so every text gets a unit vector.

use crate::embed::{Embedder, l2_normalize};
use crate::error::SearchError;
use crate::tokenize::{TokenKind, tokenize};

const FAMILY_UNIGRAM: u8 = 1;
const FAMILY_BIGRAM: u8 = 2;
const FAMILY_CHARGRAM: u8 = 3;
const FAMILY_RAW: u8 = 4;

/// Parameters of a [`HashingEmbedder`].
#[derive(Debug, Clone, PartialEq)]
pub struct HashingConfig {
    /// Vector length. Default 384 (the size of MiniLM's, so indexes are interchangeable in size).
    pub dim: usize,
    /// Weight of a word unigram. Default 1.0.
    pub unigram_weight: f32,
    /// Weight of a word bigram. Default 0.5.
    pub bigram_weight: f32,
    /// Weight of a character n-gram. Default 0.25: a word has about three times as many
    /// n-grams as letters, so together they still weigh about as much as the word itself.
    pub chargram_weight: f32,
    /// Smallest character n-gram. Default 3.
    pub min_chargram: usize,
    /// Largest character n-gram. Default 5.
    pub max_chargram: usize,
}

impl Default for HashingConfig {
    fn default() -> Self {
        HashingConfig {
            dim: 384,
            unigram_weight: 1.0,
            bigram_weight: 0.5,
            chargram_weight: 0.25,
            min_chargram: 3,
            max_chargram: 5,
        }
    }
}

/// The default embedder: feature hashing of words, word pairs and character n-grams.
///
/// ```
/// use knack_search::{Embedder, HashingEmbedder, dot};
///
/// let e = HashingEmbedder::default();
/// let v = e.embed(&["restart the web pods", "restarting a pod", "rotate TLS certificates"])?;
/// assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]));
/// assert_eq!(v[0], e.embed(&["restart the web pods"])?[0]); // deterministic
/// # Ok::<(), knack_search::SearchError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    config: HashingConfig,
    name: String,
}

impl HashingEmbedder {
    /// An embedder with `config`; fails if the dimension is 0, the n-gram bounds are reversed
    /// or zero, or a weight is negative or not finite.
    pub fn new(config: HashingConfig) -> Result<Self, SearchError> {
        let bad = |field, value: String, reason| {
            Err(SearchError::InvalidParameter {
                field,
                value,
                reason,
            })
        };
        if config.dim == 0 {
            return bad("dim", "0".into(), "must be at least 1");
        }
        if config.min_chargram == 0 || config.min_chargram > config.max_chargram {
            return bad(
                "min_chargram",
                format!("{}..={}", config.min_chargram, config.max_chargram),
                "n-gram bounds must satisfy 1 <= min <= max",
            );
        }
        for (field, w) in [
            ("unigram_weight", config.unigram_weight),
            ("bigram_weight", config.bigram_weight),
            ("chargram_weight", config.chargram_weight),
        ] {
            if !w.is_finite() || w < 0.0 {
                return bad(field, w.to_string(), "must be finite and >= 0");
            }
        }
        let name = format!("hashing-{}", config.dim);
        Ok(HashingEmbedder { config, name })
    }

    /// The parameters.
    pub fn config(&self) -> &HashingConfig {
        &self.config
    }

    /// Embeds one text.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut features: Vec<(u64, u8)> = Vec::with_capacity(64 + text.len() * 3);
        self.features(text, &mut features);
        // Count each feature: sort, then runs of equal hashes.
        features.sort_unstable();
        let mut v = vec![0.0f32; self.config.dim];
        let mut i = 0;
        while i < features.len() {
            let (h, family) = features[i];
            let mut j = i + 1;
            while j < features.len() && features[j] == (h, family) {
                j += 1;
            }
            let tf = (j - i) as f32;
            let weight = self.weight(family) * (1.0 + tf.ln());
            let index = (h % self.config.dim as u64) as usize;
            if h >> 63 == 1 {
                v[index] -= weight;
            } else {
                v[index] += weight;
            }
            i = j;
        }
        if !l2_normalize(&mut v) {
            // Every feature cancelled out (or none had weight): fall back to the raw text.
            let h = feature_hash(FAMILY_RAW, &[text.trim().as_bytes()]);
            v.iter_mut().for_each(|x| *x = 0.0);
            v[(h % self.config.dim as u64) as usize] = 1.0;
        }
        v
    }

    fn weight(&self, family: u8) -> f32 {
        match family {
            FAMILY_UNIGRAM => self.config.unigram_weight,
            FAMILY_BIGRAM => self.config.bigram_weight,
            FAMILY_CHARGRAM => self.config.chargram_weight,
            _ => 1.0,
        }
    }

    fn features(&self, text: &str, out: &mut Vec<(u64, u8)>) {
        let tokens = tokenize(text);
        let use_stops = tokens.iter().all(|t| t.stop);
        let mut prev: Option<&str> = None;
        let mut chars: Vec<char> = Vec::with_capacity(32);
        for t in tokens.iter().filter(|t| use_stops || !t.stop) {
            out.push((
                feature_hash(FAMILY_UNIGRAM, &[t.stem.as_bytes()]),
                FAMILY_UNIGRAM,
            ));
            if t.kind == TokenKind::Compound {
                continue;
            }
            if let Some(p) = prev {
                out.push((
                    feature_hash(FAMILY_BIGRAM, &[p.as_bytes(), b" ", t.stem.as_bytes()]),
                    FAMILY_BIGRAM,
                ));
            }
            prev = Some(&t.stem);
            chars.clear();
            chars.push('<');
            chars.extend(t.text.chars());
            chars.push('>');
            self.chargrams(&chars, out);
        }
        if out.is_empty() {
            out.push((
                feature_hash(FAMILY_RAW, &[text.trim().as_bytes()]),
                FAMILY_RAW,
            ));
        }
    }

    fn chargrams(&self, chars: &[char], out: &mut Vec<(u64, u8)>) {
        let mut buf = [0u8; 4];
        for n in self.config.min_chargram..=self.config.max_chargram {
            if n > chars.len() {
                break;
            }
            for window in chars.windows(n) {
                let mut h = fnv_start(FAMILY_CHARGRAM);
                for c in window {
                    h = fnv_update(h, c.encode_utf8(&mut buf).as_bytes());
                }
                out.push((fmix64(h), FAMILY_CHARGRAM));
            }
        }
    }
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        let config = HashingConfig::default();
        let name = format!("hashing-{}", config.dim);
        HashingEmbedder { config, name }
    }
}

impl Embedder for HashingEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.config.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv_start(family: u8) -> u64 {
    (FNV_OFFSET ^ u64::from(family)).wrapping_mul(FNV_PRIME)
}

fn fnv_update(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// MurmurHash3's 64-bit finaliser: spreads FNV's weak low bits over the whole word.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

fn feature_hash(family: u8, parts: &[&[u8]]) -> u64 {
    let h = parts
        .iter()
        .fold(fnv_start(family), |h, p| fnv_update(h, p));
    fmix64(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;

    const GOLDEN_POD_HASH: u64 = 9_953_305_132_822_860_881;
    const GOLDEN_FINGERPRINT: i64 = -72_819;

    #[test]
    fn vectors_are_unit_length_and_stable() {
        let e = HashingEmbedder::default();
        for text in [
            "",
            "!!!",
            "the",
            "Restart the web pods",
            "ENOSPC: no space left",
        ] {
            let v = e.embed_one(text);
            assert_eq!(v.len(), 384);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}: {norm}");
        }
        // Golden values: the same on every machine and run (no randomized hasher). If this
        // changes, every stored index built with the hashing embedder must be rebuilt.
        assert_eq!(feature_hash(FAMILY_UNIGRAM, &[b"pod"]), GOLDEN_POD_HASH);
        let v = e.embed_one("kubectl rollout restart");
        let fingerprint: i64 = v
            .iter()
            .enumerate()
            .map(|(i, x)| (i as i64 + 1) * (x * 1e4).round() as i64)
            .sum();
        assert_eq!(fingerprint, GOLDEN_FINGERPRINT);
    }

    #[test]
    fn similar_texts_are_closer() {
        let e = HashingEmbedder::default();
        let a = e.embed_one("restart a crashing kubernetes pod");
        let b = e.embed_one("restarting pods in kubernetes");
        let c = e.embed_one("rotate the postgres password");
        assert!(dot(&a, &b) > 0.3, "{}", dot(&a, &b));
        assert!(dot(&a, &c) < 0.15, "{}", dot(&a, &c));
    }

    #[test]
    fn bad_configs_are_refused() {
        for c in [
            HashingConfig {
                dim: 0,
                ..HashingConfig::default()
            },
            HashingConfig {
                min_chargram: 4,
                max_chargram: 3,
                ..HashingConfig::default()
            },
            HashingConfig {
                bigram_weight: f32::NAN,
                ..HashingConfig::default()
            },
        ] {
            assert!(HashingEmbedder::new(c).is_err());
        }
    }
}
