//! Photos of screens, displays, dialogs and labels (tests/heldout/ocr.toml, held out: nothing
//! was tuned on them) answered by what they say: top-1 from the photo alone against the demo KB
//! the photo belongs to, and the character error rate of the text read. Target from the issue:
//! top-1 ≥ 0.85 (`held_out_screen_photos_meet_the_target`, not met yet: it is ignored until
//! it is, and run with `cargo test --release --test retrieval_ocr -- --ignored`). The test run
//! by `./build.sh test` checks what holds today: reading the text answers far more of these
//! photos than the picture alone, and the text is read with few character errors.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::read;
use helplens::cpu::Cpu;
use helplens::{Engine, Photo};
use serde::Deserialize;

#[derive(Deserialize)]
struct Set {
    photo: Vec<P>,
}
#[derive(Deserialize)]
struct P {
    file: String,
    kb: String,
    expect: String,
    text: String,
}

fn engine(kb: &str, ocr: bool) -> Engine<Cpu> {
    let (text, kb) = match kb {
        "zh" => ("models/e5-small-q4-en-zh.gguf", "www/models/demo-kb-zh.safetensors"),
        _ => ("models/minilm-int8.gguf", "www/models/demo-kb.safetensors"),
    };
    let mut e = Engine::new(Cpu, &read(text), &read(kb)).unwrap();
    e.add_image_model(&read("models/efficientnet-lite0-int8.gguf")).unwrap();
    if ocr {
        e.add_ocr_model(&read("models/ppocrv5-int8.gguf")).unwrap();
    }
    e
}

/// Levenshtein distance over characters.
fn edits(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Text with every run of whitespace (line breaks included) as one space.
fn squash(s: &str) -> Vec<char> {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect()
}

/// The held-out set: (top-1 with reading, top-1 of the picture alone, character error rate).
fn measure() -> (f32, f32, f32) {
    let set: Set = toml::from_str(&String::from_utf8(read("tests/heldout/ocr.toml")).unwrap()).unwrap();
    assert!(set.photo.len() >= 25, "the held-out set needs at least 25 photos");
    measure_set(&set, &common::root().join("tests/heldout"))
}

/// (top-1 with reading, top-1 of the picture alone, character error rate) over the photos of
/// `set` (paths relative to `dir`), printed per photo.
fn measure_set(set: &Set, dir: &std::path::Path) -> (f32, f32, f32) {
    let engines = [("en", engine("en", true), engine("en", false)), ("zh", engine("zh", true), engine("zh", false))];
    let (mut top1, mut top1_picture, mut confident, mut errs, mut chars) = (0, 0, 0, 0, 0);
    for p in &set.photo {
        let (_, e, picture) = engines.iter().find(|(k, ..)| *k == p.kb).expect("kb is en or zh");
        let bytes = std::fs::read(dir.join(&p.file)).unwrap();
        let a = e.ask("", Some(Photo::Encoded(&bytes))).unwrap();
        let b = picture.ask("", Some(Photo::Encoded(&bytes))).unwrap();
        let read_text = a.read.as_ref().map(|r| r.text()).unwrap_or_default();
        let (got, want) = (squash(&read_text), squash(&p.text));
        let d = edits(&got, &want);
        errs += d;
        chars += want.len();
        let rank = a.answers.iter().position(|x| x.id == p.expect);
        top1 += (rank == Some(0)) as usize;
        confident += (rank == Some(0) && a.confident) as usize;
        top1_picture += (b.answers.first().map(|x| x.id.as_str()) == Some(p.expect.as_str())) as usize;
        println!(
            "{} {}: read {:?} (CER {:.2}), codes {:?} → {:?}{}",
            if rank == Some(0) { "hit " } else { "MISS" },
            p.file,
            read_text.replace('\n', " / "),
            d as f32 / want.len().max(1) as f32,
            a.codes,
            a.answers.iter().take(2).map(|x| (x.id.as_str(), (x.score * 1000.0).round() / 1000.0)).collect::<Vec<_>>(),
            if rank == Some(0) { String::new() } else { format!(" (expected {} at {rank:?})", p.expect) },
        );
    }
    let n = set.photo.len() as f32;
    println!(
        "{} screen photos: top-1 {:.3} ({top1}/{n}), confident and right {:.3}; the picture alone {:.3}; character error rate {:.3} ({errs} edits / {chars} chars)",
        dir.display(),
        top1 as f32 / n,
        confident as f32 / n,
        top1_picture as f32 / n,
        errs as f32 / chars as f32
    );
    (top1 as f32 / n, top1_picture as f32 / n, errs as f32 / chars as f32)
}

#[test]
fn reading_answers_screen_photos_the_picture_alone_cannot() {
    let (top1, picture, cer) = measure();
    println!("target top-1 0.85: {}", if top1 >= 0.85 { "met" } else { "NOT MET" });
    // Screens and labels are classified as screens and labels: the picture alone finds almost
    // none of their articles. Reading must find at least half of them more.
    assert!(top1 >= picture + 0.5, "top-1 {top1} with reading, {picture} without");
    // The reference pipeline reads such photos nearly word for word.
    assert!(cer <= 0.10, "character error rate {cer}");
}

#[test]
#[ignore = "the issue's target (top-1 >= 0.85) is not met yet"]
fn held_out_screen_photos_meet_the_target() {
    let (top1, _, _) = measure();
    assert!(top1 >= 0.85, "top-1 {top1} is below the issue's 0.85");
}

/// A development set made on demand outside the repository: the folder named by the
/// environment variable `var` (made by `make_photos.py --only {only} --out DIR`) and its manifest.
fn dev_set(var: &str, only: &str, manifest: &str) -> (std::path::PathBuf, Set) {
    let dir = std::path::PathBuf::from(std::env::var(var).unwrap_or_else(|_| panic!("{var}=DIR made by make_photos.py --only {only} --out DIR")));
    let set = toml::from_str(&std::fs::read_to_string(dir.join(manifest)).unwrap()).unwrap();
    (dir, set)
}

/// A photo of a development set, decoded to RGB.
fn rgb_at(dir: &std::path::Path, file: &str) -> image::RgbImage {
    helplens::input::ocr::rgb(&helplens::input::image::decode(&std::fs::read(dir.join(file)).unwrap()).unwrap())
}

/// The development photos answered (what ranking rules for read text were chosen on).
#[test]
#[ignore = "development tool: needs HELPLENS_OCR_DEV"]
fn dev_screen_photos() {
    let (dir, set) = dev_set("HELPLENS_OCR_DEV", "dev", "dev.toml");
    measure_set(&set, &dir);
}

/// The seven-segment reader on random appliance panels (what its thresholds were chosen on):
/// made on demand by `python3 tests/heldout/ocr/make_photos.py --only segdev --out DIR`, run
/// with `HELPLENS_SEG_DEV=DIR cargo test --release --test retrieval_ocr -- --ignored dev_segment`.
#[test]
#[ignore = "development tool: needs HELPLENS_SEG_DEV"]
fn dev_segment_displays() {
    use helplens::models::ocr::segments;
    let (dir, set) = dev_set("HELPLENS_SEG_DEV", "segdev", "segdev.toml");
    let (mut read_right, mut ms) = (0, Vec::new());
    for p in &set.photo {
        let rgb = rgb_at(&dir, &p.file);
        let t = std::time::Instant::now();
        let rows: Vec<String> = segments::read(&rgb).into_iter().map(|r| r.text).collect();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        let hit = rows.iter().any(|r| helplens::kb::codes::shape(r) == helplens::kb::codes::shape(&p.text));
        read_right += hit as usize;
        println!("{} {} {:?}: read {rows:?}", if hit { "ok  " } else { "MISS" }, p.file, p.text);
    }
    ms.sort_by(f64::total_cmp);
    println!("{read_right}/{} segment displays read right; {:.1} ms median per photo", set.photo.len(), ms[ms.len() / 2]);
}

/// The development sweep that chose the detector's input size (the converter's `det max side`;
/// with `HELPLENS_OCR_SWEEP=rec`, the recogniser's padding width instead):
/// character error rate and time of reading over development photos made on demand by
/// `python3 tests/heldout/ocr/make_photos.py --only dev --out DIR` (other screens of the same
/// products; not the held-out photos). Run with
/// `HELPLENS_OCR_DEV=DIR cargo test --release --test retrieval_ocr -- --ignored dev_`.
#[test]
#[ignore = "development tool: needs HELPLENS_OCR_DEV"]
fn dev_detector_side_sweep() {
    use helplens::models::ocr::Ocr;
    use helplens::tensor::now;
    use helplens::weights::ModelFile;
    let (dir, set) = dev_set("HELPLENS_OCR_DEV", "dev", "dev.toml");
    let photos: Vec<(image::RgbImage, Vec<char>)> = set.photo.iter().map(|p| (rgb_at(&dir, &p.file), squash(&p.text))).collect();
    let mut ocr = Ocr::load(&Cpu, ModelFile::from_bytes(&read("models/ppocrv5-int8.gguf")).unwrap()).unwrap();
    let sweep: Vec<(u32, u32)> = match std::env::var("HELPLENS_OCR_SWEEP").as_deref() {
        Ok("rec") => [320, 256, 192, 160, 128, 96].iter().map(|&w| (ocr.config.det_input.max_side, w)).collect(),
        _ => [960, 640, 512, 448, 384, 320, 256].iter().map(|&s| (s, ocr.config.rec_input.min_width)).collect(),
    };
    for (side, min_width) in sweep {
        ocr.config.det_input.max_side = side;
        ocr.config.rec_input.min_width = min_width;
        let (mut errs, mut chars, mut worst) = (0, 0, 0f32);
        let t = std::time::Instant::now();
        for (rgb, want) in &photos {
            let got = squash(&now(ocr.read(&Cpu, rgb)).unwrap().text());
            let d = edits(&got, want);
            worst = worst.max(d as f32 / want.len() as f32);
            errs += d;
            chars += want.len();
        }
        println!(
            "detector max side {side}, recogniser min width {min_width}: CER {:.3} ({errs}/{chars}), worst photo {worst:.2}, {:.0} ms per photo",
            errs as f32 / chars as f32,
            t.elapsed().as_secs_f64() * 1e3 / photos.len() as f64
        );
    }
}
