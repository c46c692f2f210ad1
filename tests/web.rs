//! Browser tests (`wasm-pack test --headless --chrome`): the real int8 models and the demo KB,
//! through the same `#[wasm_bindgen]` API the page uses, in real Chromium: on the CPU (wasm SIMD)
//! and on WebGPU (SwiftShader in headless Chromium). A WebGPU test skips loudly where the
//! browser has no adapter at all, unless the tests were compiled with `HELPLENS_REQUIRE_GPU=1`
//! (as `./build.sh test` does: both browsers it drives have software adapters); where an adapter
//! exists but the backend fails on it, the test fails.

#![cfg(target_arch = "wasm32")]

mod parity;

use helplens::gpu::Gpu;
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
// The multilingual e5 with the English + Chinese vocabulary and the Chinese demo KB.
static E5: &[u8] = include_bytes!("../models/e5-small-q4-en-zh.gguf");
static KB_ZH: &[u8] = include_bytes!("../www/models/demo-kb-zh.safetensors");
static ZH_QUESTIONS: &str = include_str!("heldout/zh-questions-zh-kb.toml");
static EN_QUESTIONS_ZH_KB: &str = include_str!("heldout/en-questions-zh-kb.toml");
static GOLDEN_MINILM: &str = include_str!("golden/minilm.json");
static COFFEE: &[u8] = include_bytes!("golden/images/coffee.png");
static CHELSEA: &[u8] = include_bytes!("golden/images/chelsea.png");

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

fn log(s: &str) {
    web_sys::console::log_1(&s.into());
}

/// Awaits one of the engine's Promises.
async fn call(p: js_sys::Promise) -> Result<JsValue, JsValue> {
    wasm_bindgen_futures::JsFuture::from(p).await
}

async fn engine_on(backend: &str) -> Result<HelplensEngine, JsValue> {
    let e = HelplensEngine::create(TEXT.to_vec(), KB.to_vec(), backend.into(), None).await?;
    yield_now().await;
    e.add_image_model(IMAGE)?;
    yield_now().await;
    Ok(e)
}

async fn engine() -> HelplensEngine {
    engine_on("cpu").await.unwrap_or_else(|_| panic!("engine failed to load"))
}

/// Whether the browser must have a WebGPU adapter: `HELPLENS_REQUIRE_GPU=1` in the environment
/// these tests were compiled in.
fn gpu_required() -> bool {
    option_env!("HELPLENS_REQUIRE_GPU") == Some("1")
}

/// After the GPU backend failed to open (`why`): fails the test where the browser has an
/// adapter or one is required, else says why the test skips.
async fn skip_without_adapter(why: &str) {
    if Gpu::adapter_exists().await {
        panic!("the WebGPU backend failed on an adapter that exists: {why}");
    }
    if gpu_required() {
        panic!("no WebGPU adapter, and HELPLENS_REQUIRE_GPU=1 requires one: {why}");
    }
    log(&format!("SKIPPED: no WebGPU adapter in this browser: {why}"));
}

/// The engine on WebGPU, or None where the browser has no adapter (see `skip_without_adapter`).
async fn gpu_engine() -> Option<HelplensEngine> {
    match engine_on("webgpu").await {
        Ok(e) => {
            let info: serde_json::Value = serde_wasm_bindgen::from_value(e.info().unwrap()).unwrap();
            assert_eq!(info["backend"], "gpu");
            log(&format!("WebGPU adapter: {}", info["adapter"]));
            Some(e)
        }
        Err(e) => {
            let why = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "the engine did not open on WebGPU".into());
            skip_without_adapter(&why).await;
            None
        }
    }
}

/// The GPU backend, or None where the browser has no adapter (see `skip_without_adapter`).
async fn gpu() -> Option<Gpu> {
    match Gpu::open().await {
        Ok(g) => Some(g),
        Err(e) => {
            skip_without_adapter(&e.to_string()).await;
            None
        }
    }
}

/// Top-1 accuracy of `e` on every `step`-th question of a held-out set, misses logged.
async fn top1(e: &HelplensEngine, set: &str, step: usize, tag: &str) -> f32 {
    let held: Held = toml::from_str(set).unwrap();
    let (mut right, mut n) = (0, 0);
    for q in held.question.iter().step_by(step) {
        let got = top_id(call(e.ask(q.text.clone())).await.unwrap_or_else(|_| panic!("ask failed for {}", q.text)));
        n += 1;
        if got == q.expect {
            right += 1;
        } else {
            log(&format!("{tag} miss: {:?} → {got} (expected {})", q.text, q.expect));
        }
        yield_now().await;
    }
    let acc = right as f32 / n as f32;
    log(&format!("{tag} top-1: {right}/{n} = {acc:.3}"));
    acc
}

#[wasm_bindgen_test]
async fn answers_the_held_out_questions_in_the_browser() {
    let acc = top1(&engine().await, QUESTIONS, 1, "browser").await;
    assert!(acc >= 0.85, "top-1 accuracy {acc:.3} < 0.85 in the browser");
}

/// Chinese questions against the Chinese KB with e5, and English ones against it: every 4th
/// question of each held-out set (natively, tests/retrieval_e5.rs runs them all), held to the
/// issue's top-1 target (measured 9/9 and 7/8 in Chromium and Firefox).
#[wasm_bindgen_test]
async fn answers_chinese_questions_with_e5_in_the_browser() {
    let e = HelplensEngine::create(E5.to_vec(), KB_ZH.to_vec(), "cpu".into(), None).await.unwrap_or_else(|_| panic!("e5 engine failed to load"));
    let info: serde_json::Value = serde_wasm_bindgen::from_value(e.info().unwrap()).unwrap();
    log(&format!("e5 engine: {} on {}, text model {}", info["name"], info["backend"], info["text_model"]));
    for set in [ZH_QUESTIONS, EN_QUESTIONS_ZH_KB] {
        let acc = top1(&e, set, 4, "e5 in the browser").await;
        assert!(acc >= 0.85, "top-1 {acc:.3} < 0.85 with e5 in the browser");
    }
}

fn expect_photo(file: &str) -> String {
    let held: Held = toml::from_str(PHOTOS).unwrap();
    held.photo.iter().find(|p| p.file.ends_with(file)).map(|p| p.expect.clone()).unwrap()
}

#[wasm_bindgen_test]
async fn answers_photos_in_the_browser() {
    let e = engine().await;
    // Encoded bytes, decoded by the engine itself.
    let got = call(e.ask_with_image_file(String::new(), ESPRESSO.to_vec())).await.unwrap_or_else(|_| panic!("photo failed"));
    assert_eq!(top_id(got), expect_photo("espresso-1.jpg"));
    yield_now().await;
    // RGBA pixels, as the page passes them after the browser decoded the photo.
    let img = image::load_from_memory(CAMERA).unwrap().to_rgba8();
    let (w, h) = img.dimensions();
    let got = call(e.ask_with_pixels(String::new(), img.into_raw(), w, h)).await.unwrap_or_else(|_| panic!("pixels failed"));
    assert_eq!(top_id(got), expect_photo("camera-1.jpg"));
}

/// The `code` of a rejected call's JavaScript Error.
fn code_of(r: Result<impl Sized, JsValue>) -> String {
    match r {
        Ok(_) => "no error".into(),
        Err(e) => js_sys::Reflect::get(&e, &"code".into()).ok().and_then(|c| c.as_string()).unwrap_or_else(|| format!("an error without a code: {e:?}")),
    }
}

#[wasm_bindgen_test]
async fn bad_input_is_an_error_with_a_code_not_a_panic() {
    let e = engine().await;
    assert_eq!(code_of(call(e.ask("  ".into())).await), "empty_question");
    assert_eq!(code_of(call(e.ask("x".repeat(100_000))).await), "question_too_long");
    assert_eq!(code_of(call(e.ask_with_image_file(String::new(), b"just text, renamed to .jpg".to_vec())).await), "photo_format");
    assert_eq!(code_of(call(e.ask_with_image_file(String::new(), ESPRESSO[..ESPRESSO.len() / 3].to_vec())).await), "photo_unreadable");
    assert_eq!(code_of(call(e.ask_with_pixels(String::new(), vec![0; 16], 8660, 5774)).await), "photo_too_large");
    assert_eq!(code_of(HelplensEngine::create(TEXT[..TEXT.len() / 2].to_vec(), KB.to_vec(), "cpu".into(), None).await), "model_file");
    // Bytes the caller says it verified are still parsed and checked: a truncated file is refused.
    assert_eq!(code_of(HelplensEngine::create(TEXT[..TEXT.len() / 2].to_vec(), KB.to_vec(), "cpu".into(), Some(true)).await), "model_file");
    assert_eq!(code_of(HelplensEngine::create(TEXT.to_vec(), KB[..KB.len() / 2].to_vec(), "cpu".into(), None).await), "kb_file");
    assert_eq!(code_of(HelplensEngine::create(IMAGE.to_vec(), KB.to_vec(), "cpu".into(), None).await), "model_file");
    assert_eq!(code_of(HelplensEngine::create(TEXT.to_vec(), KB.to_vec(), "tpu".into(), None).await), "unknown_backend");
    // Still answers after all of that.
    assert!(call(e.ask("my printer jams".into())).await.is_ok());
}

#[wasm_bindgen_test]
async fn webgpu_ops_match_the_cpu() {
    let Some(g) = gpu().await else { return };
    log(&format!("WebGPU adapter: {} ({})", g.adapter().name, g.adapter().driver));
    parity::every_op_matches_the_cpu(&g).await;
    parity::shapes_are_checked_before_dispatch(&g);
}

#[wasm_bindgen_test]
async fn webgpu_encoders_match_the_cpu_on_the_golden_fixtures() {
    let Some(g) = gpu().await else { return };
    let worst = parity::minilm_matches(&g, TEXT, GOLDEN_MINILM, "int8").await;
    log(&format!("WebGPU MiniLM int8: worst GPU/CPU cosine {worst:.6}"));
    yield_now().await;
    for (name, cf, cl) in parity::efficientnet_matches(&g, IMAGE, &[("coffee", COFFEE), ("chelsea", CHELSEA)], "int8").await {
        log(&format!("WebGPU EfficientNet int8 {name}: feature cosine {cf:.6}, logits cosine {cl:.6}"));
    }
}

#[wasm_bindgen_test]
async fn webgpu_gives_the_same_answers_as_the_cpu() {
    let Some(eg) = gpu_engine().await else { return };
    let ec = engine().await;
    // SwiftShader takes seconds per forward pass: a fixed sample here (every 8th question and
    // one photo); tests/gpu.rs compares the whole set natively.
    let held: Held = toml::from_str(QUESTIONS).unwrap();
    let t0 = js_sys::Date::now();
    let mut n = 0;
    for q in held.question.iter().step_by(8) {
        let (a, b) = (top_id(call(ec.ask(q.text.clone())).await.unwrap()), top_id(call(eg.ask(q.text.clone())).await.unwrap()));
        assert_eq!(a, b, "{:?}: CPU {a} vs WebGPU {b}", q.text);
        n += 1;
        yield_now().await;
    }
    let t1 = js_sys::Date::now();
    let a = top_id(call(ec.ask_with_image_file(String::new(), CAMERA.to_vec())).await.unwrap());
    let b = top_id(call(eg.ask_with_image_file(String::new(), CAMERA.to_vec())).await.unwrap());
    assert_eq!(a, b, "camera-1.jpg: CPU {a} vs WebGPU {b}");
    log(&format!("WebGPU: {n} held-out questions ({:.0} ms each, both backends) and 1 photo ({:.0} ms) answered as on the CPU", (t1 - t0) / n as f64, js_sys::Date::now() - t1));
}

#[wasm_bindgen_test]
async fn a_lost_webgpu_device_still_gets_the_answer_from_the_cpu() {
    let Some(e) = gpu_engine().await else { return };
    let q = "my printer keeps jamming";
    let before = top_id(call(e.ask(q.into())).await.unwrap());
    assert!(e.simulate_device_loss().unwrap(), "the session was on the GPU");
    let after = top_id(call(e.ask(q.into())).await.unwrap_or_else(|_| panic!("no answer after the device loss")));
    assert_eq!(after, before);
    let info: serde_json::Value = serde_wasm_bindgen::from_value(e.info().unwrap()).unwrap();
    assert_eq!(info["backend"], "cpu", "the session moved to the CPU");
    log(&format!("after the loss: {}", info["fallback_reason"]));
    assert!(call(e.ask_with_image_file(String::new(), CAMERA.to_vec())).await.is_ok(), "photos too, on the CPU now");
}
