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
        let mut cursor = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut cursor).map_err(|e| Error::Model(format!("unreadable header: {e}")))?;
        let mut meta = BTreeMap::new();
        for key in KEYS.iter().chain(std::iter::once(&"helplens.fingerprint")) {
            if let Some(Value::String(s)) = content.metadata.get(*key) {
                meta.insert(key.to_string(), s.clone());
            }
        }
        let stored = meta.remove("helplens.fingerprint").ok_or_else(|| Error::Model("no helplens.fingerprint: not converted by `helplens convert`".into()))?;
        let mut tensors = HashMap::new();
        for (name, info) in content.tensor_infos.iter() {
            let end = content.tensor_data_offset as usize + info.offset as usize + info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
            if end > bytes.len() {
                return Err(Error::Model(format!("truncated: tensor {name} ends at byte {end}, the file has {}", bytes.len())));
            }
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
