//! Tokenization through the `tokenizers` crate, from the tokenizer.json stored in the model.
//! Padding is switched off (mean pooling over [PAD] ruins sentence vectors) and texts are
//! truncated to the model's `max_tokens`.
//!
//! SentencePiece-unigram tokenizers (e5) give one `<unk>` per unknown character; `tokenizers`'
//! Unigram fuses a run of unknown characters into one `<unk>` and offers no switch for it in
//! tokenizer.json, so [`TextInput::encode`] splits such runs again.

use serde::Deserialize;
use tokenizers::{NormalizedString, Normalizer, Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// Longest question accepted, in characters; longer input is refused, not silently cut.
pub const MAX_QUESTION_CHARS: usize = 4000;

/// A tokenizer configured for sentence embedding.
pub struct TextInput {
    tokenizer: Tokenizer,
    max_tokens: usize,
    /// The unknown id of a Unigram model, whose fused runs are split per character.
    unigram_unk: Option<u32>,
}

/// The model's type and unknown id in tokenizer.json (everything else is skipped).
#[derive(Deserialize)]
struct JsonHead {
    model: JsonModel,
}
#[derive(Deserialize)]
struct JsonModel {
    #[serde(rename = "type")]
    kind: Option<String>,
    unk_id: Option<u32>,
}

impl TextInput {
    /// Builds the tokenizer from tokenizer.json text.
    pub fn from_json(json: &str, max_tokens: usize) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_bytes(json.as_bytes()).map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(Some(TruncationParams { max_length: max_tokens, ..Default::default() })).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let head: JsonHead = serde_json::from_str(json).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let unigram_unk = head.model.unk_id.filter(|_| head.model.kind.as_deref() == Some("Unigram"));
        Ok(TextInput { tokenizer, max_tokens, unigram_unk })
    }

    /// Token ids with the special tokens the model expects.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let ids = enc.get_ids();
        let Some(unk) = self.unigram_unk.filter(|u| ids.contains(u)) else {
            return Ok(ids.to_vec());
        };
        // One <unk> per normalized character of each unknown run (its offsets are bytes of `text`).
        let mut out = Vec::with_capacity(ids.len() + 8);
        for (&id, &(start, end)) in ids.iter().zip(enc.get_offsets()) {
            if id != unk {
                out.push(id);
                continue;
            }
            let span = text.get(start..end).unwrap_or("");
            let mut n = NormalizedString::from(span);
            if let Some(norm) = self.tokenizer.get_normalizer() {
                norm.normalize(&mut n).map_err(|e| Error::Tokenizer(e.to_string()))?;
            }
            out.extend(std::iter::repeat_n(unk, n.get().chars().count().max(1)));
        }
        if out.len() > self.max_tokens {
            // Keep the closing special token the post-processor added.
            let last = out[out.len() - 1];
            out.truncate(self.max_tokens.saturating_sub(1));
            out.push(last);
        }
        Ok(out)
    }
}

/// Trims a customer's question and checks its length.
pub fn check_question(text: &str) -> Result<Option<&str>> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let chars = t.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(Error::QuestionTooLong { chars, max: MAX_QUESTION_CHARS });
    }
    Ok(Some(t))
}
