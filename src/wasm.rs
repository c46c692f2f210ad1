//! The only browser-facing file: thin `#[wasm_bindgen]` glue over [`Engine`]. Errors cross as
//! `JsError` with the library's message; nothing here panics on input.

use wasm_bindgen::prelude::*;

use crate::cpu::Cpu;
use crate::engine::{Engine, Photo};
use crate::kb::{Answer, Article};
use crate::weights::gguf::short;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js<E: std::fmt::Display>(e: E) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js)
}

/// What the page needs to know about the loaded KB and engine.
#[derive(serde::Serialize)]
struct Info<'a> {
    name: &'a str,
    backend: &'a str,
    contact_url: Option<&'a str>,
    contact_email: Option<&'a str>,
    suggestions: &'a [String],
    photos: bool,
    text_model: &'a str,
    articles: &'a [Article],
}

/// The helplens engine for the browser.
#[wasm_bindgen]
pub struct HelplensEngine {
    inner: Engine<Cpu>,
}

#[wasm_bindgen]
impl HelplensEngine {
    /// Loads the text model and the KB (both as bytes); photos work after `addImageModel`.
    #[wasm_bindgen(constructor)]
    pub fn new(text_model: &[u8], kb: &[u8]) -> Result<HelplensEngine, JsError> {
        Ok(HelplensEngine { inner: Engine::new(Cpu, text_model, kb).map_err(js)? })
    }

    /// Loads the image model.
    #[wasm_bindgen(js_name = addImageModel)]
    pub fn add_image_model(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.inner.add_image_model(bytes).map_err(js)
    }

    /// KB name, contact, suggestions, articles, backend.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let m = &self.inner.kb().meta;
        to_js(&Info {
            name: &m.name,
            backend: self.inner.backend_name(),
            contact_url: m.contact_url.as_deref(),
            contact_email: m.contact_email.as_deref(),
            suggestions: &m.suggestions,
            photos: self.inner.has_image_model(),
            text_model: short(&m.text_model),
            articles: &m.articles,
        })
    }

    /// Answers a typed question: `{answers: [{id, title, score, url}], confident, labels}`.
    pub fn ask(&self, question: &str) -> Result<JsValue, JsError> {
        answer(self.inner.ask(question, None))
    }

    /// Answers a question (may be empty) with a photo given as RGBA pixels.
    #[wasm_bindgen(js_name = askWithPixels)]
    pub fn ask_with_pixels(&self, question: &str, rgba: &[u8], width: u32, height: u32) -> Result<JsValue, JsError> {
        answer(self.inner.ask(question, Some(Photo::Rgba { data: rgba, width, height })))
    }

    /// Answers a question (may be empty) with a photo given as encoded bytes (JPEG, PNG,
    /// WebP, GIF), for browsers that cannot decode it themselves.
    #[wasm_bindgen(js_name = askWithImageFile)]
    pub fn ask_with_image_file(&self, question: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
        answer(self.inner.ask(question, Some(Photo::Encoded(bytes))))
    }

    /// Ranks the KB for an already computed question vector (search alone, e.g. for timing).
    pub fn search(&self, question_vector: &[f32]) -> Result<JsValue, JsError> {
        to_js(&crate::kb::answer::rank(self.inner.kb(), Some(question_vector), None))
    }

    /// The sentence vector of a question (benchmarks and tests).
    #[wasm_bindgen(js_name = embedQuestion)]
    pub fn embed_question(&self, text: &str) -> Result<Vec<f32>, JsError> {
        self.inner.embed_question(text).map_err(js)
    }

    /// The visual feature of RGBA pixels (benchmarks and tests).
    #[wasm_bindgen(js_name = embedPixels)]
    pub fn embed_pixels(&self, rgba: &[u8], width: u32, height: u32) -> Result<Vec<f32>, JsError> {
        Ok(self.inner.embed_photo(Photo::Rgba { data: rgba, width, height }).map_err(js)?.feature)
    }
}

fn answer(r: crate::Result<Answer>) -> Result<JsValue, JsError> {
    to_js(&r.map_err(js)?)
}

/// Refuses a JPEG, PNG, GIF or WebP file that ends early, before the browser decodes it (a
/// browser shows such a file as a partly grey picture without an error).
#[wasm_bindgen(js_name = checkPhoto)]
pub fn check_photo(bytes: &[u8]) -> Result<(), JsError> {
    crate::input::image::check_complete(bytes).map_err(js)
}
