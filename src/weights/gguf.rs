//! helplens model files: GGUF (github.com/ggml-org/ggml docs/gguf.md) written and read through
//! candle's `gguf_file`, with helplens keys:
//!
//! - `general.architecture`: `bert` or `efficientnet-lite`
//! - `helplens.kind`: `text-encoder` or `image-encoder`
//! - `helplens.config`: the model's configuration as JSON (architecture and preprocessing)
//! - `helplens.tokenizer`: a `tokenizers` tokenizer.json (text encoders)
//! - `helplens.labels`: the class names as a JSON array (image encoders)
//! - `helplens.fingerprint`: sha256 over all of the above and every tensor, verified at load.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const KEYS: [&str; 4] = ["helplens.kind", "helplens.config", "helplens.tokenizer", "helplens.labels"];

/// A loaded model file: string metadata and named tensors.
pub struct ModelFile {
    /// The helplens string keys present in the file.
    pub meta: BTreeMap<String, String>,
    /// Tensors by name, in their stored precision.
    pub tensors: HashMap<String, QTensor>,
    /// Verified content fingerprint (hex sha256).
    pub fingerprint: String,
}

/// Whether loading a model file recomputes its sha256 fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Integrity {
    /// Recompute and compare (a corrupt file is refused).
    #[default]
    Check,
    /// The bytes were verified by the caller (e.g. sha256 against a manifest with WebCrypto):
    /// skip the hash, which in wasm costs about 200 ms of a cold start for the demo's models.
    Trusted,
}

impl ModelFile {
    /// Parses and verifies a model file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, Integrity::Check)
    }

    /// Parses a model file; `Integrity::Trusted` skips recomputing the fingerprint (the caller
    /// has checked the bytes, as the widget's loader does against manifest.json). Shapes, sizes
    /// and the stored fingerprint (matched against the KB's) are checked either way.
    pub fn from_bytes_with(bytes: &[u8], integrity: Integrity) -> Result<Self> {
        if bytes.len() < 4 || &bytes[..4] != b"GGUF" {
            return Err(Error::Model("not a GGUF file (wrong magic bytes)".into()));
        }
        check_alignment(bytes)?;
        let mut cursor = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut cursor).map_err(|e| Error::Model(format!("unreadable header: {e}")))?;
        let mut meta = BTreeMap::new();
        for key in KEYS.iter().chain(std::iter::once(&"helplens.fingerprint")) {
            if let Some(Value::String(s)) = content.metadata.get(*key) {
                meta.insert(key.to_string(), s.clone());
            }
        }
        let stored = meta.remove("helplens.fingerprint").ok_or_else(|| Error::Model("no helplens.fingerprint: not converted by `helplens convert`".into()))?;
        // Every tensor's extent, in u64 with checked arithmetic (offsets and shapes come from
        // the file), before any is read; extents may not overlap, so a small file cannot claim
        // its bytes many times over (each tensor is copied out when read).
        let mut extents = Vec::with_capacity(content.tensor_infos.len());
        for (name, info) in content.tensor_infos.iter() {
            let overflow = || Error::Model(format!("tensor {name}: shape {:?} at offset {} overflows", info.shape.dims(), info.offset));
            let elems = info.shape.dims().iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).ok_or_else(overflow)?;
            let block = info.ggml_dtype.block_size() as u64;
            if elems % block != 0 {
                return Err(Error::Model(format!("tensor {name}: {elems} values is not a whole number of {block}-value blocks")));
            }
            let size = (elems / block).checked_mul(info.ggml_dtype.type_size() as u64).ok_or_else(overflow)?;
            let start = content.tensor_data_offset.checked_add(info.offset).ok_or_else(overflow)?;
            let end = start.checked_add(size).ok_or_else(overflow)?;
            if end > bytes.len() as u64 {
                return Err(Error::Model(format!("truncated: tensor {name} ends at byte {end}, the file has {}", bytes.len())));
            }
            extents.push((start, end, name));
        }
        extents.sort();
        if let Some(w) = extents.windows(2).find(|w| w[1].0 < w[0].1) {
            return Err(Error::Model(format!("tensors {} and {} overlap (bytes {}..{} and {}..{})", w[0].2, w[1].2, w[0].0, w[0].1, w[1].0, w[1].1)));
        }
        let mut tensors = HashMap::new();
        for name in content.tensor_infos.keys() {
            let t = content.tensor(&mut cursor, name, &Device::Cpu).map_err(|e| Error::Model(format!("tensor {name}: {e}")))?;
            tensors.insert(name.clone(), t);
        }
        if integrity == Integrity::Trusted {
            return Ok(ModelFile { meta, tensors, fingerprint: stored });
        }
        let computed = fingerprint(&meta, tensors.iter().map(|(n, t)| (n.as_str(), t)))?;
        if computed != stored {
            return Err(Error::Model(format!("content does not match its fingerprint (stored {}, computed {}): the file is corrupt", short(&stored), short(&computed))));
        }
        Ok(ModelFile { meta, tensors, fingerprint: stored })
    }

    /// A required string key.
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.meta.get(key).map(String::as_str).ok_or_else(|| Error::Model(format!("missing key {key}")))
    }

    /// The `helplens.config` JSON parsed into `T`.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(self.meta("helplens.config")?).map_err(|e| Error::Model(format!("bad helplens.config: {e}")))
    }

    /// Checks the file holds the expected kind of model.
    pub fn expect_kind(&self, kind: &str) -> Result<()> {
        let found = self.meta("helplens.kind")?;
        if found != kind {
            return Err(Error::Model(format!("this is a {found} file, a {kind} was expected")));
        }
        Ok(())
    }

    /// A required tensor.
    pub fn tensor(&self, name: &str) -> Result<&QTensor> {
        self.tensors.get(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))
    }

    /// Takes a required tensor out of the file (weights move into the backend once).
    pub fn take(&mut self, name: &str) -> Result<QTensor> {
        self.tensors.remove(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))
    }

    /// A required f32 vector of length `len`.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let t = self.tensor(name)?.dequantize(&Device::Cpu)?;
        if t.elem_count() != len {
            return Err(Error::Model(format!("tensor {name} has {} values, expected {len}", t.elem_count())));
        }
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// Refuses a `general.alignment` of 0, which the GGUF reader would divide by. Walks the
/// metadata section (magic, version, counts, then key, type and value of each entry) as
/// docs/gguf.md lays it out; a header that ends early or holds an unknown type is refused too.
fn check_alignment(bytes: &[u8]) -> Result<()> {
    struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
        /// Width of lengths and counts: 4 bytes in GGUF v1, 8 in v2 and v3.
        wide: bool,
    }
    impl Reader<'_> {
        fn take(&mut self, n: u64) -> Result<&[u8]> {
            let rest = (self.bytes.len() - self.pos) as u64;
            if n > rest {
                return Err(Error::Model(format!("unreadable header: ends inside its metadata (needs {n} bytes at {}, {rest} left)", self.pos)));
            }
            let s = &self.bytes[self.pos..self.pos + n as usize];
            self.pos += n as usize;
            Ok(s)
        }
        fn u32(&mut self) -> Result<u32> {
            let b = self.take(4)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        fn len(&mut self) -> Result<u64> {
            if !self.wide {
                return Ok(self.u32()? as u64);
            }
            let b = self.take(8)?;
            Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        }
        /// Skips one value of type `t`; for an integer of at most 32 bits (the types the GGUF
        /// reader takes an alignment from), whether it is 0.
        fn value(&mut self, t: u32, depth: usize) -> Result<Option<bool>> {
            let zero = |b: &[u8]| Some(b.iter().all(|&x| x == 0));
            Ok(match t {
                0 | 1 => zero(self.take(1)?),
                2 | 3 => zero(self.take(2)?),
                4 | 5 => zero(self.take(4)?),
                7 => self.take(1).map(|_| None)?,
                6 => self.take(4).map(|_| None)?,
                10..=12 => self.take(8).map(|_| None)?,
                8 => {
                    let n = self.len()?;
                    self.take(n).map(|_| None)?
                }
                9 if depth < 64 => {
                    let (item, n) = (self.u32()?, self.len()?);
                    for _ in 0..n {
                        self.value(item, depth + 1)?;
                    }
                    None
                }
                9 => return Err(Error::Model("unreadable header: arrays nested too deep".into())),
                other => return Err(Error::Model(format!("unreadable header: unknown value type {other}"))),
            })
        }
    }
    let mut r = Reader { bytes, pos: 4, wide: true };
    r.wide = match r.u32()? {
        1 => false,
        2 | 3 => true,
        // The GGUF reader refuses other versions, saying which.
        _ => return Ok(()),
    };
    let _tensors = r.len()?;
    let entries = r.len()?;
    for _ in 0..entries {
        let n = r.len()?;
        let key = r.take(n)? == b"general.alignment";
        let t = r.u32()?;
        if r.value(t, 0)? == Some(true) && key {
            return Err(Error::Model("general.alignment is 0".into()));
        }
    }
    Ok(())
}

/// The first 12 hex digits of a fingerprint, for messages and the UI.
pub fn short(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(12)]
}

fn fingerprint<'a>(meta: &BTreeMap<String, String>, tensors: impl IntoIterator<Item = (&'a str, &'a QTensor)>) -> Result<String> {
    let mut h = Sha256::new();
    for (k, v) in meta {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    let mut sorted: Vec<(&str, &QTensor)> = tensors.into_iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    for (name, t) in sorted {
        h.update(name.as_bytes());
        h.update(format!("{:?}{:?}", t.dtype(), t.shape().dims()).as_bytes());
        h.update(&t.data()?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a model file with its fingerprint; returns the fingerprint.
#[cfg(not(target_arch = "wasm32"))]
pub fn write(path: &std::path::Path, architecture: &str, meta: &BTreeMap<String, String>, tensors: &[(String, QTensor)]) -> Result<String> {
    if let Some(k) = meta.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Error::Model(format!("unknown metadata key {k}")));
    }
    let fp = fingerprint(meta, tensors.iter().map(|(n, t)| (n.as_str(), t)))?;
    let mut values: Vec<(String, Value)> = vec![("general.architecture".into(), Value::String(architecture.into()))];
    values.extend(meta.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))));
    values.push(("helplens.fingerprint".into(), Value::String(fp.clone())));
    let value_refs: Vec<(&str, &Value)> = values.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    gguf_file::write(&mut file, &value_refs, &tensor_refs)?;
    Ok(fp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF file with `meta` and two 32-value f32 tensors, `a` then `b`, and the offsets of
    /// their `offset` fields.
    fn file(meta: &[(&str, Value)]) -> (Vec<u8>, [usize; 2]) {
        let t = || QTensor::quantize(&candle_core::Tensor::zeros(32, candle_core::DType::F32, &Device::Cpu).unwrap(), candle_core::quantized::GgmlDType::F32).unwrap();
        let (a, b) = (t(), t());
        let refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
        let mut out = Cursor::new(Vec::new());
        gguf_file::write(&mut out, &refs, &[("a", &a), ("b", &b)]).unwrap();
        let bytes = out.into_inner();
        // name length, name, 1 dimension, the dimension, dtype, then the offset.
        let offset_of = |name: &[u8]| {
            let at = bytes.windows(9).position(|w| w[..8] == 1u64.to_le_bytes() && w[8] == name[0]).unwrap();
            at + 9 + 4 + 8 + 4
        };
        let offsets = [offset_of(b"a"), offset_of(b"b")];
        (bytes, offsets)
    }

    fn err(bytes: &[u8]) -> String {
        match ModelFile::from_bytes_with(bytes, Integrity::Trusted) {
            Ok(_) => panic!("accepted"),
            Err(e) => {
                assert!(matches!(e, Error::Model(_)), "{e:?}");
                e.to_string()
            }
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn alignment_zero_is_refused_not_divided_by() {
        let fp = ("helplens.fingerprint", Value::String("0".repeat(64)));
        let (ok, _) = file(std::slice::from_ref(&fp));
        assert!(ModelFile::from_bytes_with(&ok, Integrity::Trusted).is_ok());
        for v in [Value::U32(0), Value::U8(0), Value::I16(0)] {
            let (bad, _) = file(&[("general.alignment", v), fp.clone()]);
            assert!(err(&bad).contains("general.alignment is 0"));
        }
        // Cut inside the metadata: refused, whichever walk sees it first.
        assert!(err(&ok[..30]).starts_with("model file"));
    }

    // Natively a plain test; on wasm32 (in node) too, where offsets cast to usize would be cut
    // to 32 bits.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn tensor_offsets_are_checked_without_overflow() {
        let (ok, [_, b]) = file(&[("helplens.fingerprint", Value::String("0".repeat(64)))]);
        // The two 128-byte tensors end the file.
        let data = (ok.len() - 256) as u64;
        // Overflowing the start, overflowing the end only, past the end, onto tensor a.
        for (offset, what) in [(u64::MAX, "overflows"), (u64::MAX - data - 64, "overflows"), (1 << 40, "truncated"), (0, "overlap")] {
            let mut bad = ok.clone();
            bad[b..b + 8].copy_from_slice(&offset.to_le_bytes());
            let e = err(&bad);
            assert!(e.contains(what), "offset {offset}: {e}");
        }
    }
}
