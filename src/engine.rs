//! The engine: models and KB loaded once onto one backend, answering `ask`.

use crate::error::{Error, Result};
use crate::input::image::{self, preprocess, preprocess_rgba};
use crate::input::ocr as ocr_input;
use crate::input::text::check_question;
use crate::kb::answer::{rank, PhotoScores, TextFrom, TextScores};
use crate::kb::format::I8Rows;
use crate::kb::{codes, lexical};
use crate::kb::{Answer, Kb, Label};
use crate::models::bert::Bert;
use crate::models::conse::TOP_T;
use crate::models::efficientnet::{EfficientNet, ImageOutput};
use crate::models::ocr::{NetworkInputs, Ocr, ReadTiming, Reading};
use crate::tensor::{now, top_k, Backend};
use crate::weights::gguf::{short, Integrity};
use crate::weights::ModelFile;

/// Labels reported for a photo.
pub const LABELS_SHOWN: usize = 3;

/// A photo as the caller has it.
#[derive(Debug, Clone, Copy)]
pub enum Photo<'a> {
    /// Encoded bytes (JPEG, PNG, WebP, GIF).
    Encoded(&'a [u8]),
    /// Decoded RGBA pixels, row-major.
    Rgba { data: &'a [u8], width: u32, height: u32 },
}

/// Loaded models and KB on one backend.
pub struct Engine<B: Backend> {
    backend: B,
    text: Bert<B>,
    image: Option<EfficientNet<B>>,
    ocr: Option<Ocr<B>>,
    kb: Kb,
    /// The KB's vectors on the backend, for the search and ConSE.
    rows: KbRows<B>,
    integrity: Integrity,
}

/// The KB's int8 vectors, uploaded once.
struct KbRows<B: Backend> {
    units: B::Rows,
    labels: B::Rows,
    photos: B::Rows,
}

fn upload<B: Backend>(backend: &B, r: &I8Rows) -> Result<B::Rows> {
    backend.rows(&r.data, &r.scale, r.dim)
}

fn check_fingerprint(role: &'static str, expected: Option<&str>, found: &str) -> Result<()> {
    match expected {
        Some(e) if e != found => Err(Error::Mismatch { role, expected: short(e).into(), found: short(found).into() }),
        None => Err(Error::Kb(format!("the KB was built without an {role} model, photos cannot be matched"))),
        _ => Ok(()),
    }
}

impl<B: Backend> Engine<B> {
    /// Loads the text model and the KB; the image model may follow with [`Engine::add_image_model`].
    pub fn new(backend: B, text_model: &[u8], kb: &[u8]) -> Result<Self> {
        Self::open(backend, text_model, kb, Integrity::Check)
    }

    /// [`Engine::new`], with the model files (this one and the image model's) checked as
    /// `integrity` says.
    pub fn open(backend: B, text_model: &[u8], kb: &[u8], integrity: Integrity) -> Result<Self> {
        let text = Bert::load(&backend, ModelFile::from_bytes_with(text_model, integrity)?)?;
        let kb = Kb::from_bytes(kb, text.config.hidden)?;
        check_fingerprint("text", Some(&kb.meta.text_model), &text.fingerprint)?;
        let rows = KbRows { units: upload(&backend, &kb.units)?, labels: upload(&backend, &kb.labels)?, photos: upload(&backend, &kb.photos)? };
        Ok(Engine { backend, text, image: None, ocr: None, kb, rows, integrity })
    }

    /// Loads (or replaces) the image model.
    pub fn add_image_model(&mut self, bytes: &[u8]) -> Result<()> {
        let image = EfficientNet::load(&self.backend, ModelFile::from_bytes_with(bytes, self.integrity)?)?;
        check_fingerprint("image", self.kb.meta.image_model.as_deref(), &image.fingerprint)?;
        if !self.kb.photos.is_empty() && self.kb.photos.dim != image.config.feature_dim {
            return Err(Error::Kb(format!("KB photo vectors have {} dims, the image model {}", self.kb.photos.dim, image.config.feature_dim)));
        }
        if self.kb.labels.len() != image.config.classes {
            return Err(Error::Kb(format!("KB has {} label vectors, the image model {} classes", self.kb.labels.len(), image.config.classes)));
        }
        self.image = Some(image);
        Ok(())
    }

    /// Loads (or replaces) the OCR model: photos are then read too, and what they say joins
    /// the question.
    pub fn add_ocr_model(&mut self, bytes: &[u8]) -> Result<()> {
        self.ocr = Some(Ocr::load(&self.backend, ModelFile::from_bytes_with(bytes, self.integrity)?)?);
        Ok(())
    }

    /// Whether photos are read.
    pub fn has_ocr_model(&self) -> bool {
        self.ocr.is_some()
    }

    /// The backend the engine runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The loaded KB.
    pub fn kb(&self) -> &Kb {
        &self.kb
    }

    /// Whether photos can be answered.
    pub fn has_image_model(&self) -> bool {
        self.image.is_some()
    }

    /// The sentence vector of a question.
    pub fn embed_question(&self, text: &str) -> Result<Vec<f32>> {
        now(self.embed_question_async(text))
    }

    /// Runs the image encoder on a photo.
    pub fn embed_photo(&self, photo: Photo) -> Result<ImageOutput> {
        now(self.embed_photo_async(photo))
    }

    /// Answers a question, a photo, or both.
    pub fn ask(&self, question: &str, photo: Option<Photo>) -> Result<Answer> {
        now(self.ask_async(question, photo))
    }

    // The asynchronous forms below are the implementation; the synchronous ones above poll
    // them once (see `tensor::now`). Only the browser's WebGPU backend ever has to wait.

    /// [`Engine::embed_question`], asynchronously.
    pub async fn embed_question_async(&self, text: &str) -> Result<Vec<f32>> {
        self.text.embed_async(&self.backend, text, true).await
    }

    /// [`Engine::embed_photo`], asynchronously.
    pub async fn embed_photo_async(&self, photo: Photo<'_>) -> Result<ImageOutput> {
        let (model, pixels) = self.pixels(photo)?;
        model.forward_async(&self.backend, &pixels).await
    }

    /// The image model and a photo preprocessed for it.
    fn pixels(&self, photo: Photo) -> Result<(&EfficientNet<B>, Vec<f32>)> {
        let model = self.image.as_ref().ok_or(Error::NoImageModel)?;
        let p = &model.config.preprocess;
        let pixels = match photo {
            Photo::Encoded(bytes) => preprocess(&image::decode(bytes)?, p)?,
            Photo::Rgba { data, width, height } => preprocess_rgba(data, width, height, p)?,
        };
        Ok((model, pixels))
    }

    /// What a photo says, when an OCR model is loaded: the reading, the text to answer by
    /// (`None` unless it reads a code or three words and more: what a screen or label says;
    /// a word or two is a brand on a product's casing, and the picture says more), and the
    /// codes read in that text and on its displays (see `kb::codes`).
    async fn read_for_ask(&self, photo: Option<Photo<'_>>) -> Result<Option<(Reading, Option<String>, Vec<String>)>> {
        let (Some(ocr), Some(photo)) = (&self.ocr, photo) else { return Ok(None) };
        let rgb = ocr_input::rgb(&decoded(photo)?);
        let mut reading = ocr.read(&self.backend, &rgb).await?;
        reading.add_displays(&rgb);
        let text = reading.text();
        let words: Vec<&str> = text.split_whitespace().filter(|w| w.chars().filter(|c| c.is_alphanumeric()).count() >= 2).collect();
        // Two words count when the KB uses one of them at least ("Card full", and "Paper jam"
        // read with the warning sign before it as "APaper jam"); a brand or a model name on a
        // casing is rarely words the articles use.
        let known = |w: &str| lexical::terms(w).iter().all(|t| self.kb.lexical.knows(t));
        let screen_words = words.len() >= 3 || (words.len() == 2 && words.iter().any(|w| known(w)));
        let cjk = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
        let shown: Vec<String> = reading.lines.iter().filter(|l| l.display).flat_map(|l| codes::of_display(&l.text)).collect();
        let screen = !shown.is_empty() || !codes::extract(&text).is_empty() || screen_words || cjk >= 4;
        let query: Option<String> = screen.then(|| text.chars().take(MAX_READ_CHARS).collect());
        let mut found = query.as_deref().map(codes::extract).unwrap_or_default();
        for c in shown {
            if !found.contains(&c) {
                found.push(c);
            }
        }
        Ok(Some((reading, query, found)))
    }

    /// Reads a photo alone (no question, no KB), timing its stages with `clock` (milliseconds).
    pub async fn read_photo_async(&self, photo: Photo<'_>, clock: &dyn Fn() -> f64) -> Result<(Reading, ReadTiming)> {
        let ocr = self.ocr.as_ref().ok_or(Error::NoOcrModel)?;
        let t0 = clock();
        let rgb = ocr_input::rgb(&decoded(photo)?);
        let (mut reading, mut timing) = ocr.read_timed(&self.backend, &rgb, clock).await?;
        reading.add_displays(&rgb);
        // The conversion to RGB counts as part of finding the lines.
        timing.detect_ms = clock() - t0 - timing.recognise_ms;
        Ok((reading, timing))
    }

    /// The tensors the OCR networks are fed for a photo (benchmarks against another engine).
    pub async fn ocr_network_inputs_async(&self, photo: Photo<'_>) -> Result<NetworkInputs> {
        let ocr = self.ocr.as_ref().ok_or(Error::NoOcrModel)?;
        ocr.network_inputs(&self.backend, &ocr_input::rgb(&decoded(photo)?)).await
    }

    /// [`Engine::ask`], asynchronously. Everything up to the KB scores runs on the backend:
    /// the encoders, L2 norms, softmax, ConSE and the int8 search; one read brings back the
    /// scores (and a photo's class probabilities), and the host ranks articles.
    pub async fn ask_async(&self, question: &str, photo: Option<Photo<'_>>) -> Result<Answer> {
        let q = check_question(question)?;
        if q.is_none() && photo.is_none() {
            return Err(Error::EmptyQuestion);
        }
        // An encoded photo is decoded once, for the OCR model and the image encoder alike.
        let decoded_photo = match photo {
            Some(Photo::Encoded(bytes)) if self.ocr.is_some() => Some(image::decode(bytes)?),
            _ => None,
        };
        let photo = match &decoded_photo {
            Some(img) => Some(Photo::Rgba { data: img.as_raw(), width: img.width(), height: img.height() }),
            None => photo,
        };
        // The photo's text joins the typed question (or stands for it), and its codes are
        // exact evidence.
        let read = self.read_for_ask(photo).await?;
        let read_query = read.as_ref().and_then(|(_, t, _)| t.clone());
        let codes = read.as_ref().map(|(_, _, c)| c.clone()).unwrap_or_default();
        let joined = match (q, read_query.as_deref()) {
            (Some(q), Some(r)) => Some(format!("{q}\n{r}")),
            (Some(q), None) => Some(q.to_string()),
            (None, r) => r.map(str::to_string),
        };
        let b = &self.backend;
        let mut reads = Vec::new();
        if let Some(q) = &joined {
            reads.push(b.scores(&self.rows.units, &self.text.encode_text(b, q, true)?)?);
        }
        // A photo of a screen or label is answered by what it says, as a typed question is:
        // the picture would be classified as a screen or a label, which says nothing about the
        // product or the fault, so the image encoder does not run for it.
        let model = match photo {
            Some(p) if read_query.is_none() => {
                let (model, pixels) = self.pixels(p)?;
                let (pooled, logits) = model.encode(b, &[&pixels])?;
                let probs = b.softmax(&logits)?;
                let conse = b.l2_normalize(&b.conse(&probs, &self.rows.labels, TOP_T)?)?;
                reads.push(b.scores(&self.rows.units, &conse)?);
                reads.push(probs);
                if !self.kb.photos.is_empty() {
                    reads.push(b.scores(&self.rows.photos, &b.l2_normalize(&pooled)?)?);
                }
                Some(model)
            }
            _ => None,
        };
        let mut got = b.read_many_async(&reads.iter().collect::<Vec<_>>()).await?.into_iter();
        let text = if joined.is_some() { got.next() } else { None };
        let photo = model.map(|model| {
            let (conse, probs, visual) = (got.next().unwrap_or_default(), got.next().unwrap_or_default(), got.next().unwrap_or_default());
            let labels = top_k(&probs, LABELS_SHOWN).into_iter().map(|i| Label { name: model.labels[i].clone(), p: probs[i] }).collect();
            PhotoScores { conse, visual, labels }
        });
        let from = if q.is_some() { TextFrom::Asked } else { TextFrom::Read };
        let lexical = match (from, &joined) {
            (TextFrom::Read, Some(t)) => self.kb.lexical.scores(t),
            _ => Vec::new(),
        };
        let mut answer = rank(&self.kb, text.as_deref().map(|cosines| TextScores { cosines, from, lexical: &lexical }), photo, &codes);
        answer.read = read.map(|(r, ..)| r);
        Ok(answer)
    }
}

/// At most this many characters of what a photo says go into the text query.
const MAX_READ_CHARS: usize = 1000;

/// A photo decoded to RGBA.
fn decoded(photo: Photo) -> Result<::image::RgbaImage> {
    match photo {
        Photo::Encoded(bytes) => image::decode(bytes),
        Photo::Rgba { data, width, height } => {
            image::check_size(width, height)?;
            ::image::RgbaImage::from_raw(width, height, data.to_vec()).ok_or_else(|| Error::ImageInvalid(format!("{} bytes for {width}x{height} RGBA", data.len())))
        }
    }
}
