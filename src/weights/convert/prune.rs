//! `helplens convert --vocab-langs`: a multilingual text encoder's vocabulary cut down to the
//! pieces a few languages need. Most of multilingual-e5-small's bytes are its 250k-row
//! embedding table; a site serving English and Chinese needs a small part of it.
//!
//! A piece is kept when
//! - it is special (`<s>`, `</s>`, `<pad>`, `<unk>`), or `▁` alone;
//! - tokenizing the given texts uses it (the KBs, the ConSE class captions, a word list per
//!   language): the texts keep exactly their tokenization, since every piece of their best
//!   unigram segmentation is still there and nothing new is;
//! - it is a single character (with or without `▁`) of one of the languages' scripts, so other
//!   text in those languages still tokenizes, by characters at worst, rather than to `<unk>`.
//!
//! Everything else maps to `<unk>`. Ids are renumbered in the original order, the embedding
//! rows are gathered (Q4_0 rows are independent blocks), and the tokenizer.json's vocabulary,
//! unknown id and special-token ids are rewritten to match.

use std::collections::{BTreeMap, BTreeSet};

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::QTensor;
use candle_core::Device;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::input::text::TextInput;
use crate::models::bert::BertConfig;

/// A language `--vocab-langs` knows: its code (as in the word lists) and the Unicode ranges of
/// its script(s).
#[derive(Debug)]
pub struct Lang {
    pub code: &'static str,
    ranges: &'static [(u32, u32)],
}

const LATIN: &[(u32, u32)] = &[(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF)];
const HAN: &[(u32, u32)] = &[
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    // CJK symbols and punctuation, full-width forms.
    (0x3000, 0x303F),
    (0xFF00, 0xFFEF),
];
const JAPANESE: &[(u32, u32)] = &[(0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x3000, 0x303F), (0xFF00, 0xFFEF)];
const HANGUL: &[(u32, u32)] = &[(0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF)];
const CYRILLIC: &[(u32, u32)] = &[(0x400, 0x4FF)];
/// Kept for every language: ASCII digits and punctuation, Latin-1 signs, general punctuation.
const COMMON: &[(u32, u32)] = &[(0x20, 0x40), (0x5B, 0x60), (0x7B, 0x7E), (0xA0, 0xBF), (0x2000, 0x206F), (0x20A0, 0x20CF)];

/// The languages `--vocab-langs` accepts.
pub const LANGS: &[Lang] = &[
    Lang { code: "en", ranges: LATIN },
    Lang { code: "de", ranges: LATIN },
    Lang { code: "es", ranges: LATIN },
    Lang { code: "fr", ranges: LATIN },
    Lang { code: "it", ranges: LATIN },
    Lang { code: "nl", ranges: LATIN },
    Lang { code: "pt", ranges: LATIN },
    Lang { code: "zh", ranges: HAN },
    Lang { code: "ja", ranges: JAPANESE },
    Lang { code: "ko", ranges: HANGUL },
    Lang { code: "ru", ranges: CYRILLIC },
    Lang { code: "uk", ranges: CYRILLIC },
];

/// Parses `en,zh`.
pub fn langs(list: &str) -> Result<Vec<&'static Lang>> {
    list.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            LANGS
                .iter()
                .find(|l| l.code == c)
                .ok_or_else(|| Error::Model(format!("--vocab-langs: unknown language {c:?} (known: {})", LANGS.iter().map(|l| l.code).collect::<Vec<_>>().join(", "))))
        })
        .collect::<Result<Vec<_>>>()
        .and_then(|v| if v.is_empty() { Err(Error::Model("--vocab-langs names no language".into())) } else { Ok(v) })
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    ranges.iter().any(|&(a, b)| (a..=b).contains(&(c as u32)))
}

/// What pruning kept, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub total: usize,
    pub kept: usize,
    /// Pieces some text used.
    pub from_texts: usize,
    /// Single characters of the languages' scripts that no text used.
    pub from_scripts: usize,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Model(format!("vocabulary pruning: {msg}"))
}

/// The Unigram vocabulary of a tokenizer.json: pieces by id.
fn pieces(tokenizer: &Value) -> Result<Vec<String>> {
    if tokenizer["model"]["type"] != "Unigram" {
        return Err(bad("only Unigram tokenizers can be pruned"));
    }
    tokenizer["model"]["vocab"]
        .as_array()
        .ok_or_else(|| bad("tokenizer.json has no model.vocab"))?
        .iter()
        .map(|e| e[0].as_str().map(str::to_owned).ok_or_else(|| bad("a vocab entry is not [piece, score]")))
        .collect()
}

/// The ids to keep, sorted: see the module comment. `texts` are tokenized as given (prefixes
/// included).
pub fn needed(tokenizer_json: &str, max_tokens: usize, texts: &[String], langs: &[&Lang]) -> Result<(BTreeSet<u32>, Kept)> {
    let json: Value = serde_json::from_str(tokenizer_json).map_err(bad)?;
    let pieces = pieces(&json)?;
    let tok = TextInput::from_json(tokenizer_json, max_tokens)?;
    let mut keep = BTreeSet::new();
    // Special tokens: the unknown id and the post-processor's (they are added to every text).
    if let Some(unk) = json["model"]["unk_id"].as_u64() {
        keep.insert(unk as u32);
    }
    for t in json["post_processor"]["special_tokens"].as_object().into_iter().flat_map(|m| m.values()) {
        keep.extend(t["ids"].as_array().into_iter().flatten().filter_map(|i| i.as_u64()).map(|i| i as u32));
    }
    keep.extend(pieces.iter().position(|p| p == "<pad>").map(|i| i as u32));
    for t in texts {
        keep.extend(tok.encode(t)?);
    }
    let from_texts = keep.len();
    for (id, p) in pieces.iter().enumerate() {
        let body = p.strip_prefix('\u{2581}').unwrap_or(p);
        let mut cs = body.chars();
        let single = match (cs.next(), cs.next()) {
            (None, _) => true, // "▁" alone
            (Some(c), None) => in_ranges(c, COMMON) || langs.iter().any(|l| in_ranges(c, l.ranges)),
            _ => false,
        };
        if single {
            keep.insert(id as u32);
        }
    }
    let kept = Kept { total: pieces.len(), kept: keep.len(), from_texts, from_scripts: keep.len() - from_texts };
    Ok((keep, kept))
}

/// The model with only the `keep` ids: config, tokenizer.json (in `meta`) and embedding rows.
pub fn apply(
    config: &BertConfig,
    meta: &BTreeMap<String, String>,
    tensors: Vec<(String, QTensor)>,
    keep: &BTreeSet<u32>,
) -> Result<(BertConfig, BTreeMap<String, String>, Vec<(String, QTensor)>)> {
    let tok_json = meta.get("helplens.tokenizer").ok_or_else(|| bad("the model has no tokenizer"))?;
    let mut json: Value = serde_json::from_str(tok_json).map_err(bad)?;
    let total = pieces(&json)?.len();
    if keep.iter().any(|&i| i as usize >= total) {
        return Err(bad("an id to keep is outside the vocabulary"));
    }
    // Old id → new id.
    let new_id: BTreeMap<u32, u32> = keep.iter().enumerate().map(|(n, &o)| (o, n as u32)).collect();
    let remap = |v: &mut Value| -> Result<()> {
        let old = v.as_u64().ok_or_else(|| bad("an id is not a number"))? as u32;
        *v = Value::from(*new_id.get(&old).ok_or_else(|| bad(format!("special id {old} was not kept")))?);
        Ok(())
    };
    let vocab = json["model"]["vocab"].as_array_mut().ok_or_else(|| bad("no model.vocab"))?;
    let old_vocab = std::mem::take(vocab);
    *vocab = old_vocab.into_iter().enumerate().filter(|(i, _)| keep.contains(&(*i as u32))).map(|(_, e)| e).collect();
    remap(&mut json["model"]["unk_id"])?;
    if let Some(m) = json["post_processor"]["special_tokens"].as_object_mut() {
        for t in m.values_mut() {
            for id in t["ids"].as_array_mut().into_iter().flatten() {
                remap(id)?;
            }
        }
    }
    let mut config = config.clone();
    config.vocab = keep.len();
    let mut meta = meta.clone();
    meta.insert("helplens.tokenizer".into(), json.to_string());
    meta.insert("helplens.config".into(), serde_json::to_string(&config).map_err(bad)?);
    let tensors = tensors.into_iter().map(|(name, t)| if name == "emb.word" { Ok((name, gather_rows(&t, keep)?)) } else { Ok((name, t)) }).collect::<Result<Vec<_>>>()?;
    Ok((config, meta, tensors))
}

/// The rows `keep` of a quantized matrix `[rows, cols]` (each row is whole blocks).
fn gather_rows(t: &QTensor, keep: &BTreeSet<u32>) -> Result<QTensor> {
    let &[rows, cols] = t.shape().dims() else { return Err(bad("emb.word is not a matrix")) };
    let data = t.data()?;
    if cols % t.dtype().block_size() != 0 || data.len() % rows != 0 {
        return Err(bad("emb.word rows are not whole blocks"));
    }
    let row_bytes = data.len() / rows;
    let mut out = Vec::with_capacity(keep.len() * row_bytes);
    for &r in keep {
        let r = r as usize;
        out.extend_from_slice(data.get(r * row_bytes..(r + 1) * row_bytes).ok_or_else(|| bad(format!("row {r} of {rows}")))?);
    }
    Ok(qtensor_from_ggml(t.dtype(), &out, vec![keep.len(), cols], &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;
    use serde_json::json;

    /// A Unigram tokenizer.json over `vocab` (id 0 <s>, 1 </s>, 2 <unk>).
    fn tokenizer(vocab: &[(&str, f64)]) -> String {
        json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
            "decoder": null,
            "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab.iter().map(|(p, s)| json!([p, s])).collect::<Vec<_>>(), "byte_fallback": false},
        })
        .to_string()
    }

    const VOCAB: &[(&str, f64)] = &[
        ("<s>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("\u{2581}", -3.0),
        ("\u{2581}hello", -1.0),
        ("\u{2581}world", -1.0),
        ("\u{2581}zebra", -1.0),
        ("h", -4.0),
        ("e", -4.0),
        ("l", -4.0),
        ("o", -4.0),
        ("\u{2581}咖啡", -1.0),
        ("咖", -4.0),
        ("啡", -4.0),
        ("Ж", -4.0),
        ("\u{2581}hel", -2.0),
        ("lo", -2.0),
    ];

    fn tokens(json: &str, text: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(json).unwrap();
        let t = TextInput::from_json(json, 64).unwrap();
        t.encode(text).unwrap().into_iter().map(|i| v["model"]["vocab"][i as usize][0].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn keeps_what_texts_and_scripts_need_and_nothing_else() {
        let json = tokenizer(VOCAB);
        let both = langs("en,zh").unwrap();
        let texts = vec!["hello world".to_string()];
        let (keep, kept) = needed(&json, 64, &texts, &both).unwrap();
        let names: Vec<&str> = keep.iter().map(|&i| VOCAB[i as usize].0).collect();
        // Texts: <s> </s> <unk> ▁hello ▁world; scripts: ▁, h e l o, 咖 啡 (not Ж, not ▁zebra,
        // not ▁咖啡, not ▁hel or lo: multi-character pieces no text used).
        assert_eq!(names, ["<s>", "</s>", "<unk>", "\u{2581}", "\u{2581}hello", "\u{2581}world", "h", "e", "l", "o", "咖", "啡"]);
        assert_eq!(kept, Kept { total: VOCAB.len(), kept: 12, from_texts: 5, from_scripts: 7 });
        assert!(langs("en,xx").unwrap_err().to_string().contains("\"xx\""));
    }

    #[test]
    fn pruned_model_tokenizes_the_texts_the_same_and_carries_their_rows() {
        let json = tokenizer(VOCAB);
        let (h, rows) = (32usize, VOCAB.len());
        // Row r of the embedding: every weight r.
        let w: Vec<f32> = (0..rows * h).map(|k| (k / h) as f32).collect();
        let t = QTensor::quantize(&candle_core::Tensor::from_vec(w, (rows, h), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
        let config = BertConfig {
            name: "t".into(),
            vocab: rows,
            hidden: h,
            layers: 0,
            heads: 1,
            intermediate: h,
            max_positions: 64,
            layer_norm_eps: 1e-12,
            max_tokens: 64,
            query_prefix: String::new(),
            passage_prefix: String::new(),
        };
        let before = t.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        let meta = BTreeMap::from([("helplens.tokenizer".to_string(), json.clone())]);
        let texts = vec!["hello world".to_string()];
        let (keep, _) = needed(&json, 64, &texts, &langs("en").unwrap()).unwrap();
        let (config2, meta2, tensors2) = apply(&config, &meta, vec![("emb.word".into(), t)], &keep).unwrap();
        let json2 = &meta2["helplens.tokenizer"];
        assert_eq!(config2.vocab, keep.len());
        assert_eq!(tokens(json2, "hello world"), tokens(&json, "hello world"));
        // Not in the texts: ▁zebra is gone, and z, b, r, a are not kept characters: <unk>.
        let z = tokens(json2, "zebra hello");
        assert!(!z.contains(&"\u{2581}zebra".to_string()) && z.contains(&"<unk>".to_string()), "{z:?}");
        assert_eq!(z[z.len() - 2..], ["\u{2581}hello", "</s>"].map(String::from));
        // Each kept id's row is its old row, bit for bit.
        let emb = tensors2[0].1.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        for (new, &old) in keep.iter().enumerate() {
            assert_eq!(emb[new], before[old as usize], "row {new} (old {old})");
        }
        let v2: Value = serde_json::from_str(json2).unwrap();
        assert_eq!(v2["post_processor"]["special_tokens"]["</s>"]["ids"][0], 1);
    }
}
