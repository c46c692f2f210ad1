//! The only browser-facing file: thin `#[wasm_bindgen]` glue over a [`Session`] (the engine on
//! WebGPU or the CPU, chosen once). Errors cross as JavaScript `Error`s with the library's
//! message and a stable `code` ([`Error::code`]: "empty_question", "gpu_unavailable", ...) for
//! programs to act on; nothing here panics on input.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::engine::Photo;
use crate::error::Error;
use crate::kb::{Answer, Article};
use crate::session::{Choice, Session};
use crate::weights::gguf::{short, Integrity};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// A JavaScript `Error` with `message` and `code`.
fn js_error(message: &str, code: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}

fn js(e: Error) -> JsValue {
    js_error(&e.to_string(), e.code())
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_error(&format!("could not pass the result to JavaScript: {e}"), "internal"))
}

/// What the page needs to know about the loaded KB and engine.
#[derive(serde::Serialize)]
struct Info<'a> {
    name: &'a str,
    /// "gpu" (WebGPU) or "cpu" (wasm SIMD).
    backend: &'a str,
    /// The WebGPU adapter, while the session runs on it.
    adapter: Option<&'a str>,
    /// Why the session is on the CPU when it was not asked to be.
    fallback_reason: Option<&'a str>,
    contact_url: Option<&'a str>,
    contact_email: Option<&'a str>,
    suggestions: &'a [String],
    photos: bool,
    /// Whether photos are read (an OCR model is loaded).
    reads_photos: bool,
    text_model: &'a str,
    articles: &'a [Article],
}

/// The helplens engine for the browser. Every method that runs an encoder returns a Promise
/// (WebGPU results arrive through the event loop); calls are answered one at a time.
#[wasm_bindgen]
pub struct HelplensEngine {
    inner: Rc<RefCell<Session>>,
}

/// The session, or a clear error where a call is still running (JavaScript must await each
/// call before the next; the worker queues them).
fn session(s: &Rc<RefCell<Session>>) -> Result<std::cell::RefMut<'_, Session>, JsValue> {
    s.try_borrow_mut().map_err(|_| busy())
}

/// The session for reading only (info, search), with the same error while a call runs.
fn session_ref(s: &Rc<RefCell<Session>>) -> Result<std::cell::Ref<'_, Session>, JsValue> {
    s.try_borrow().map_err(|_| busy())
}

fn busy() -> JsValue {
    js(Error::Busy)
}

// A call holds the session's RefCell across its awaits on purpose: a second call arriving
// meanwhile gets `Error::Busy` instead of running beside it.
#[allow(clippy::await_holding_refcell_ref)]
#[wasm_bindgen]
impl HelplensEngine {
    /// Loads the text model and the KB (both as bytes) on `backend`: "auto" (WebGPU on a
    /// hardware adapter that passes the self-test, else the CPU), "webgpu" or "cpu". Photos
    /// work after `addImageModel`. `verified: true` says the caller has checked the bytes (the
    /// widget's loader: sha256 against manifest.json, with WebCrypto), so the engine skips
    /// recomputing the model files' fingerprints; without it a corrupt file is refused here.
    pub async fn create(text_model: Vec<u8>, kb: Vec<u8>, backend: String, verified: Option<bool>) -> Result<HelplensEngine, JsValue> {
        let choice: Choice = backend.parse().map_err(js)?;
        let integrity = if verified == Some(true) { Integrity::Trusted } else { Integrity::Check };
        let s = Session::open_with(choice, &text_model, &kb, None, integrity).await.map_err(js)?;
        Ok(HelplensEngine { inner: Rc::new(RefCell::new(s)) })
    }

    /// Loads the image model.
    #[wasm_bindgen(js_name = addImageModel)]
    pub fn add_image_model(&self, bytes: &[u8]) -> Result<(), JsValue> {
        session(&self.inner)?.add_image_model(bytes).map_err(js)
    }

    /// Loads the OCR model: photos are then read too, and what they say joins the question
    /// (`answer.read`: lines with their text, confidence and box).
    #[wasm_bindgen(js_name = addOcrModel)]
    pub fn add_ocr_model(&self, bytes: &[u8]) -> Result<(), JsValue> {
        session(&self.inner)?.add_ocr_model(bytes).map_err(js)
    }

    /// KB name, contact, suggestions, articles, backend.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let s = session_ref(&self.inner)?;
        let m = &s.kb().meta;
        to_js(&Info {
            name: &m.name,
            backend: s.backend_name(),
            adapter: s.adapter().map(|a| a.name.as_str()),
            fallback_reason: s.fallback_reason.as_deref(),
            contact_url: m.contact_url.as_deref(),
            contact_email: m.contact_email.as_deref(),
            suggestions: &m.suggestions,
            photos: s.has_image_model(),
            reads_photos: s.has_ocr_model(),
            text_model: short(&m.text_model),
            articles: &m.articles,
        })
    }

    /// Answers a typed question: `{answers: [{id, title, score, url}], confident, labels}`.
    pub fn ask(&self, question: String) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move { answer(session(&s)?.ask_async(&question, None).await) })
    }

    /// Answers a question (may be empty) with a photo given as RGBA pixels.
    #[wasm_bindgen(js_name = askWithPixels)]
    pub fn ask_with_pixels(&self, question: String, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move { answer(session(&s)?.ask_async(&question, Some(Photo::Rgba { data: &rgba, width, height })).await) })
    }

    /// Answers a question (may be empty) with a photo given as encoded bytes (JPEG, PNG,
    /// WebP, GIF), for browsers that cannot decode it themselves.
    #[wasm_bindgen(js_name = askWithImageFile)]
    pub fn ask_with_image_file(&self, question: String, bytes: Vec<u8>) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move { answer(session(&s)?.ask_async(&question, Some(Photo::Encoded(&bytes))).await) })
    }

    /// Reads a photo given as RGBA pixels, alone (no question, no KB): `{lines: [{text,
    /// confidence, quad}], skipped, detect_ms, recognise_ms, total_ms}` (lines in reading
    /// order, `quad` its corners in photo pixels; the times from `performance.now()`).
    #[wasm_bindgen(js_name = readPixels)]
    pub fn read_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move {
            let now = clock();
            let t0 = now();
            let (reading, timing) = session(&s)?.read_photo(Photo::Rgba { data: &rgba, width, height }, &now).await.map_err(js)?;
            let total_ms = now() - t0;
            to_js(&Read { reading, detect_ms: timing.detect_ms, recognise_ms: timing.recognise_ms, total_ms })
        })
    }

    /// Benchmarks only: the tensors the OCR networks are fed for a photo, so that another
    /// engine can run the same networks on the same inputs: `{det: {data, dims}, lines: [{data,
    /// dims, quad, text, confidence}]}`, `data` a Float32Array in ONNX's NCHW layout with
    /// `dims` `[1, 3, h, w]`; every line the detector finds, with what helplens reads there.
    #[wasm_bindgen(js_name = benchOcrNetworkInputs)]
    pub fn bench_ocr_network_inputs(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move {
            let n = session(&s)?.ocr_network_inputs(Photo::Rgba { data: &rgba, width, height }).await.map_err(js)?;
            let out = js_sys::Object::new();
            set(&out, "det", &tensor(&n.det, n.det_height, n.det_width)?.into())?;
            let lines = js_sys::Array::new();
            for l in &n.lines {
                let o = tensor(&l.pixels, n.rec_height, l.width)?;
                set(&o, "quad", &to_js(&l.quad)?)?;
                set(&o, "text", &JsValue::from_str(&l.text))?;
                set(&o, "confidence", &JsValue::from_f64(l.confidence as f64))?;
                lines.push(&o);
            }
            set(&out, "lines", &lines)?;
            Ok(out.into())
        })
    }

    /// Ranks the KB for an already computed question vector (search alone, e.g. for timing).
    pub fn search(&self, question_vector: &[f32]) -> Result<JsValue, JsValue> {
        let s = session_ref(&self.inner)?;
        to_js(&crate::kb::answer::search(s.kb(), question_vector))
    }

    /// The sentence vector of a question (benchmarks and tests): a Float32Array.
    #[wasm_bindgen(js_name = embedQuestion)]
    pub fn embed_question(&self, text: String) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move { floats(session(&s)?.embed_question(&text).await) })
    }

    /// The visual feature of RGBA pixels (benchmarks and tests): a Float32Array.
    #[wasm_bindgen(js_name = embedPixels)]
    pub fn embed_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let s = self.inner.clone();
        future_to_promise(async move { floats(session(&s)?.embed_photo(Photo::Rgba { data: &rgba, width, height }).await) })
    }

    /// Loses the WebGPU device on purpose, as a driver reset would (tests of the fallback).
    /// Returns false when the session is not on the GPU.
    #[wasm_bindgen(js_name = simulateDeviceLoss)]
    pub fn simulate_device_loss(&self) -> Result<bool, JsValue> {
        let s = session(&self.inner)?;
        Ok(s.gpu().map(|e| e.backend().simulate_device_loss()).is_some())
    }
}

/// What `readPixels` returns.
#[derive(serde::Serialize)]
struct Read {
    #[serde(flatten)]
    reading: crate::models::ocr::Reading,
    detect_ms: f64,
    recognise_ms: f64,
    total_ms: f64,
}

/// `performance.now()` of the page or worker, in milliseconds (0 where there is none).
fn clock() -> impl Fn() -> f64 {
    let key = |k: &str| JsValue::from_str(k);
    let perf = js_sys::Reflect::get(&js_sys::global(), &key("performance")).unwrap_or(JsValue::UNDEFINED);
    let now = js_sys::Reflect::get(&perf, &key("now")).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    move || now.as_ref().and_then(|f| f.call0(&perf).ok()).and_then(|v| v.as_f64()).unwrap_or(0.0)
}

fn set(o: &js_sys::Object, key: &str, v: &JsValue) -> Result<(), JsValue> {
    js_sys::Reflect::set(o, &JsValue::from_str(key), v).map(|_| ()).map_err(|_| js_error("could not build the result object", "internal"))
}

/// `{data: Float32Array, dims: [1, 3, h, w]}`.
fn tensor(data: &[f32], h: usize, w: usize) -> Result<js_sys::Object, JsValue> {
    let o = js_sys::Object::new();
    set(&o, "data", &js_sys::Float32Array::from(data).into())?;
    set(&o, "dims", &to_js(&[1, 3, h, w])?)?;
    Ok(o)
}

fn floats(r: crate::Result<Vec<f32>>) -> Result<JsValue, JsValue> {
    Ok(js_sys::Float32Array::from(&r.map_err(js)?[..]).into())
}

fn answer(r: crate::Result<Answer>) -> Result<JsValue, JsValue> {
    to_js(&r.map_err(js)?)
}

/// Refuses a JPEG, PNG, GIF or WebP file that ends early, before the browser decodes it (a
/// browser shows such a file as a partly grey picture without an error).
#[wasm_bindgen(js_name = checkPhoto)]
pub fn check_photo(bytes: &[u8]) -> Result<(), JsValue> {
    crate::input::image::check_complete(bytes).map_err(js)
}
