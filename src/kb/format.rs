//! The KB file: safetensors (huggingface/safetensors) with int8 vectors and the articles as
//! JSON in the header metadata (`helplens.kb`).
//!
//! Tensors (U text units, P KB photos, L class labels, D text dims, F visual feature dims):
//! `units.vecs` I8 [U, D], `units.scale` F32 [U], `units.article` U32 [U], `units.kind` U8 [U]
//! ([`UnitKind`]);
//! `labels.vecs` I8 [L, D], `labels.scale` F32 [L] (ConSE captions, with an image model);
//! `photos.vecs` I8 [P, F], `photos.scale` F32 [P], `photos.article` U32 [P].

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use super::lexical::Lexical;
use crate::error::{Error, Result};
pub use crate::tensor::I8Rows;

/// Version of the KB layout; bumped on incompatible changes (2: `units.kind`; 3: section units).
pub const KB_VERSION: u32 = 3;

/// What a text unit is: cosines are compared within a kind, since a question matches another
/// question more closely than it matches a passage (see `search::text_evidence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum UnitKind {
    /// The article's title.
    Title = 0,
    /// The title with the body.
    Passage = 1,
    /// One of the article's example questions.
    Question = 2,
    /// One section of the body under its heading, with the title (`kb::sections`).
    Section = 3,
}

impl UnitKind {
    /// Kinds, by their stored value.
    pub const ALL: [UnitKind; 4] = [UnitKind::Title, UnitKind::Passage, UnitKind::Question, UnitKind::Section];
    /// Whether the unit is embedded as a question (e5's "query: " prefix) rather than a passage.
    pub fn is_query(self) -> bool {
        self == UnitKind::Question
    }
}

/// One help article.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Article {
    /// The article's file stem.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The answer, as Markdown.
    pub body: String,
    /// Photos, as paths relative to the KB folder.
    #[serde(default)]
    pub images: Vec<String>,
}

/// Score thresholds below which an answer is not confident.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Thresholds {
    /// Best fused score for a typed question.
    pub text: f32,
    /// Best fused score for a photo without text.
    pub photo: f32,
}

/// Everything in the KB file besides the vectors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KbMeta {
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub contact_url: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
    pub thresholds: Thresholds,
    /// Fingerprint of the text model the vectors were made with.
    pub text_model: String,
    /// Fingerprint of the image model, if photos and labels were embedded.
    #[serde(default)]
    pub image_model: Option<String>,
    /// File names (no folder) of the text and image models the KB was built with, so a reader
    /// can find them beside the KB (`helplens ask`, the manifest's per-KB text model); the
    /// fingerprints above still decide whether a loaded model matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_model_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_model_file: Option<String>,
    pub articles: Vec<Article>,
    /// Suggested questions shown before the first message.
    #[serde(default)]
    pub suggestions: Vec<String>,
}

/// A loaded knowledge base.
#[derive(Debug, Clone)]
pub struct Kb {
    pub meta: KbMeta,
    pub units: I8Rows,
    pub unit_article: Vec<u32>,
    pub unit_kind: Vec<UnitKind>,
    pub labels: I8Rows,
    pub photos: I8Rows,
    pub photo_article: Vec<u32>,
    /// The codes each article names (`kb::codes`), found once when the KB is read.
    pub codes: Vec<Vec<String>>,
    /// The articles' words, indexed once when the KB is read (`kb::lexical`).
    pub lexical: Lexical,
}

fn view<'a>(st: &'a SafeTensors, name: &str) -> Result<Option<TensorView<'a>>> {
    match st.tensor(name) {
        Ok(t) => Ok(Some(t)),
        Err(safetensors::SafeTensorError::TensorNotFound(_)) => Ok(None),
        Err(e) => Err(Error::Kb(format!("tensor {name}: {e}"))),
    }
}

/// Reads `{prefix}.vecs`/`.scale`; `dim` is checked when given, else taken from the file.
fn rows(st: &SafeTensors, prefix: &str, dim: Option<usize>) -> Result<I8Rows> {
    let (Some(v), Some(s)) = (view(st, &format!("{prefix}.vecs"))?, view(st, &format!("{prefix}.scale"))?) else {
        return Ok(I8Rows::new(dim.unwrap_or(0)));
    };
    let dim = dim.unwrap_or_else(|| v.shape().get(1).copied().unwrap_or(0));
    if v.dtype() != Dtype::I8 || s.dtype() != Dtype::F32 || v.shape().len() != 2 || v.shape()[1] != dim || s.shape() != [v.shape()[0]] {
        return Err(Error::Kb(format!("{prefix}: vectors {:?} {:?} and scales {:?} {:?} do not fit width {dim}", v.dtype(), v.shape(), s.dtype(), s.shape())));
    }
    Ok(I8Rows { dim, data: v.data().iter().map(|&b| b as i8).collect(), scale: s.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect() })
}

fn indices(st: &SafeTensors, name: &str, len: usize, max: usize) -> Result<Vec<u32>> {
    let Some(t) = view(st, name)? else {
        return if len == 0 { Ok(vec![]) } else { Err(Error::Kb(format!("missing {name}"))) };
    };
    if t.dtype() != Dtype::U32 || t.shape() != [len] {
        return Err(Error::Kb(format!("{name} is {:?} {:?}, expected U32 [{len}]", t.dtype(), t.shape())));
    }
    let v: Vec<u32> = t.data().chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(bad) = v.iter().find(|&&i| i as usize >= max) {
        return Err(Error::Kb(format!("{name} points at article {bad} of {max}")));
    }
    Ok(v)
}

fn kinds(st: &SafeTensors, len: usize) -> Result<Vec<UnitKind>> {
    let t = view(st, "units.kind")?.ok_or_else(|| Error::Kb("missing units.kind".into()))?;
    if t.dtype() != Dtype::U8 || t.shape() != [len] {
        return Err(Error::Kb(format!("units.kind is {:?} {:?}, expected U8 [{len}]", t.dtype(), t.shape())));
    }
    t.data().iter().map(|&k| UnitKind::ALL.get(k as usize).copied().ok_or_else(|| Error::Kb(format!("units.kind has unknown kind {k}")))).collect()
}

impl KbMeta {
    /// The metadata of a KB file alone (its header), checked for the format version.
    pub fn from_kb_bytes(bytes: &[u8]) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Kb(format!("not a helplens KB file ({e})")))?;
        let json =
            header.metadata().as_ref().and_then(|m| m.get("helplens.kb")).ok_or_else(|| Error::Kb("safetensors file without helplens.kb metadata: not a helplens KB".into()))?;
        let meta: KbMeta = serde_json::from_str(json).map_err(|e| Error::Kb(format!("bad helplens.kb metadata: {e}")))?;
        if meta.version != KB_VERSION {
            return Err(Error::Kb(format!("KB format version {} (this engine reads {KB_VERSION}); rebuild it", meta.version)));
        }
        Ok(meta)
    }
}

impl Kb {
    /// Parses a KB file; `text_dim` is the loaded text model's width.
    pub fn from_bytes(bytes: &[u8], text_dim: usize) -> Result<Self> {
        let meta = KbMeta::from_kb_bytes(bytes)?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Kb(format!("corrupt or truncated KB file: {e}")))?;
        let n = meta.articles.len();
        let units = rows(&st, "units", Some(text_dim))?;
        if units.is_empty() {
            return Err(Error::Kb("the KB has no text vectors".into()));
        }
        let unit_article = indices(&st, "units.article", units.len(), n)?;
        let unit_kind = kinds(&st, units.len())?;
        let labels = rows(&st, "labels", Some(text_dim))?;
        let photos = rows(&st, "photos", None)?;
        let photo_article = indices(&st, "photos.article", photos.len(), n)?;
        let codes = super::codes::of_articles(&meta.articles);
        let lexical = Lexical::new(&meta.articles);
        Ok(Kb { meta, units, unit_article, unit_kind, labels, photos, photo_article, codes, lexical })
    }

    /// Serializes the KB (native builder).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta_json = serde_json::to_string(&self.meta).map_err(|e| Error::Kb(e.to_string()))?;
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let u32_bytes = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (prefix, r, idx) in [("units", &self.units, Some(&self.unit_article)), ("labels", &self.labels, None), ("photos", &self.photos, Some(&self.photo_article))] {
            if r.is_empty() {
                continue;
            }
            owned.push((format!("{prefix}.vecs"), Dtype::I8, vec![r.len(), r.dim], r.data.iter().map(|&q| q as u8).collect()));
            owned.push((format!("{prefix}.scale"), Dtype::F32, vec![r.len()], f32_bytes(&r.scale)));
            if let Some(idx) = idx {
                owned.push((format!("{prefix}.article"), Dtype::U32, vec![idx.len()], u32_bytes(idx)));
            }
            if prefix == "units" {
                owned.push(("units.kind".into(), Dtype::U8, vec![self.unit_kind.len()], self.unit_kind.iter().map(|&k| k as u8).collect()));
            }
        }
        let views: Vec<(String, TensorView)> =
            owned.iter().map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)).map_err(|e| Error::Kb(e.to_string()))).collect::<Result<_>>()?;
        let meta = HashMap::from([("helplens.kb".to_string(), meta_json)]);
        safetensors::serialize(views, Some(meta)).map_err(|e| Error::Kb(e.to_string()))
    }
}
