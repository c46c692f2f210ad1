//! Tokenization through the `tokenizers` crate, from the tokenizer.json stored in the model.
//! Padding is switched off (mean pooling over [PAD] ruins sentence vectors) and texts are
//! truncated to the model's `max_tokens`.

use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// Longest question accepted, in characters; longer input is refused, not silently cut.
pub const MAX_QUESTION_CHARS: usize = 4000;

/// A tokenizer configured for sentence embedding.
pub struct TextInput {
    tokenizer: Tokenizer,
}

impl TextInput {
    /// Builds the tokenizer from tokenizer.json text.
    pub fn from_json(json: &str, max_tokens: usize) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_bytes(json.as_bytes()).map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_tokens, ..Default::default() }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(TextInput { tokenizer })
    }

    /// Token ids with the special tokens the model expects.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
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
