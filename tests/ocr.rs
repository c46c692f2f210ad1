//! The OCR model against the reference pipeline it was converted from (onnxruntime running
//! the wheel's own ONNX files through the wheel's own pipeline; fixtures made once by
//! `tests/golden/ocr/generate.py`, see tests/golden/ocr/README.md): the detector's
//! probability maps and boxes, the recogniser's per-step probabilities, the strings read.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{read, root};
use helplens::cpu::Cpu;
use helplens::input::ocr::{detector_input, recogniser_input, rgb};
use helplens::models::ocr::{segments, Ocr, ReadTiming};
use helplens::tensor::now;
use helplens::weights::ModelFile;
use serde_json::Value;

/// The model as shipped.
fn ocr(precision: &str) -> Ocr<Cpu> {
    Ocr::load(&Cpu, ModelFile::from_bytes(&read(&format!("models/ppocrv5-{precision}.gguf"))).unwrap()).unwrap()
}

/// The model with the reference pipeline's detector input size and recogniser padding width
/// (the fixtures were made with them; the shipped ones are smaller).
fn reference_ocr(precision: &str) -> Ocr<Cpu> {
    use helplens::weights::convert::ocr::{REFERENCE_DET_MAX_SIDE, REFERENCE_REC_MIN_WIDTH};
    let mut m = ocr(precision);
    m.config.det_input.max_side = REFERENCE_DET_MAX_SIDE;
    m.config.rec_input.min_width = REFERENCE_REC_MIN_WIDTH;
    m
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&read(&format!("tests/golden/ocr/{name}"))).unwrap()
}

fn image(rel: &str) -> image::RgbImage {
    rgb(&helplens::input::image::decode(&read(&format!("tests/golden/ocr/{rel}"))).unwrap())
}

/// Softmax of one row of logits.
fn softmax(row: &[f32]) -> Vec<f32> {
    helplens::tensor::softmax(row)
}

/// The largest difference between the reference's top-5 probabilities at every step of every
/// line and ours for the same classes (f32 model). Named tolerance: 2e-3 (two onnxruntime
/// set-ups already differ by 5e-5; our sums run in another order through 30 layers).
const REC_PROB_TOLERANCE: f32 = 2e-3;
/// Detector maps: largest and mean absolute difference of the probabilities.
const DET_MAX_TOLERANCE: f32 = 0.02;
const DET_MEAN_TOLERANCE: f32 = 1e-3;

#[test]
fn recogniser_matches_the_reference_on_every_line() {
    let rec = fixture("rec.json");
    let crops = rec["crops"].as_array().unwrap();
    assert!(crops.len() >= 20);
    let (f32m, int8m) = (reference_ocr("f32"), reference_ocr("int8"));
    let p = f32m.config.rec_input.clone();
    let (mut same, mut same_int8, mut worst) = (0, 0, 0f32);
    for c in crops {
        let file = c["file"].as_str().unwrap();
        let want = &c["pipeline"];
        let crop = image(file);
        let (pixels, w) = recogniser_input(&crop, &p).unwrap();
        // The input first: an OpenCV-exact resize gives the reference's tensor.
        let shape: Vec<u64> = want["input_shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(shape, vec![3, 48, w as u64], "{file}: input width");
        let sum: f64 = pixels.iter().map(|&v| v as f64).sum();
        let want_sum = want["input"]["sum"].as_f64().unwrap();
        assert!((sum - want_sum).abs() < 1e-2 * (1.0 + want_sum.abs() * 1e-4), "{file}: input sum {sum} vs {want_sum}");
        let logits = now(f32m.line_logits(&Cpu, &pixels, w)).unwrap();
        let classes = f32m.config.classes;
        let steps = want["top5"].as_array().unwrap();
        assert_eq!(logits.len(), steps.len() * classes, "{file}: steps");
        for (t, top) in steps.iter().enumerate() {
            let probs = softmax(&logits[t * classes..][..classes]);
            for pair in top.as_array().unwrap() {
                let (id, pr) = (pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap() as f32);
                let d = (probs[id] - pr).abs();
                worst = worst.max(d);
                assert!(d <= REC_PROB_TOLERANCE, "{file}: step {t} class {id}: p {} vs reference {pr}", probs[id]);
            }
        }
        let text = now(f32m.read_line(&Cpu, &crop)).unwrap().0;
        let text8 = now(int8m.read_line(&Cpu, &crop)).unwrap().0;
        let reference = want["text"].as_str().unwrap();
        println!("{file}: reference {reference:?}, f32 {text:?}, int8 {text8:?}");
        same += (text == reference) as usize;
        same_int8 += (text8 == text) as usize;
    }
    println!(
        "recogniser: {same}/{} strings identical to the reference (f32); int8 agrees with f32 on {same_int8}/{}; worst probability difference {worst:.2e}",
        crops.len(),
        crops.len()
    );
    assert_eq!(same, crops.len(), "every f32 string identical to the reference");
    // int8 ships; it has to read (nearly) what f32 reads.
    assert!(same_int8 * 10 >= crops.len() * 9, "int8 agrees with f32 on only {same_int8}/{}", crops.len());
}

#[test]
fn detector_matches_the_reference_maps_boxes_and_text() {
    let det = fixture("det.json");
    let (f32m, int8m) = (reference_ocr("f32"), reference_ocr("int8"));
    let (mut lines, mut same_f32, mut same_int8) = (0, 0, 0);
    for im in det["images"].as_array().unwrap() {
        let file = im["file"].as_str().unwrap();
        let photo = image(file);
        let (map, w, h, _) = now(f32m.probability_map(&Cpu, &photo)).unwrap();
        let shape: Vec<usize> = im["output_shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(shape, vec![1, 1, h, w], "{file}: map size");
        let png = image::open(root().join("tests/golden/ocr").join(im["prob_map"].as_str().unwrap())).unwrap().into_luma16();
        assert_eq!((png.width() as usize, png.height() as usize), (w, h));
        let (mut max, mut sum) = (0f32, 0f64);
        for (got, want) in map.iter().zip(png.pixels()) {
            let d = (got - want.0[0] as f32 / 65535.0).abs();
            max = max.max(d);
            sum += d as f64;
        }
        let mean = (sum / map.len() as f64) as f32;
        println!("{file}: detector map {w}x{h}, max |Δ| {max:.2e}, mean |Δ| {mean:.2e}");
        assert!(max <= DET_MAX_TOLERANCE && mean <= DET_MEAN_TOLERANCE, "{file}: max {max}, mean {mean}");
        // The whole pipeline: the same lines, box corners within 3 pixels (our minimum-area
        // rectangles have integer corners rounded outwards, which moves a long box's unclip
        // distance by a pixel or so), and the same strings but where a space is a near tie (our
        // crops are warped by imageproc, not OpenCV: a few pixels differ).
        let reading = now(f32m.read(&Cpu, &photo)).unwrap();
        let kept: Vec<&Value> = im["boxes"].as_array().unwrap().iter().filter(|b| b["kept"].as_bool() == Some(true)).collect();
        let got: Vec<&str> = reading.lines.iter().map(|l| l.text.as_str()).collect();
        let want: Vec<&str> = kept.iter().map(|b| b["text"].as_str().unwrap()).collect();
        assert_eq!(got.len(), want.len(), "{file}: lines read {got:?}, reference {want:?}");
        for (g, w) in got.iter().zip(&want) {
            let squash = |s: &str| s.replace(' ', "");
            assert!(squash(g) == squash(w), "{file}: read {g:?}, reference {w:?}");
            same_f32 += (g == w) as usize;
        }
        for (l, b) in reading.lines.iter().zip(&kept) {
            for (p, q) in l.quad.iter().zip(b["points"].as_array().unwrap()) {
                let (x, y) = (q[0].as_f64().unwrap() as f32, q[1].as_f64().unwrap() as f32);
                assert!((p[0] - x).abs() <= 3.0 && (p[1] - y).abs() <= 3.0, "{file}: {:?} box corner {p:?} vs {x}, {y}", l.text);
            }
        }
        let int8: Vec<String> = now(int8m.read(&Cpu, &photo)).unwrap().lines.into_iter().map(|l| l.text).collect();
        println!("{file}: int8 reads {int8:?}");
        assert_eq!(int8.len(), want.len(), "{file}: int8 finds the same lines");
        lines += want.len();
        same_int8 += int8.iter().zip(&want).filter(|(a, b)| a == b).count();
    }
    println!("pipeline: f32 {same_f32}/{lines}, int8 {same_int8}/{lines} lines exactly as the reference reads them");
    assert!(same_int8 * 10 >= lines * 9, "int8 reads only {same_int8}/{lines} lines as the reference");
}

#[test]
fn hard_photos_give_a_bounded_reading_or_none() {
    let m = ocr("int8");
    let photo = |f: &str| rgb(&helplens::input::image::decode(&read(&format!("tests/fixtures/ocr/{f}"))).unwrap());
    // A dense page: at most max_lines lines are recognised, the rest counted as skipped.
    let page = now(m.read(&Cpu, &photo("newspaper.jpg"))).unwrap();
    println!("newspaper: {} lines read, {} boxes skipped", page.lines.len(), page.skipped);
    assert!(page.lines.len() <= m.config.max_lines && page.skipped > 0, "{} lines, {} skipped", page.lines.len(), page.skipped);
    // Nothing to read: no lines (or only low-confidence noise dropped).
    for f in ["blank-white.png", "black.jpg"] {
        let r = now(m.read(&Cpu, &photo(f))).unwrap();
        assert!(r.lines.is_empty(), "{f}: read {:?}", r.text());
    }
    let noise = now(m.read(&Cpu, &photo("noise.png"))).unwrap();
    println!("noise: {:?}", noise.text());
    assert!(noise.lines.len() <= 3, "noise read as {} lines", noise.lines.len());
    // Upside down (no orientation classifier): whatever is read, nothing fails.
    let flipped = now(m.read(&Cpu, &photo("upside-down.jpg"))).unwrap();
    println!("upside down: {:?}", flipped.text());
    // A one-pixel and a very thin photo.
    for (w, h) in [(1, 1), (4000, 3)] {
        assert!(now(m.read(&Cpu, &image::RgbImage::new(w, h))).unwrap().lines.is_empty());
        assert!(segments::read(&image::RgbImage::new(w, h)).is_empty());
    }
    // The seven-segment reader sees no display in any of them (a newspaper's letters and
    // noise are not clean segment patterns).
    for f in ["newspaper.jpg", "blank-white.png", "black.jpg", "noise.png", "upside-down.jpg"] {
        let rows = segments::read(&photo(f));
        assert!(rows.is_empty(), "{f}: displays read {:?}", rows.iter().map(|r| &r.text).collect::<Vec<_>>());
    }
}

#[test]
fn a_damaged_ocr_model_file_is_refused() {
    let bytes = read("models/ppocrv5-int8.gguf");
    // (The last bytes of a GGUF file may be alignment padding, which holds no content.)
    for cut in [10, bytes.len() / 2, bytes.len() - 4096] {
        assert!(ModelFile::from_bytes(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let mut flipped = bytes.clone();
    let i = flipped.len() - 1000;
    flipped[i] ^= 0x40;
    assert!(ModelFile::from_bytes(&flipped).is_err());
    // A model of another kind where the OCR model belongs.
    let text = ModelFile::from_bytes(&read("models/minilm-int8.gguf")).unwrap();
    assert!(Ocr::load(&Cpu, text).is_err());
}

/// What the peer bench feeds onnxruntime-web (`benchOcrNetworkInputs`): the detector's input
/// and every line's recogniser input, channels first, with what the model reads on each; the
/// lines `read_timed` keeps are among them and read the same; its two stages are timed apart.
#[test]
fn network_inputs_are_the_tensors_the_reading_feeds_the_networks() {
    let m = ocr("int8");
    let photo = image("images/lcd_e03.png");
    let n = now(m.network_inputs(&Cpu, &photo)).unwrap();
    let (hwc, w, h) = detector_input(&photo, &m.config.det_input).unwrap();
    assert_eq!((n.det_width, n.det_height, n.det.len()), (w, h, 3 * w * h));
    for (i, px) in hwc.chunks_exact(3).enumerate() {
        assert_eq!([n.det[i], n.det[w * h + i], n.det[2 * w * h + i]], [px[0], px[1], px[2]]);
    }
    for line in &n.lines {
        assert_eq!(line.pixels.len(), 3 * n.rec_height * line.width);
    }
    let ticks = std::cell::Cell::new(0.0);
    let clock = || {
        ticks.set(ticks.get() + 1.0);
        ticks.get()
    };
    let (reading, timing) = now(m.read_timed(&Cpu, &photo, &clock)).unwrap();
    assert_eq!(timing, ReadTiming { detect_ms: 1.0, recognise_ms: 1.0 });
    assert!(!reading.lines.is_empty() && reading.lines.len() <= n.lines.len());
    for l in &reading.lines {
        let same = n.lines.iter().find(|x| x.quad == l.quad).expect("every line read is among the network inputs");
        assert_eq!((same.text.as_str(), same.confidence), (l.text.as_str(), l.confidence));
    }
}
