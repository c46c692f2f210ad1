//! Browser tests (`wasm-pack test --headless --chrome`): the real int8 models and the demo KB,
//! through the same `#[wasm_bindgen]` API the page uses, in real Chromium.

#![cfg(target_arch = "wasm32")]

use helplens::wasm::HelplensEngine;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

static TEXT: &[u8] = include_bytes!("../models/minilm-int8.gguf");
static IMAGE: &[u8] = include_bytes!("../models/efficientnet-lite0-int8.gguf");
static KB: &[u8] = include_bytes!("../www/models/demo-kb.safetensors");
static QUESTIONS: &str = include_str!("heldout/questions.toml");
static PHOTOS: &str = include_str!("heldout/photos.toml");
static ESPRESSO: &[u8] = include_bytes!("heldout/photos/espresso-1.jpg");
static CAMERA: &[u8] = include_bytes!("heldout/photos/camera-1.jpg");

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(f: &js_sys::Function, ms: i32);
}

/// Lets the test runner breathe between long synchronous steps.
async fn yield_now() {
    let p = js_sys::Promise::new(&mut |resolve, _| set_timeout(&resolve, 0));
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}

#[derive(Deserialize)]
struct Held {
    #[serde(default)]
    question: Vec<Q>,
    #[serde(default)]
    photo: Vec<P>,
}
#[derive(Deserialize)]
struct Q {
    text: String,
    expect: String,
}
#[derive(Deserialize)]
struct P {
    file: String,
    expect: String,
}

fn top_id(v: JsValue) -> String {
    let a: serde_json::Value = serde_wasm_bindgen::from_value(v).unwrap();
    a["answers"][0]["id"].as_str().unwrap_or_default().to_string()
}

async fn engine() -> HelplensEngine {
    let mut e = HelplensEngine::new(TEXT, KB).unwrap_or_else(|_| panic!("engine failed to load"));
    yield_now().await;
    e.add_image_model(IMAGE).unwrap_or_else(|_| panic!("image model failed to load"));
    yield_now().await;
    e
}

#[wasm_bindgen_test]
async fn answers_the_held_out_questions_in_the_browser() {
    let e = engine().await;
    let held: Held = toml::from_str(QUESTIONS).unwrap();
    let mut right = 0;
    for q in &held.question {
        let got = top_id(e.ask(&q.text).unwrap_or_else(|_| panic!("ask failed for {}", q.text)));
        if got == q.expect {
            right += 1;
        } else {
            web_sys::console::log_1(&format!("miss: {:?} → {got} (expected {})", q.text, q.expect).into());
        }
        yield_now().await;
    }
    let acc = right as f32 / held.question.len() as f32;
    web_sys::console::log_1(&format!("browser top-1: {right}/{} = {acc:.3}", held.question.len()).into());
    assert!(acc >= 0.85, "top-1 accuracy {acc:.3} < 0.85 in the browser");
}

#[wasm_bindgen_test]
async fn answers_photos_in_the_browser() {
    let e = engine().await;
    let held: Held = toml::from_str(PHOTOS).unwrap();
    let expect = |file: &str| held.photo.iter().find(|p| p.file.ends_with(file)).map(|p| p.expect.clone()).unwrap();
    // Encoded bytes, decoded by the engine itself.
    assert_eq!(top_id(e.ask_with_image_file("", ESPRESSO).unwrap_or_else(|_| panic!("photo failed"))), expect("espresso-1.jpg"));
    yield_now().await;
    // RGBA pixels, as the page passes them after the browser decoded the photo.
    let img = image::load_from_memory(CAMERA).unwrap().to_rgba8();
    let (w, h) = img.dimensions();
    assert_eq!(top_id(e.ask_with_pixels("", img.as_raw(), w, h).unwrap_or_else(|_| panic!("pixels failed"))), expect("camera-1.jpg"));
}

#[wasm_bindgen_test]
async fn bad_input_is_an_error_not_a_panic() {
    let e = engine().await;
    assert!(e.ask("  ").is_err());
    assert!(e.ask(&"x".repeat(100_000)).is_err());
    assert!(e.ask_with_image_file("", b"just text, renamed to .jpg").is_err());
    assert!(e.ask_with_image_file("", &ESPRESSO[..ESPRESSO.len() / 3]).is_err());
    assert!(e.ask_with_pixels("", &[0; 16], 8660, 5774).is_err());
    assert!(HelplensEngine::new(&TEXT[..TEXT.len() / 2], KB).is_err());
    assert!(HelplensEngine::new(TEXT, &KB[..KB.len() / 2]).is_err());
    assert!(HelplensEngine::new(IMAGE, KB).is_err());
    // Still answers after all of that.
    assert!(e.ask("my printer jams").is_ok());
}
