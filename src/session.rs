//! A session: the backend is chosen once at start-up (the GPU if one opens and passes its
//! self-test, else the CPU) and the engine runs on it; if the GPU fails later (device lost, out
//! of memory, a kernel error), the session moves to the CPU for good and the question that hit
//! the failure is answered there. The same code serves the CLI and the browser (asynchronous
//! there: WebGPU results arrive through the event loop).

use std::rc::Rc;

use crate::cpu::Cpu;
use crate::engine::{Engine, Photo};
use crate::error::{Error, Result};
use crate::gpu::{Adapter, Gpu};
use crate::kb::{Answer, Kb};
use crate::models::ocr::{NetworkInputs, ReadTiming, Reading};
use crate::tensor::Backend;
use crate::weights::gguf::Integrity;

/// Which backend a session should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A hardware GPU when one works, else the CPU (a software adapter such as lavapipe or
    /// SwiftShader is slower than the CPU path).
    Auto,
    /// The CPU only.
    Cpu,
    /// The GPU only, software adapters included: an error if there is none.
    Gpu,
}

impl std::str::FromStr for Choice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Choice> {
        match s {
            "" | "auto" => Ok(Choice::Auto),
            "cpu" => Ok(Choice::Cpu),
            "gpu" | "webgpu" => Ok(Choice::Gpu),
            other => Err(Error::UnknownBackend(other.to_string())),
        }
    }
}

enum Active {
    Gpu(Engine<Gpu>),
    Cpu(Engine<Cpu>),
}

/// The models that may follow the text model.
#[derive(Debug, Clone, Copy)]
enum Model {
    Image,
    Ocr,
}

/// Models and KB on the chosen backend, with the bytes kept to rebuild on the CPU.
pub struct Session {
    active: Active,
    text: Rc<[u8]>,
    kb: Rc<[u8]>,
    image: Option<Rc<[u8]>>,
    ocr: Option<Rc<[u8]>>,
    integrity: Integrity,
    /// Why the session is on the CPU, where it is not by choice.
    pub fallback_reason: Option<String>,
}

fn load<B: Backend>(b: B, text: &[u8], kb: &[u8], image: Option<&[u8]>, ocr: Option<&[u8]>, integrity: Integrity) -> Result<Engine<B>> {
    let mut e = Engine::open(b, text, kb, integrity)?;
    if let Some(i) = image {
        e.add_image_model(i)?;
    }
    if let Some(o) = ocr {
        e.add_ocr_model(o)?;
    }
    Ok(e)
}

/// Errors that mean "the GPU cannot go on", as opposed to bad input or a bug.
fn gpu_failure(e: &Error) -> bool {
    e.is_gpu_unavailable()
}

/// Evaluates `$call` with `$e` bound to the active engine; where the GPU engine fails with a
/// GPU error, the session falls back to the CPU and `$call` runs again there.
macro_rules! with_fallback {
    ($session:ident, $e:ident => $call:expr) => {{
        if let Active::Gpu($e) = &$session.active {
            match $call {
                Err(err) if gpu_failure(&err) => $session.fall_back(err)?,
                other => return other,
            }
        }
        match &$session.active {
            Active::Cpu($e) => $call,
            Active::Gpu(_) => unreachable!("the session moved to the CPU above"),
        }
    }};
}

impl Session {
    /// [`Session::open`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(choice: Choice, text: &[u8], kb: &[u8], image: Option<&[u8]>) -> Result<Session> {
        pollster::block_on(Session::open(choice, text, kb, image))
    }

    /// Loads the models and the KB on the chosen backend.
    pub async fn open(choice: Choice, text: &[u8], kb: &[u8], image: Option<&[u8]>) -> Result<Session> {
        Session::open_with(choice, text, kb, image, Integrity::Check).await
    }

    /// [`Session::open`], with the model files checked as `integrity` says.
    pub async fn open_with(choice: Choice, text: &[u8], kb: &[u8], image: Option<&[u8]>, integrity: Integrity) -> Result<Session> {
        let (text, kb, image): (Rc<[u8]>, Rc<[u8]>, Option<Rc<[u8]>>) = (text.into(), kb.into(), image.map(Into::into));
        let mut fallback_reason = None;
        if choice != Choice::Cpu {
            let opened = match Gpu::open().await {
                Ok(g) if choice == Choice::Auto && g.adapter().software => {
                    Err(Error::GpuUnavailable(format!("only a software adapter ({}), which is slower than the CPU path", g.adapter().name)))
                }
                Ok(g) => load(g, &text, &kb, image.as_deref(), None, integrity),
                Err(e) => Err(e),
            };
            match opened {
                Ok(e) => return Ok(Session { active: Active::Gpu(e), text, kb, image, ocr: None, integrity, fallback_reason }),
                Err(e) if choice == Choice::Gpu || !gpu_failure(&e) => return Err(e),
                Err(e) => fallback_reason = Some(e.to_string()),
            }
        }
        let e = load(Cpu, &text, &kb, image.as_deref(), None, integrity)?;
        Ok(Session { active: Active::Cpu(e), text, kb, image, ocr: None, integrity, fallback_reason })
    }

    /// Loads (or replaces) the image model on the current backend.
    pub fn add_image_model(&mut self, bytes: &[u8]) -> Result<()> {
        self.add_model(bytes, Model::Image)
    }

    /// Loads (or replaces) the OCR model on the current backend.
    pub fn add_ocr_model(&mut self, bytes: &[u8]) -> Result<()> {
        self.add_model(bytes, Model::Ocr)
    }

    /// Adds a model to the active engine and keeps its bytes for a rebuild on the CPU; a GPU
    /// failure moves the session there (with the model).
    fn add_model(&mut self, bytes: &[u8], which: Model) -> Result<()> {
        let added = match (&mut self.active, which) {
            (Active::Gpu(e), Model::Image) => e.add_image_model(bytes),
            (Active::Cpu(e), Model::Image) => e.add_image_model(bytes),
            (Active::Gpu(e), Model::Ocr) => e.add_ocr_model(bytes),
            (Active::Cpu(e), Model::Ocr) => e.add_ocr_model(bytes),
        };
        if added.as_ref().map_or_else(gpu_failure, |_| true) {
            *match which {
                Model::Image => &mut self.image,
                Model::Ocr => &mut self.ocr,
            } = Some(bytes.into());
        }
        match added {
            Err(e) if gpu_failure(&e) => self.fall_back(e),
            other => other,
        }
    }

    /// Whether photos are read.
    pub fn has_ocr_model(&self) -> bool {
        match &self.active {
            Active::Gpu(e) => e.has_ocr_model(),
            Active::Cpu(e) => e.has_ocr_model(),
        }
    }

    /// "gpu" or "cpu".
    pub fn backend_name(&self) -> &'static str {
        match &self.active {
            Active::Gpu(e) => e.backend_name(),
            Active::Cpu(e) => e.backend_name(),
        }
    }

    /// The GPU adapter, while the session is on it.
    pub fn adapter(&self) -> Option<&Adapter> {
        self.gpu().map(|e| e.backend().adapter())
    }

    /// The GPU engine, while the session is on it.
    pub fn gpu(&self) -> Option<&Engine<Gpu>> {
        match &self.active {
            Active::Gpu(e) => Some(e),
            Active::Cpu(_) => None,
        }
    }

    /// The loaded KB.
    pub fn kb(&self) -> &Kb {
        match &self.active {
            Active::Gpu(e) => e.kb(),
            Active::Cpu(e) => e.kb(),
        }
    }

    /// Whether photos can be answered.
    pub fn has_image_model(&self) -> bool {
        match &self.active {
            Active::Gpu(e) => e.has_image_model(),
            Active::Cpu(e) => e.has_image_model(),
        }
    }

    /// Moves to the CPU for good, remembering why.
    fn fall_back(&mut self, why: Error) -> Result<()> {
        self.fallback_reason = Some(why.to_string());
        self.active = Active::Cpu(load(Cpu, &self.text, &self.kb, self.image.as_deref(), self.ocr.as_deref(), self.integrity)?);
        Ok(())
    }

    /// [`Session::ask_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn ask(&mut self, question: &str, photo: Option<Photo>) -> Result<Answer> {
        pollster::block_on(self.ask_async(question, photo))
    }

    /// Answers on the current backend; a GPU failure moves the session to the CPU and the
    /// question is answered there.
    pub async fn ask_async(&mut self, question: &str, photo: Option<Photo<'_>>) -> Result<Answer> {
        with_fallback!(self, e => e.ask_async(question, photo).await)
    }

    /// What a photo says (the OCR model alone), with the time of its stages, with the same
    /// fallback as `ask`.
    pub async fn read_photo(&mut self, photo: Photo<'_>, clock: &dyn Fn() -> f64) -> Result<(Reading, ReadTiming)> {
        with_fallback!(self, e => e.read_photo_async(photo, clock).await)
    }

    /// The OCR networks' input tensors for a photo (benchmarks), with the same fallback as `ask`.
    pub async fn ocr_network_inputs(&mut self, photo: Photo<'_>) -> Result<NetworkInputs> {
        with_fallback!(self, e => e.ocr_network_inputs_async(photo).await)
    }

    /// The sentence vector of a question (benchmarks), with the same fallback as `ask`.
    pub async fn embed_question(&mut self, text: &str) -> Result<Vec<f32>> {
        with_fallback!(self, e => e.embed_question_async(text).await)
    }

    /// The visual feature of a photo (benchmarks), with the same fallback as `ask`.
    pub async fn embed_photo(&mut self, photo: Photo<'_>) -> Result<Vec<f32>> {
        with_fallback!(self, e => e.embed_photo_async(photo).await.map(|o| o.feature))
    }
}
