//! `helplens build-kb`: embeds a KB folder into a KB file with the given models.
//! Text units per article: the title, the title with the body, each example question, and each
//! section of the body under its heading (`kb::sections`).
//! Photos: visual feature per image. Labels: every class caption, for ConSE.

use super::format::{I8Rows, Kb, KbMeta, Thresholds, UnitKind, KB_VERSION};
use super::sections::sections;
use super::source::{plain_text, KbSource, SourceArticle};
use crate::error::{Error, Result};
use crate::input::image::{decode, preprocess};
use crate::models::bert::Bert;
use crate::models::conse::caption;
use crate::models::efficientnet::EfficientNet;
use crate::tensor::{l2_normalize, Backend};

/// Suggested questions taken from the articles when `kb.toml` names none.
const SUGGESTIONS: usize = 4;
/// KB pictures embedded per forward pass of the image encoder.
pub const IMAGE_BATCH: usize = 8;

/// An article's text units with their kinds. Title, title + body and the sections are embedded
/// as passages; the example questions as customers' questions are (`UnitKind::Question`: e5's "query: " on
/// both sides of a question-to-question match, as its authors advise for symmetric tasks;
/// MiniLM has no prefixes).
pub fn unit_texts(a: &SourceArticle) -> Vec<(String, UnitKind)> {
    let art = &a.article;
    let mut texts = vec![(art.title.clone(), UnitKind::Title), (format!("{}. {}", art.title, plain_text(&art.body)), UnitKind::Passage)];
    texts.extend(a.questions.iter().map(|q| (q.clone(), UnitKind::Question)));
    texts.extend(sections(&art.body).iter().map(|s| (s.unit_text(&art.title), UnitKind::Section)));
    texts
}

/// Builds the KB; `progress` is told about each article.
pub fn build<B: Backend>(backend: &B, text: &Bert<B>, image: Option<&EfficientNet<B>>, src: &KbSource, progress: &mut dyn FnMut(&str)) -> Result<Kb> {
    let dim = text.config.hidden;
    let mut units = I8Rows::new(dim);
    let mut unit_article = Vec::new();
    let mut unit_kind = Vec::new();
    let mut photos = I8Rows::new(image.map(|m| m.config.feature_dim).unwrap_or(0));
    let mut photo_article = Vec::new();
    // Pictures are decoded article by article and embedded in batches afterwards.
    let mut pending: Vec<Vec<f32>> = Vec::new();
    for (i, a) in src.articles.iter().enumerate() {
        progress(&a.article.id);
        let art = &a.article;
        for (t, kind) in unit_texts(a) {
            units.push(&text.embed(backend, &t, kind.is_query())?);
            unit_article.push(i as u32);
            unit_kind.push(kind);
        }
        if let Some(model) = image {
            for img in &art.images {
                let bytes = std::fs::read(src.dir.join(img))?;
                pending.push(preprocess(&decode(&bytes).map_err(|e| Error::Kb(format!("picture {img}: {e}")))?, &model.config.preprocess)?);
                photo_article.push(i as u32);
            }
        }
    }
    if let Some(model) = image {
        for batch in pending.chunks(IMAGE_BATCH) {
            progress(&format!("{} pictures", batch.len()));
            for out in model.forward_batch(backend, &batch.iter().map(Vec::as_slice).collect::<Vec<_>>())? {
                let mut feature = out.feature;
                l2_normalize(&mut feature);
                photos.push(&feature);
            }
        }
    }
    let mut labels = I8Rows::new(dim);
    if let Some(model) = image {
        progress("class captions");
        for l in &model.labels {
            labels.push(&text.embed(backend, &caption(l), true)?);
        }
    }
    let c = &src.config;
    let t = c.thresholds.as_ref();
    let meta = KbMeta {
        version: KB_VERSION,
        name: c.name.clone().unwrap_or_else(|| "Help centre".into()),
        contact_url: c.contact_url.clone(),
        contact_email: c.contact_email.clone(),
        thresholds: {
            let default = c.language.default_thresholds();
            Thresholds { text: t.and_then(|t| t.text).unwrap_or(default.text), photo: t.and_then(|t| t.photo).unwrap_or(default.photo) }
        },
        text_model: text.fingerprint.clone(),
        image_model: image.map(|m| m.fingerprint.clone()),
        text_model_file: None,
        image_model_file: None,
        suggestions: c.suggestions.clone().unwrap_or_else(|| src.articles.iter().filter_map(|a| a.questions.first().cloned()).take(SUGGESTIONS).collect()),
        articles: src.articles.iter().map(|a| a.article.clone()).collect(),
    };
    let codes = super::codes::of_articles(&meta.articles);
    let lexical = super::lexical::Lexical::new(&meta.articles);
    Ok(Kb { meta, units, unit_article, unit_kind, labels, photos, photo_article, codes, lexical })
}
