//! Text to tokens, shared by the lexical index and the hashing embedder.
//!
//! A *word* is a maximal run of letters, digits and the joiners `- _ . / : + # @` (trimmed of
//! joiners at both ends), so tool names, flags, paths and error codes stay whole: `cargo-build`,
//! `pg_restore`, `ENOSPC`, `ImagePullBackOff`, `k8s`. Every word yields:
//! - a [`TokenKind::Compound`] token, the whole word lowercased, when it has joiners inside or
//!   mixes case (`cargo-build`, `imagepullbackoff`);
//! - one [`TokenKind::Part`] token per run of letters and digits, split again at lowercase to
//!   uppercase steps (`cargo`, `build`; `image`, `pull`, `back`, `off`).
//!
//! So the query `cargo-build` finds documents that say `cargo-build` (all three tokens match)
//! and, less strongly, documents that say `cargo build`. Parts carry a light English stem
//! ([`stem`]) so `restarting`, `restarted` and `restarts` meet `restart`; compounds are kept
//! exact. Stop words ([`is_stopword`]) are marked, not dropped: callers decide.

/// Longest word kept whole, in bytes; longer runs are only indexed by their parts.
const MAX_COMPOUND_BYTES: usize = 64;

/// What a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of letters and digits.
    Part,
    /// A whole word with joiners or mixed case, lowercased.
    Compound,
}

/// One token of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The lowercased text (for parts, before stemming).
    pub text: String,
    /// The stem of a part (equal to `text` for compounds and words with digits).
    pub stem: String,
    /// Part or compound.
    pub kind: TokenKind,
    /// Whether the part is an English stop word (never true for compounds).
    pub stop: bool,
}

/// Whether `c` may join letters and digits inside a word (`cargo-build`, `pg_restore`, `v1.2`).
fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '_' | '.' | '/' | ':' | '+' | '#' | '@')
}

/// The tokens of `text`, in order of appearance.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphanumeric() || is_joiner(c))) {
        let word = raw.trim_matches(is_joiner);
        if word.is_empty() {
            continue;
        }
        push_word(word, &mut out);
    }
    out
}

fn push_word(word: &str, out: &mut Vec<Token>) {
    let pieces = split_parts(word);
    let has_joiner = word.chars().any(is_joiner);
    let mixed_case = pieces.len() > 1 && !has_joiner;
    if (has_joiner || mixed_case) && word.len() <= MAX_COMPOUND_BYTES {
        let text = word.to_lowercase();
        out.push(Token {
            stem: text.clone(),
            text,
            kind: TokenKind::Compound,
            stop: false,
        });
    }
    for piece in pieces {
        let text = piece.to_lowercase();
        let stop = is_stopword(&text);
        out.push(Token {
            stem: stem(&text),
            text,
            kind: TokenKind::Part,
            stop,
        });
    }
}

/// Splits a word into runs of letters and digits, and each run at lowercase-to-uppercase steps
/// (`ImagePullBackOff` -> `Image`, `Pull`, `Back`, `Off`). All-caps runs stay whole (`ENOSPC`).
fn split_parts(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for run in word.split(|c: char| !c.is_alphanumeric()) {
        if run.is_empty() {
            continue;
        }
        let mut start = 0;
        let mut prev_lower = false;
        for (i, c) in run.char_indices() {
            if c.is_uppercase() && prev_lower {
                parts.push(&run[start..i]);
                start = i;
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
        parts.push(&run[start..]);
    }
    parts
}

/// A light English stemmer (plural and `-ed`/`-ing` endings, a final `e`, doubled consonants),
/// applied to lowercase alphabetic words of more than three letters; others are returned as
/// they are. It only needs to map the forms of a word to one key, not to produce a real word:
/// `caching`, `cached`, `cache` -> `cach`; `stopped`, `stops` -> `stop`.
pub fn stem(word: &str) -> String {
    if word.len() <= 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return word.to_string();
    }
    let mut w = word.to_string();
    if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with("ies") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w.truncate(w.len() - 1);
    }
    let mut stripped = false;
    if w.ends_with("ing") && w.len() > 5 {
        w.truncate(w.len() - 3);
        stripped = true;
    } else if w.ends_with("ed") && w.len() > 4 {
        w.truncate(w.len() - 2);
        stripped = true;
    }
    if stripped {
        let b = w.as_bytes();
        let n = b.len();
        if n >= 2 && b[n - 1] == b[n - 2] && !matches!(b[n - 1], b'l' | b's' | b'z' | b'e') {
            w.truncate(n - 1);
        }
    }
    if w.ends_with('e') && w.len() > 4 {
        w.truncate(w.len() - 1);
    }
    w
}

/// Whether `word` (lowercase) is a common English word that carries no meaning for search.
///
/// `no` and `not` are not stop words: error messages depend on them.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// Sorted, for binary search.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for",
    "from", "get", "got", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "just", "me", "my", "of", "on", "or", "our", "she", "should", "so", "some",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "too", "us", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "why", "will", "with", "would", "you", "your",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.stem).collect()
    }

    #[test]
    fn stopwords_are_sorted() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn compounds_keep_their_parts() {
        assert_eq!(texts("cargo-build"), vec!["cargo-build", "cargo", "build"]);
        assert_eq!(texts("pg_restore."), vec!["pg_restore", "pg", "restor"]);
        assert_eq!(texts("ENOSPC"), vec!["enospc"]);
        assert_eq!(
            texts("ImagePullBackOff"),
            vec!["imagepullbackoff", "imag", "pull", "back", "off"]
        );
        assert_eq!(texts("k8s --force"), vec!["k8s", "forc"]);
    }

    #[test]
    fn forms_of_a_word_share_a_stem() {
        for group in [
            &["cache", "cached", "caching", "caches"][..],
            &["stop", "stopped", "stopping", "stops"],
            &["restart", "restarted", "restarting", "restarts"],
            &["merge", "merged", "merging", "merges"],
            &["policy", "policies"],
        ] {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(
                stems.windows(2).all(|w| w[0] == w[1]),
                "{group:?} -> {stems:?}"
            );
        }
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("k8s"), "k8s");
    }

    #[test]
    fn stopwords_are_marked() {
        let t = tokenize("how to restart the pod");
        let stops: Vec<bool> = t.iter().map(|t| t.stop).collect();
        assert_eq!(stops, vec![true, true, false, true, false]);
        assert!(!is_stopword("no"));
    }
}
