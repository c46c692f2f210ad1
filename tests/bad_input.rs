//! Bad input gets a clear, specific error and never a panic: photos (corrupt, truncated,
//! empty, huge, not an image), questions (empty, enormous), model and KB files (truncated,
//! foreign, corrupt, mismatched).

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::OnceLock;

use common::{read, root};
use helplens::cpu::Cpu;
use helplens::kb::{build, source};
use helplens::models::bert::Bert;
use helplens::models::efficientnet::EfficientNet;
use helplens::weights::gguf::Integrity;
use helplens::weights::ModelFile;
use helplens::{Engine, Error, Photo};

/// The mini KB built with the given text precision and the int8 image model (built once per
/// test binary: embedding the 1000 class captions takes a while).
fn mini_kb(text_precision: &str) -> Vec<u8> {
    static INT8: OnceLock<Vec<u8>> = OnceLock::new();
    static F32: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if text_precision == "int8" { &INT8 } else { &F32 };
    cell.get_or_init(|| build_mini_kb(text_precision)).clone()
}

fn build_mini_kb(text_precision: &str) -> Vec<u8> {
    let src = source::load(&root().join("tests/fixtures/mini-kb")).unwrap();
    let text = Bert::load(&Cpu, ModelFile::from_bytes(&read(&format!("models/minilm-{text_precision}.gguf"))).unwrap()).unwrap();
    let image = EfficientNet::load(&Cpu, ModelFile::from_bytes(&read("models/efficientnet-lite0-int8.gguf")).unwrap()).unwrap();
    build::build(&Cpu, &text, Some(&image), &src, &mut |_| {}).unwrap().to_bytes().unwrap()
}

fn engine() -> Engine<Cpu> {
    let mut e = Engine::new(Cpu, &read("models/minilm-int8.gguf"), &mini_kb("int8")).unwrap();
    e.add_image_model(&read("models/efficientnet-lite0-int8.gguf")).unwrap();
    e
}

fn photo_err(e: &Engine<Cpu>, bytes: &[u8]) -> Error {
    match e.ask("", Some(Photo::Encoded(bytes))) {
        Ok(a) => panic!("expected an error, got an answer {:?}", a.answers.first()),
        Err(err) => err,
    }
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn the_mini_kb_answers_normally() {
    let e = engine();
    let a = e.ask("how do I get limescale out of the kettle", None).unwrap();
    assert_eq!(a.answers[0].id, "kettle-descale");
    let a = e.ask("", Some(Photo::Encoded(&png(320, 240)))).unwrap();
    assert_eq!(a.labels.len(), 3);
}

#[test]
fn bad_photos_are_clear_errors() {
    let e = engine();
    let real = png(640, 480);
    assert!(matches!(photo_err(&e, &[]), Error::ImageDecode(m) if m.contains("empty")));
    let text = photo_err(&e, b"This is a plain text file that someone renamed to photo.jpg\n");
    assert!(matches!(&text, Error::UnsupportedFormat(m) if m.contains("text file")), "{text}");
    let mut corrupt = real.clone();
    corrupt[40..].iter_mut().for_each(|b| *b = 0xA5);
    assert!(matches!(photo_err(&e, &corrupt), Error::ImageDecode(_)));
    let truncated = &real[..real.len() / 2];
    assert!(matches!(photo_err(&e, truncated), Error::ImageDecode(_)));
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic");
    heic.extend_from_slice(&[0; 64]);
    let err = photo_err(&e, &heic);
    assert!(matches!(&err, Error::UnsupportedFormat(m) if m.contains("heic")), "{err}");
}

#[test]
fn fifty_megapixels_is_refused_before_decoding() {
    let e = engine();
    let huge = png(8660, 5774); // 50.0 MP
    let err = photo_err(&e, &huge);
    assert!(matches!(err, Error::ImageTooLarge { width: 8660, height: 5774, .. }), "{err}");
    assert!(err.to_string().contains("megapixels"));
    // The RGBA entry point checks the size before looking at the buffer.
    let err = e.ask("", Some(Photo::Rgba { data: &[0; 16], width: 8660, height: 5774 })).unwrap_err();
    assert!(matches!(err, Error::ImageTooLarge { .. }));
    let err = e.ask("", Some(Photo::Rgba { data: &[0; 15], width: 2, height: 2 })).unwrap_err();
    assert!(matches!(err, Error::ImageInvalid(_)));
    let err = e.ask("", Some(Photo::Rgba { data: &[], width: 0, height: 0 })).unwrap_err();
    assert!(matches!(err, Error::ImageInvalid(_)));
}

#[test]
fn empty_and_enormous_questions() {
    let e = engine();
    assert!(matches!(e.ask("   \n\t", None), Err(Error::EmptyQuestion)));
    let long = "why ".repeat(25_000);
    let err = e.ask(&long, None).unwrap_err();
    assert!(matches!(err, Error::QuestionTooLong { chars: 99_999, max: 4000 }), "{err}");
    // A long question within the limit is truncated to the model's 256 tokens and answered.
    assert!(e.ask(&"my kettle has limescale ".repeat(150), None).is_ok());
}

#[test]
fn bad_model_files_are_clear_errors() {
    let good = read("models/minilm-int8.gguf");
    let kb = mini_kb("int8");
    let err = |bytes: &[u8]| Engine::new(Cpu, bytes, &kb).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(&good[..good.len() / 2]).contains("truncated"), "{}", err(&good[..good.len() / 2]));
    assert!(err(&good[..100]).starts_with("model file"), "{}", err(&good[..100]));
    assert!(err(&[]).contains("not a GGUF"));
    assert!(err(&kb).contains("not a GGUF"));
    let mut flipped = good.clone();
    let n = flipped.len() - 1000;
    flipped[n] ^= 0x40;
    assert!(err(&flipped).contains("corrupt"), "{}", err(&flipped));
    let image_as_text = err(&read("models/efficientnet-lite0-int8.gguf"));
    assert!(image_as_text.contains("image-encoder file, a text-encoder was expected"), "{image_as_text}");
    // Bytes the caller has verified (the widget checks sha256 against manifest.json) skip the
    // fingerprint's hash, and nothing else: truncated, foreign and mismatched files are still
    // refused, and a good file loads to the same engine.
    let trusted = |text: &[u8], kb: &[u8]| Engine::open(Cpu, text, kb, Integrity::Trusted).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(trusted(&good[..good.len() / 2], &kb).contains("truncated"));
    assert!(trusted(&read("models/efficientnet-lite0-int8.gguf"), &kb).contains("a text-encoder was expected"));
    assert!(trusted(&good, &mini_kb("f32")).contains("text model"), "{}", trusted(&good, &mini_kb("f32")));
    let (a, b) = (Engine::new(Cpu, &good, &kb).unwrap(), Engine::open(Cpu, &good, &kb, Integrity::Trusted).unwrap());
    assert_eq!(a.ask("my espresso machine is leaking", None).unwrap().answers, b.ask("my espresso machine is leaking", None).unwrap().answers);
}

#[test]
fn bad_kb_files_are_clear_errors() {
    let text = read("models/minilm-int8.gguf");
    let kb = mini_kb("int8");
    let err = |bytes: &[u8]| Engine::new(Cpu, &text, bytes).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(&kb[..kb.len() - 10]).starts_with("knowledge base"), "{}", err(&kb[..kb.len() - 10]));
    assert!(err(&kb[..5]).starts_with("knowledge base"));
    assert!(err(b"{\"not\": \"a kb\"}").starts_with("knowledge base"));
    assert!(err(&read("models/efficientnet-lite0-int8.gguf")).starts_with("knowledge base"));
    // Built with the f32 text model, loaded with the int8 one.
    let mismatch = Engine::new(Cpu, &text, &mini_kb("f32")).err().unwrap();
    assert!(matches!(mismatch, Error::Mismatch { role: "text", .. }), "{mismatch}");
    // Right text model, wrong image model.
    let mut e = Engine::new(Cpu, &text, &kb).unwrap();
    let err = e.add_image_model(&read("models/efficientnet-lite0-f32.gguf")).unwrap_err();
    assert!(matches!(err, Error::Mismatch { role: "image", .. }), "{err}");
    assert!(matches!(e.ask("", Some(Photo::Encoded(&png(64, 64)))), Err(Error::NoImageModel)));
}

#[test]
fn image_model_with_a_crop_larger_than_its_resize_is_refused_at_load() {
    let mut file = ModelFile::from_bytes(&read("models/efficientnet-lite0-int8.gguf")).unwrap();
    let config = file.meta["helplens.config"].replace("\"resize\":256", "\"resize\":200");
    assert_ne!(config, file.meta["helplens.config"], "the config names resize 256");
    file.meta.insert("helplens.config".into(), config);
    let err = EfficientNet::load(&Cpu, file).err().expect("refused");
    assert!(matches!(&err, Error::Model(m) if m.contains("resize 200 and crop 224")), "{err}");
}
