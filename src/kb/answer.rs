//! Fusing the evidence into ranked answers.
//!
//! - text: cosine of the question to each article's text units (title, body, example
//!   questions). The score, shown and held against the confidence threshold, is the best
//!   unit's cosine. A typed question without a photo orders articles by the text evidence
//!   instead (`search::text_evidence`: cosines standardised within each unit kind, mean of the
//!   best three);
//! - photo → KB text: cosine of the photo's ConSE vector to the same units;
//! - photo → KB photo: cosine of the visual features, taken relative to this photo's median
//!   cosine over all KB photos and rescaled from `median..1` to `0..1`. Pooled ReLU6 features of
//!   unrelated pictures are far from orthogonal, and how far depends on the picture style (clip-art
//!   product pictures sit near 0.3 to each other, photos of unrelated things near 0.2), so a fixed
//!   floor either drowns the evidence or lets everything through; the per-query median is a
//!   standard score normalisation for fusing heterogeneous retrievers.
//!
//! - lexical: BM25 of text read in a photo against each article's words (`kb::lexical`), added
//!   with `LEXICAL_WEIGHT` to the ordering when the read text stands alone: a screen quotes
//!   the article that explains it.
//!
//! A photo's score is the mean of its two parts (only the ConSE part where an article has no
//! photo). With text and photo together, the text leads and the photo adds `PHOTO_WEIGHT` of
//! its score.

use serde::Serialize;

use super::codes;
use super::format::Kb;
use super::search::{max_per_article, scores, text_evidence};
use crate::models::ocr::Reading;

/// Weight of the photo score when a question is typed too.
pub const PHOTO_WEIGHT: f32 = 0.35;
/// Weight of the lexical evidence (the best article's BM25 is 1) added to the best cosine when
/// text read in a photo stands alone. Chosen on development data only: the screen texts of
/// tests/dev/screen-texts.toml go 42 → 45 of 48 from 0 to 0.1 and stay there up to 2
/// (`dev_lexical_weight_sweep`); the development screen photos hold 26 of 28 up to 0.1 and
/// lose one from 0.2.
pub const LEXICAL_WEIGHT: f32 = 0.1;
/// Answers returned.
pub const TOP_ANSWERS: usize = 5;

/// One ranked article.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AnswerItem {
    pub id: String,
    pub title: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What the photo looks like (class name and probability).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Label {
    pub name: String,
    pub p: f32,
}

/// The response to one `ask`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Answer {
    pub answers: Vec<AnswerItem>,
    pub confident: bool,
    pub labels: Vec<Label>,
    /// The text read in the photo, where an OCR model is loaded and the photo has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<Reading>,
    /// Codes read in the photo (or typed) that name the top answers literally.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

/// A photo scored against the KB (by the backend: see `Engine::ask_async`).
pub struct PhotoScores {
    /// Cosine of the photo's ConSE vector with every KB text unit.
    pub conse: Vec<f32>,
    /// Cosine of the photo's visual feature with every KB picture.
    pub visual: Vec<f32>,
    /// Top labels for display.
    pub labels: Vec<Label>,
}

/// Where the text of a query came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFrom {
    /// A question typed or spoken (with or without the text of a photo beside it).
    Asked,
    /// Only the text read in a photo.
    Read,
}

/// The text side of a query scored against the KB.
#[derive(Debug, Clone, Copy)]
pub struct TextScores<'a> {
    /// Cosine of the text's vector with every KB text unit.
    pub cosines: &'a [f32],
    pub from: TextFrom,
    /// BM25 of the text per article, the best 1 (`kb::lexical`); empty where not used.
    pub lexical: &'a [f32],
}

/// Answers a question vector with the KB search on the host.
pub fn search(kb: &Kb, question: &[f32]) -> Answer {
    rank(kb, Some(TextScores { cosines: &scores(&kb.units, question), from: TextFrom::Asked, lexical: &[] }), None, &[])
}

/// Ranks the KB's articles from the question's cosine with every KB text unit and/or a
/// photo's scores. Articles that name more of `codes` (typed or read: see `kb::codes`) come
/// first, then by the scores: a code is exact evidence no embedding gives.
pub fn rank(kb: &Kb, question: Option<TextScores>, photo: Option<PhotoScores>, codes: &[String]) -> Answer {
    let n = kb.meta.articles.len();
    let text = question.map(|q| max_per_article(q.cosines, &kb.unit_article, n));
    let photo_scores = photo.as_ref().map(|p| {
        let conse = max_per_article(&p.conse, &kb.unit_article, n);
        let visual = max_per_article(&relative_to_median(p.visual.clone()), &kb.photo_article, n);
        conse.iter().zip(&visual).map(|(&c, &v)| if v.is_finite() { 0.5 * (c + v) } else { 0.5 * c }).collect::<Vec<f32>>()
    });
    // The score: the best cosine plus the photo's part. The order: the text evidence for a typed
    // question alone; with a photo, the score (PHOTO_WEIGHT was set against best cosines, and
    // no development set of questions with photos exists yet to weigh it against the evidence).
    // Text read on a screen alone is ordered by its best cosine too: it reads like the passage
    // that quotes the message, not like a question, and the evidence's agreement of title,
    // example questions and body favours the product's general articles (chosen on the
    // development screen photos: 15/18 first by the best cosine, 13/18 by the evidence).
    let photo_at = |a: usize| photo_scores.as_ref().map(|p| p[a]);
    let score: Vec<f32> = (0..n).map(|a| fuse(text.as_ref().map(|t| t[a]), photo_at(a))).collect();
    let key: Vec<f32> = match (question, &photo_scores) {
        (Some(TextScores { cosines, from: TextFrom::Asked, .. }), None) => text_evidence(cosines, &kb.unit_article, &kb.unit_kind, n),
        (Some(TextScores { from: TextFrom::Read, lexical, .. }), None) if lexical.len() == n => score.iter().zip(lexical).map(|(s, l)| s + LEXICAL_WEIGHT * l).collect(),
        _ => score.clone(),
    };
    let (named, used) = codes::matches(kb, codes);
    let mut order: Vec<usize> = (0..n).filter(|&a| key[a].is_finite()).collect();
    order.sort_by(|&a, &b| named[b].cmp(&named[a]).then(key[b].total_cmp(&key[a])));
    order.truncate(TOP_ANSWERS);
    let threshold = if text.is_some() { kb.meta.thresholds.text } else { kb.meta.thresholds.photo };
    // Confident: above the threshold, or the only article naming the most codes read.
    let sole_code_match = match order[..] {
        [a, b, ..] => named[a] > named[b],
        [a] => named[a] > 0,
        [] => false,
    };
    let confident = order.first().is_some_and(|&a| score[a] >= threshold) || sole_code_match;
    let used: Vec<String> = used.into_iter().filter(|c| order.iter().take(3).any(|&a| codes::names(kb, a, c))).collect();
    Answer {
        answers: order
            .into_iter()
            .map(|a| {
                let art = &kb.meta.articles[a];
                AnswerItem { id: art.id.clone(), title: art.title.clone(), score: score[a], url: art.url.clone() }
            })
            .collect(),
        confident,
        labels: photo.map(|p| p.labels).unwrap_or_default(),
        read: None,
        codes: used,
    }
}

/// An article's text and photo parts together: the text leads, the photo adds `PHOTO_WEIGHT`.
fn fuse(text: Option<f32>, photo: Option<f32>) -> f32 {
    match (text, photo) {
        (Some(t), Some(p)) => t + PHOTO_WEIGHT * p,
        (Some(t), None) => t,
        (None, Some(p)) => p,
        (None, None) => 0.0,
    }
}

/// Rescales cosines so that this query's median maps to 0 and 1 stays 1; below the median is 0.
fn relative_to_median(mut s: Vec<f32>) -> Vec<f32> {
    if s.is_empty() {
        return s;
    }
    let mut sorted = s.clone();
    sorted.sort_by(f32::total_cmp);
    let m = sorted[sorted.len() / 2].min(0.99);
    for x in &mut s {
        *x = ((*x - m) / (1.0 - m)).max(0.0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::relative_to_median;

    #[test]
    fn median_maps_to_zero_and_one_stays_one() {
        let r = relative_to_median(vec![0.2, 0.4, 1.0, 0.1, 0.6]);
        assert_eq!(r[1], 0.0);
        assert_eq!(r[3], 0.0);
        assert!((r[2] - 1.0).abs() < 1e-6);
        assert!((r[4] - (0.2 / 0.6)).abs() < 1e-6);
        assert!(relative_to_median(vec![]).is_empty());
    }
}
