//! Reading the text in a photo: PP-OCR's detector (DBNet: a per-pixel text probability map) and
//! recogniser (SVTR neck, CTC head) as [`ConvNet`]s, with the detector's post-processing
//! (`db.rs`), the crops (`input::ocr`) and the CTC decoding (`ctc.rs`) around them.

pub mod ctc;
pub mod db;
pub mod segments;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::ocr::{self as prep, Quad};
use crate::models::convnet::{ConvNet, NetConfig};
use crate::tensor::Backend;
use crate::weights::ModelFile;

/// Detector input: how a photo is resized and normalised.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DetInput {
    /// A photo whose longer side is longer is scaled down to it (never up).
    pub max_side: u32,
    /// Per channel (in the order the network takes: `bgr` says which), `(p/255 − mean)/std`.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Whether the network takes blue, green, red (PaddleOCR reads images with OpenCV).
    pub bgr: bool,
}

/// Recogniser input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecInput {
    pub height: u32,
    /// Crops narrower than this are padded to it (with zeros after normalisation).
    pub min_width: u32,
    /// Crops wider than this are squeezed to it (bounded work per line).
    pub max_width: u32,
    pub mean: f32,
    pub std: f32,
    pub bgr: bool,
}

/// Everything about the OCR model but its weights, stored as `helplens.config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OcrConfig {
    pub name: String,
    pub det: NetConfig,
    pub rec: NetConfig,
    pub det_input: DetInput,
    pub rec_input: RecInput,
    pub db: db::DbParams,
    /// CTC classes: blank, the dictionary, then the space.
    pub classes: usize,
    /// Lines read with a lower mean character confidence are dropped.
    pub min_confidence: f32,
    /// At most this many text boxes are recognised per photo (a newspaper page has thousands).
    pub max_lines: usize,
}

/// One line of text read from a photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub text: String,
    /// Mean probability of the characters kept by the CTC decoding.
    pub confidence: f32,
    /// Corners in photo pixels: top-left, top-right, bottom-right, bottom-left.
    pub quad: Quad,
    /// Read from a seven-segment display (see `segments`), not by the networks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub display: bool,
}

/// What a photo says, lines in reading order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reading {
    pub lines: Vec<Line>,
    /// Boxes the detector found beyond `max_lines` (not recognised).
    pub skipped: usize,
}

impl Reading {
    /// Adds what the photo's seven-segment displays read (`segments::read`), each in place of
    /// the network lines inside it (the recogniser misreads segment digits), in reading order.
    pub fn add_displays(&mut self, rgb: &image::RgbImage) {
        for row in segments::read(rgb) {
            self.lines.retain(|l| !segments::overlaps(&l.quad, &row.quad));
            let at = self.lines.iter().position(|l| l.quad[0][1] > row.quad[0][1]).unwrap_or(self.lines.len());
            self.lines.insert(at, Line { text: row.text, confidence: row.confidence, quad: row.quad, display: true });
        }
    }

    /// The lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

/// A loaded OCR model.
pub struct Ocr<B: Backend> {
    pub config: OcrConfig,
    pub fingerprint: String,
    det: ConvNet<B>,
    rec: ConvNet<B>,
    /// Class id → text (`""` for the blank).
    chars: Vec<String>,
}

impl<B: Backend> Ocr<B> {
    /// Loads an OCR model from a parsed model file onto `backend`.
    pub fn load(backend: &B, mut file: ModelFile) -> Result<Self> {
        file.expect_kind("ocr")?;
        let c: OcrConfig = file.config()?;
        let chars: Vec<String> = serde_json::from_str(file.meta("helplens.labels")?).map_err(|e| Error::Model(format!("bad helplens.labels: {e}")))?;
        if chars.len() != c.classes {
            return Err(Error::Model(format!("{} characters for {} CTC classes", chars.len(), c.classes)));
        }
        if c.det_input.max_side < 32 || c.rec_input.height == 0 || c.rec_input.max_width < c.rec_input.min_width {
            return Err(Error::Model(format!("bad OCR input settings {:?} {:?}", c.det_input, c.rec_input)));
        }
        let det = ConvNet::load(backend, c.det.clone(), &mut file, "det")?;
        let rec = ConvNet::load(backend, c.rec.clone(), &mut file, "rec")?;
        Ok(Ocr { config: c, fingerprint: file.fingerprint.clone(), det, rec, chars })
    }

    /// The detector's text probability map for an RGB photo: (map, width, height) at the
    /// detector's input size, and the scale from map pixels back to photo pixels.
    pub async fn probability_map(&self, backend: &B, rgb: &image::RgbImage) -> Result<(Vec<f32>, usize, usize, [f32; 2])> {
        let (pixels, w, h) = prep::detector_input(rgb, &self.config.det_input)?;
        self.map_of(backend, rgb, &pixels, w, h).await
    }

    /// [`Ocr::probability_map`] of the detector's input `pixels` (`[h, w, 3]`) made from `rgb`.
    async fn map_of(&self, backend: &B, rgb: &image::RgbImage, pixels: &[f32], w: usize, h: usize) -> Result<(Vec<f32>, usize, usize, [f32; 2])> {
        let x = backend.tensor(pixels, &[1, h, w, 3])?;
        let y = self.det.forward(backend, x)?;
        let map = backend.read_async(&y).await?;
        if map.len() != w * h {
            return Err(Error::Shape { op: "ocr detector", detail: format!("{} values for a {w}x{h} map", map.len()) });
        }
        Ok((map, w, h, [rgb.width() as f32 / w as f32, rgb.height() as f32 / h as f32]))
    }

    /// Logits `[t, classes]` of the recogniser for one preprocessed line `[height, w, 3]`.
    pub async fn line_logits(&self, backend: &B, pixels: &[f32], w: usize) -> Result<Vec<f32>> {
        let h = self.config.rec_input.height as usize;
        let x = backend.tensor(pixels, &[1, h, w, 3])?;
        backend.read_async(&self.rec.forward(backend, x)?).await
    }

    /// Reads one already-cropped line (an RGB image of the line alone).
    pub async fn read_line(&self, backend: &B, crop: &image::RgbImage) -> Result<(String, f32)> {
        let (pixels, w) = prep::recogniser_input(crop, &self.config.rec_input)?;
        let logits = self.line_logits(backend, &pixels, w).await?;
        Ok(ctc::greedy(&logits, &self.chars))
    }

    /// Finds and reads the text lines of a photo.
    pub async fn read(&self, backend: &B, rgb: &image::RgbImage) -> Result<Reading> {
        Ok(self.read_timed(backend, rgb, &|| 0.0).await?.0)
    }

    /// [`Ocr::read`], with the time of its two stages measured by `clock` (milliseconds).
    pub async fn read_timed(&self, backend: &B, rgb: &image::RgbImage, clock: &dyn Fn() -> f64) -> Result<(Reading, ReadTiming)> {
        let t0 = clock();
        let (pixels, w, h) = prep::detector_input(rgb, &self.config.det_input)?;
        let (boxes, skipped) = self.find_lines(backend, rgb, &pixels, w, h).await?;
        let t1 = clock();
        let mut lines = Vec::new();
        for quad in boxes {
            let crop = prep::crop_line(rgb, &quad)?;
            let (text, confidence) = self.read_line(backend, &crop).await?;
            if confidence >= self.config.min_confidence && !text.trim().is_empty() {
                lines.push(Line { text, confidence, quad, display: false });
            }
        }
        let t2 = clock();
        Ok((Reading { lines, skipped }, ReadTiming { detect_ms: t1 - t0, recognise_ms: t2 - t1 }))
    }

    /// The text boxes of a photo in photo pixels and reading order, at most `max_lines` of
    /// them, and how many more the detector found; `pixels` (`[h, w, 3]`) is the detector's
    /// input made from `rgb`.
    async fn find_lines(&self, backend: &B, rgb: &image::RgbImage, pixels: &[f32], w: usize, h: usize) -> Result<(Vec<Quad>, usize)> {
        let (map, w, h, [sx, sy]) = self.map_of(backend, rgb, pixels, w, h).await?;
        let mut boxes = db::boxes(&map, w, h, &self.config.db);
        // Back to photo pixels (rounded half to even and clipped, as the reference does);
        // boxes that end up 3 pixels or less across are dropped.
        let (pw, ph) = (rgb.width() as f32 - 1.0, rgb.height() as f32 - 1.0);
        for b in &mut boxes {
            for p in &mut b.quad {
                p[0] = (p[0] * sx).round_ties_even().clamp(0.0, pw);
                p[1] = (p[1] * sy).round_ties_even().clamp(0.0, ph);
            }
        }
        boxes.retain(|b| {
            let (across, down) = db::sides(&b.quad);
            across > 3.0 && down > 3.0
        });
        db::reading_order(&mut boxes);
        let skipped = boxes.len().saturating_sub(self.config.max_lines);
        boxes.truncate(self.config.max_lines);
        Ok((boxes.into_iter().map(|b| b.quad).collect(), skipped))
    }

    /// The tensors the two networks are fed for a photo, channels first (ONNX's layout), so
    /// that another engine can run the same networks on exactly these inputs (the peer
    /// benchmark): the detector's input, and every line the detector finds (low-confidence
    /// ones too) with what this model reads there.
    pub async fn network_inputs(&self, backend: &B, rgb: &image::RgbImage) -> Result<NetworkInputs> {
        let (pixels, w, h) = prep::detector_input(rgb, &self.config.det_input)?;
        let (boxes, _) = self.find_lines(backend, rgb, &pixels, w, h).await?;
        let rh = self.config.rec_input.height as usize;
        let mut lines = Vec::new();
        for quad in boxes {
            let (px, lw) = prep::recogniser_input(&prep::crop_line(rgb, &quad)?, &self.config.rec_input)?;
            let (text, confidence) = ctc::greedy(&self.line_logits(backend, &px, lw).await?, &self.chars);
            lines.push(LineInput { quad, pixels: channels_first(&px, rh, lw), width: lw, text, confidence });
        }
        Ok(NetworkInputs { det: channels_first(&pixels, h, w), det_width: w, det_height: h, rec_height: rh, lines })
    }
}

/// `[h, w, 3]` → `[3, h, w]`.
fn channels_first(hwc: &[f32], h: usize, w: usize) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in hwc.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px[c];
        }
    }
    out
}

/// How long [`Ocr::read_timed`] spent finding the lines (resize, detector, boxes) and reading
/// them (crops, recogniser, CTC decoding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ReadTiming {
    pub detect_ms: f64,
    pub recognise_ms: f64,
}

/// [`Ocr::network_inputs`]: the detector's input `[3, det_height, det_width]` and one entry
/// per line found.
#[derive(Debug, Clone)]
pub struct NetworkInputs {
    pub det: Vec<f32>,
    pub det_width: usize,
    pub det_height: usize,
    pub rec_height: usize,
    pub lines: Vec<LineInput>,
}

/// One line's recogniser input `[3, rec_height, width]`, its box, and what this model reads.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub quad: Quad,
    pub pixels: Vec<f32>,
    pub width: usize,
    pub text: String,
    pub confidence: f32,
}
