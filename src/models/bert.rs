//! BERT sentence encoder (all-MiniLM-L6-v2, multilingual-e5-small): post-LayerNorm transformer, mean pooling over the
//! tokens, L2 norm. Reference: Devlin et al. 2019; sentence-transformers' Pooling module.
//! Tensor names are helplens's own (see `weights::convert::minilm`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::text::TextInput;
use crate::tensor::{now, Activation, Backend};
use crate::weights::quant::{dequantize_matrix, gather_rows, q8_0_one_scale_per_row};
use crate::weights::ModelFile;

/// Architecture and tokenization settings, stored as `helplens.config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BertConfig {
    /// Model name for display, e.g. "all-MiniLM-L6-v2".
    pub name: String,
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub layer_norm_eps: f32,
    /// Tokens kept per text (sentence-transformers `max_seq_length`).
    pub max_tokens: usize,
    /// Prefix added to questions ("query: " for e5, empty for MiniLM).
    pub query_prefix: String,
    /// Prefix added to KB texts ("passage: " for e5).
    pub passage_prefix: String,
}

struct Layer<B: Backend> {
    qkv: B::Matrix, // [3·hidden, hidden]
    out: B::Matrix, // [hidden, hidden]
    ln1: (B::Vector, B::Vector),
    up: B::Matrix,   // [intermediate, hidden]
    down: B::Matrix, // [hidden, intermediate]
    ln2: (B::Vector, B::Vector),
}

/// A loaded text encoder.
pub struct Bert<B: Backend> {
    /// The configuration read from the file.
    pub config: BertConfig,
    /// The tokenizer that goes with the weights.
    pub tokenizer: TextInput,
    /// Content fingerprint of the model file.
    pub fingerprint: String,
    word: candle_core::quantized::QTensor, // [vocab, hidden], gathered on the host
    position: Vec<f32>,                    // [max_positions, hidden], f32 on the host
    token_type: Vec<f32>,                  // [hidden], type 0
    emb_ln: (B::Vector, B::Vector),
    layers: Vec<Layer<B>>,
}

impl<B: Backend> Bert<B> {
    /// Loads a text encoder from a parsed model file onto `backend`.
    pub fn load(backend: &B, mut file: ModelFile) -> Result<Self> {
        file.expect_kind("text-encoder")?;
        let c: BertConfig = file.config()?;
        let tokenizer = TextInput::from_json(file.meta("helplens.tokenizer")?, c.max_tokens)?;
        let h = c.hidden;
        let matrix = |name: &str, out: usize, inp: usize, f: &mut ModelFile| -> Result<B::Matrix> {
            let bias = f.vector(&format!("{name}.b"), out)?;
            // One scale per row (every backend multiplies the same weights; the CPU's int8
            // kernel needs it). Q4_0 (e5) stays as it is for the GPU; the CPU re-quantizes it.
            backend.matrix(q8_0_one_scale_per_row(f.take(&format!("{name}.w"))?)?, &bias, out, inp, false)
        };
        let mut layers = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let p = format!("l{i}");
            layers.push(Layer {
                qkv: matrix(&format!("{p}.qkv"), 3 * h, h, &mut file)?,
                out: matrix(&format!("{p}.out"), h, h, &mut file)?,
                ln1: (backend.vector(&file.vector(&format!("{p}.ln1.w"), h)?)?, backend.vector(&file.vector(&format!("{p}.ln1.b"), h)?)?),
                up: matrix(&format!("{p}.up"), c.intermediate, h, &mut file)?,
                down: matrix(&format!("{p}.down"), h, c.intermediate, &mut file)?,
                ln2: (backend.vector(&file.vector(&format!("{p}.ln2.w"), h)?)?, backend.vector(&file.vector(&format!("{p}.ln2.b"), h)?)?),
            });
        }
        let word = file.take("emb.word")?;
        if word.shape().dims() != [c.vocab, h] {
            return Err(Error::Model(format!("emb.word has shape {:?}, expected [{}, {h}]", word.shape().dims(), c.vocab)));
        }
        Ok(Bert {
            position: dequantize_matrix(file.tensor("emb.pos")?, c.max_positions, h)?.flatten_all()?.to_vec1::<f32>()?,
            token_type: file.vector("emb.type", h)?,
            emb_ln: (backend.vector(&file.vector("emb.ln.w", h)?)?, backend.vector(&file.vector("emb.ln.b", h)?)?),
            word,
            layers,
            tokenizer,
            fingerprint: file.fingerprint.clone(),
            config: c,
        })
    }

    /// Token ids of a text as this model sees it (with its prefix, truncated).
    pub fn tokenize(&self, text: &str, query: bool) -> Result<Vec<u32>> {
        let prefix = if query { &self.config.query_prefix } else { &self.config.passage_prefix };
        self.tokenizer.encode(&format!("{prefix}{text}"))
    }

    /// The L2-normalised sentence vector `[hidden]` of a question (`query`) or a KB text.
    pub fn embed(&self, backend: &B, text: &str, query: bool) -> Result<Vec<f32>> {
        now(self.embed_async(backend, text, query))
    }

    /// [`Bert::embed`] for backends that read results back asynchronously.
    pub async fn embed_async(&self, backend: &B, text: &str, query: bool) -> Result<Vec<f32>> {
        backend.read_async(&self.encode_text(backend, text, query)?).await
    }

    /// Sentence vector of already tokenized ids.
    pub fn embed_ids(&self, backend: &B, ids: &[u32]) -> Result<Vec<f32>> {
        backend.read(&self.encode(backend, ids)?)
    }

    /// Records the encoder for a text: its unit sentence vector `[1, hidden]`, on the device.
    pub fn encode_text(&self, backend: &B, text: &str, query: bool) -> Result<B::Tensor> {
        self.encode(backend, &self.tokenize(text, query)?)
    }

    /// Records the encoder on `backend`: the mean-pooled token states, L2-normalised, `[1, hidden]`.
    fn encode(&self, backend: &B, ids: &[u32]) -> Result<B::Tensor> {
        let (t, h) = (ids.len(), self.config.hidden);
        if t == 0 || t > self.config.max_positions {
            return Err(Error::Tokenizer(format!("{t} tokens (1 to {} allowed)", self.config.max_positions)));
        }
        let mut x = gather_rows(&self.word, ids)?; // [t, h]
        for (i, row) in x.chunks_exact_mut(h).enumerate() {
            for ((v, p), ty) in row.iter_mut().zip(&self.position[i * h..(i + 1) * h]).zip(&self.token_type) {
                *v += p + ty;
            }
        }
        let eps = self.config.layer_norm_eps;
        let mut x = backend.layer_norm(&backend.tensor(&x, &[t, h])?, &self.emb_ln.0, &self.emb_ln.1, eps)?;
        for l in &self.layers {
            let qkv = backend.linear(&x, &l.qkv, Activation::None)?;
            let a = backend.attention(&qkv, self.config.heads)?;
            let a = backend.linear(&a, &l.out, Activation::None)?;
            x = backend.layer_norm(&backend.add(&x, &a)?, &l.ln1.0, &l.ln1.1, eps)?;
            let f = backend.linear(&x, &l.up, Activation::Gelu)?;
            let f = backend.linear(&f, &l.down, Activation::None)?;
            x = backend.layer_norm(&backend.add(&x, &f)?, &l.ln2.0, &l.ln2.1, eps)?;
        }
        backend.l2_normalize(&backend.mean_rows(&x)?)
    }
}
