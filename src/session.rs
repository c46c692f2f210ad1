//! A session: the backend is chosen once at start-up (the GPU if one opens and passes its
//! self-test, else the CPU) and the engine runs on it; if the GPU fails later (device lost, out
//! of memory, a kernel error), the session moves to the CPU for good and the question that hit
//! the failure is answered there. Native only for now; the browser build uses the CPU engine.

use std::sync::Arc;

use crate::cpu::Cpu;
use crate::engine::{Engine, Photo};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kb::Answer;

/// Which backend a session should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A hardware GPU when one works, else the CPU (a software adapter such as lavapipe or
    /// SwiftShader is slower than the CPU path).
    Auto,
    /// The CPU only.
    Cpu,
    /// The GPU only: an error if there is none.
    Gpu,
}

impl std::str::FromStr for Choice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Choice> {
        match s {
            "auto" => Ok(Choice::Auto),
            "cpu" => Ok(Choice::Cpu),
            "gpu" | "webgpu" => Ok(Choice::Gpu),
            other => Err(Error::Gpu(format!("unknown backend {other:?}: use auto, cpu or gpu"))),
        }
    }
}

enum Active {
    Gpu(Engine<Gpu>),
    Cpu(Engine<Cpu>),
}

/// Models and KB on the chosen backend, with the bytes kept to rebuild on the CPU.
pub struct Session {
    active: Active,
    text: Arc<[u8]>,
    kb: Arc<[u8]>,
    image: Option<Arc<[u8]>>,
    /// Why the session is on the CPU, where it is not by choice.
    pub fallback_reason: Option<String>,
}

fn load<B: crate::tensor::Backend>(b: B, text: &[u8], kb: &[u8], image: Option<&[u8]>) -> Result<Engine<B>> {
    let mut e = Engine::new(b, text, kb)?;
    if let Some(i) = image {
        e.add_image_model(i)?;
    }
    Ok(e)
}

/// Errors that mean "the GPU cannot go on", as opposed to bad input.
fn gpu_failure(e: &Error) -> bool {
    matches!(e, Error::Gpu(_) | Error::GpuLost)
}

impl Session {
    /// Loads the models and the KB on the chosen backend.
    pub fn new(choice: Choice, text: &[u8], kb: &[u8], image: Option<&[u8]>) -> Result<Session> {
        let (text, kb, image): (Arc<[u8]>, Arc<[u8]>, Option<Arc<[u8]>>) = (text.into(), kb.into(), image.map(Into::into));
        let mut fallback_reason = None;
        if choice != Choice::Cpu {
            let opened = Gpu::new().and_then(|g| {
                if choice == Choice::Auto && g.adapter().software {
                    return Err(Error::Gpu(format!("only a software adapter ({}), which is slower than the CPU path", g.adapter().name)));
                }
                load(g, &text, &kb, image.as_deref())
            });
            match opened {
                Ok(e) => return Ok(Session { active: Active::Gpu(e), text, kb, image, fallback_reason }),
                Err(e) if choice == Choice::Gpu || !gpu_failure(&e) => return Err(e),
                Err(e) => fallback_reason = Some(e.to_string()),
            }
        }
        let e = load(Cpu, &text, &kb, image.as_deref())?;
        Ok(Session { active: Active::Cpu(e), text, kb, image, fallback_reason })
    }

    /// "gpu" or "cpu".
    pub fn backend_name(&self) -> &'static str {
        match &self.active {
            Active::Gpu(e) => e.backend_name(),
            Active::Cpu(e) => e.backend_name(),
        }
    }

    /// The GPU engine, while the session is on it.
    pub fn gpu(&self) -> Option<&Engine<Gpu>> {
        match &self.active {
            Active::Gpu(e) => Some(e),
            Active::Cpu(_) => None,
        }
    }

    /// Answers on the current backend; a GPU failure moves the session to the CPU and the
    /// question is answered there.
    pub fn ask(&mut self, question: &str, photo: Option<Photo>) -> Result<Answer> {
        if let Active::Gpu(e) = &self.active {
            match e.ask(question, photo) {
                Err(err) if gpu_failure(&err) => {
                    self.fallback_reason = Some(err.to_string());
                    self.active = Active::Cpu(load(Cpu, &self.text, &self.kb, self.image.as_deref())?);
                }
                other => return other,
            }
        }
        match &self.active {
            Active::Cpu(e) => e.ask(question, photo),
            Active::Gpu(_) => unreachable!("the session moved to the CPU above"),
        }
    }
}
