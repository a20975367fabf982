//! Bad input is refused with a typed error, never a panic.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::sync::Arc;

use knack_search::{
    DocumentText, HashingEmbedder, HybridWeights, MAX_QUERY_BYTES, Query, SearchError, SearchIndex,
    VectorConfig, VectorIndex,
};

fn index() -> SearchIndex<u32> {
    let mut index = SearchIndex::new(Arc::new(HashingEmbedder::default())).unwrap();
    let doc = DocumentText {
        name: "Restart a deployment",
        ..DocumentText::default()
    };
    index.upsert(1, &doc).unwrap();
    index
}

fn search(index: &SearchIndex<u32>, q: Query) -> Result<usize, SearchError> {
    index
        .search(&q, |_, _| None, &HybridWeights::default())
        .map(|h| h.len())
}

#[test]
fn empty_and_blank_queries_are_refused() {
    let index = index();
    for text in ["", "   ", "\n\t "] {
        assert!(matches!(
            search(&index, Query::new(text, 5)),
            Err(SearchError::EmptyQuery)
        ));
    }
}

#[test]
fn long_queries_are_refused() {
    let index = index();
    let longest = "restart ".repeat(MAX_QUERY_BYTES / 8);
    assert_eq!(longest.len(), MAX_QUERY_BYTES);
    assert_eq!(search(&index, Query::new(longest.as_str(), 5)).unwrap(), 1);
    match search(&index, Query::new(format!("{longest}x"), 5)) {
        Err(SearchError::QueryTooLong { len, max }) => {
            assert_eq!((len, max), (4097, 4096));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_limits_and_weights_are_refused() {
    let index = index();
    assert!(matches!(
        search(&index, Query::new("restart", 0)),
        Err(SearchError::InvalidLimit { .. })
    ));
    assert!(matches!(
        search(&index, Query::new("restart", 1_000_000)),
        Err(SearchError::InvalidLimit { .. })
    ));
    let bad = HybridWeights {
        evidence: -0.1,
        ..HybridWeights::default()
    };
    let r = index.search(&Query::new("restart", 3), |_, _| None, &bad);
    assert!(matches!(
        r,
        Err(SearchError::InvalidParameter {
            field: "evidence",
            ..
        })
    ));
}

#[test]
fn queries_with_no_word_still_work() {
    let index = index();
    // Punctuation only: no lexical term; the embedder still gives a vector.
    assert!(search(&index, Query::new("???", 5)).is_ok());
    // An empty index answers nothing.
    let empty = SearchIndex::<u32>::new(Arc::new(HashingEmbedder::default())).unwrap();
    assert_eq!(search(&empty, Query::new("restart", 5)).unwrap(), 0);
}

#[test]
fn bad_vectors_are_refused() {
    let mut v = VectorIndex::<u32>::new(VectorConfig::new(3)).unwrap();
    assert!(matches!(
        v.upsert(1, &[1.0, 0.0]),
        Err(SearchError::DimensionMismatch {
            expected: 3,
            got: 2
        })
    ));
    assert!(matches!(
        v.upsert(1, &[f32::NAN, 0.0, 0.0]),
        Err(SearchError::InvalidVector(_))
    ));
    assert!(matches!(
        v.upsert(1, &[0.0, 0.0, 0.0]),
        Err(SearchError::InvalidVector(_))
    ));
    assert!(v.is_empty());
    assert!(v.nearest(&[1.0], 3).is_err());
    assert!(matches!(
        v.upsert(1, &[f32::MAX, f32::MAX, 0.0]),
        Err(SearchError::InvalidVector(_))
    ));
    for dim in [0, knack_search::MAX_DIM + 1] {
        assert!(matches!(
            VectorIndex::<u32>::new(VectorConfig::new(dim)),
            Err(SearchError::InvalidParameter { field: "dim", .. })
        ));
    }
}

#[cfg(feature = "minilm")]
mod minilm {
    use std::path::PathBuf;

    use knack_search::{MiniLmEmbedder, SearchError};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("knack-search-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_folder_is_a_clear_error() {
        let dir = std::env::temp_dir().join("knack-search-no-such-folder");
        let err = MiniLmEmbedder::load(&dir).unwrap_err();
        assert!(matches!(err, SearchError::ModelDirMissing(_)), "{err}");
        assert!(err.to_string().contains("tools/fetch-minilm.sh"), "{err}");
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let dir = scratch("missing-file");
        std::fs::write(dir.join("model.safetensors"), b"x").unwrap();
        let err = MiniLmEmbedder::load(&dir).unwrap_err();
        match &err {
            SearchError::ModelFileMissing(path) => assert!(path.ends_with("tokenizer.json")),
            other => panic!("{other}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_wrong_model_is_refused_by_its_hash() {
        let dir = scratch("wrong-hash");
        std::fs::write(dir.join("model.safetensors"), b"not the model").unwrap();
        std::fs::write(dir.join("tokenizer.json"), b"{}").unwrap();
        std::fs::write(dir.join("config.json"), b"{}").unwrap();
        let err = MiniLmEmbedder::load(&dir).unwrap_err();
        match &err {
            SearchError::ModelHashMismatch {
                actual, expected, ..
            } => {
                assert_ne!(actual, expected);
                assert_eq!(*expected, knack_search::MINILM_SAFETENSORS_SHA256);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("fetch-minilm.sh"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
