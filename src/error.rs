//! The one error type of the library. Every failure that can come from a user, a file or the
//! network is a variant here with a message a person can act on; nothing on those paths panics.

/// Everything that can go wrong in helplens.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file is not a helplens model, is truncated, or misses a tensor or a key.
    #[error("model file: {0}")]
    Model(String),
    /// A knowledge-base file is not a helplens KB, is truncated, or is inconsistent.
    #[error("knowledge base: {0}")]
    Kb(String),
    /// The KB was built with other models than the ones loaded.
    #[error("the knowledge base was built with the {role} model {expected}, but {found} is loaded; rebuild the KB with `helplens build-kb` or load the matching model")]
    Mismatch { role: &'static str, expected: String, found: String },
    /// The question is empty (after trimming) and there is no photo either.
    #[error("empty question: type a question or attach a photo")]
    EmptyQuestion,
    /// The question is longer than the engine accepts.
    #[error("question too long: {chars} characters (at most {max})")]
    QuestionTooLong { chars: usize, max: usize },
    /// The photo could not be decoded.
    #[error("could not read the photo: {0}")]
    ImageDecode(String),
    /// The photo's format is not one the engine can decode.
    #[error("unsupported photo format{0}: use JPEG, PNG, WebP or GIF")]
    UnsupportedFormat(String),
    /// The photo has more pixels than the engine accepts.
    #[error("photo too large: {width}x{height} pixels (at most {max_megapixels} megapixels)")]
    ImageTooLarge { width: u32, height: u32, max_megapixels: u32 },
    /// The photo has no pixels or a buffer that does not match its size.
    #[error("invalid photo: {0}")]
    ImageInvalid(String),
    /// Tokenizer failure (bad tokenizer.json or an input it cannot handle).
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The photo was given but no image model is loaded.
    #[error("no image model is loaded, photos cannot be answered")]
    NoImageModel,
    /// A photo was to be read but no OCR model is loaded.
    #[error("no OCR model is loaded, photos cannot be read")]
    NoOcrModel,
    /// A shape did not match what an op expects (a bug or a corrupt model).
    #[error("shape mismatch in {op}: {detail}")]
    Shape { op: &'static str, detail: String },
    /// The compute backend failed.
    #[error("compute backend: {0}")]
    Backend(String),
    /// This device cannot run the GPU backend: no adapter or device, a missing feature, memory
    /// exhausted, a self-test that computes wrong numbers, or only a software adapter where a
    /// hardware one was wanted. The session falls back to the CPU.
    #[error("GPU unavailable: {0}")]
    GpuUnavailable(String),
    /// The GPU backend was used wrongly: a kernel without the variant or parameters it is called
    /// with, a dispatch over the spec's limits, a WGSL kernel that does not compile, a validation
    /// error. A bug in helplens: reported, never hidden by a fallback.
    #[error("GPU backend bug: {0}")]
    GpuBug(String),
    /// The GPU device was lost (driver reset, another tab took it, or destroyed).
    #[error("GPU device lost")]
    GpuLost,
    /// A backend name that is not auto, cpu or webgpu.
    #[error("unknown backend {0:?}: use auto, cpu or webgpu")]
    UnknownBackend(String),
    /// A call arrived while the previous one was still running (the browser engine answers one
    /// call at a time).
    #[error("the engine is busy with the previous request")]
    Busy,
    /// Reading or writing a file failed (native only).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A stable, machine-readable name for the kind of error (it crosses the wasm boundary as
    /// the JavaScript error's `code`); messages may change, codes do not.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Model(_) => "model_file",
            Error::Kb(_) => "kb_file",
            Error::Mismatch { .. } => "model_mismatch",
            Error::EmptyQuestion => "empty_question",
            Error::QuestionTooLong { .. } => "question_too_long",
            Error::ImageDecode(_) => "photo_unreadable",
            Error::UnsupportedFormat(_) => "photo_format",
            Error::ImageTooLarge { .. } => "photo_too_large",
            Error::ImageInvalid(_) => "photo_invalid",
            Error::Tokenizer(_) => "tokenizer",
            Error::NoImageModel => "no_image_model",
            Error::NoOcrModel => "no_ocr_model",
            Error::Shape { .. } => "shape",
            Error::Backend(_) => "backend",
            Error::GpuUnavailable(_) => "gpu_unavailable",
            Error::GpuBug(_) => "gpu_bug",
            Error::GpuLost => "gpu_lost",
            Error::UnknownBackend(_) => "unknown_backend",
            Error::Busy => "busy",
            Error::Io(_) => "io",
        }
    }

    /// Whether the error means "this device cannot run the GPU backend (any more)": the session
    /// moves to the CPU. A GPU bug is not one of them.
    pub fn is_gpu_unavailable(&self) -> bool {
        matches!(self, Error::GpuUnavailable(_) | Error::GpuLost)
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Backend(e.to_string())
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn codes_are_distinct_and_only_unavailable_gpus_fall_back() {
        let all = [
            Error::Model(String::new()),
            Error::Kb(String::new()),
            Error::Mismatch { role: "text", expected: String::new(), found: String::new() },
            Error::EmptyQuestion,
            Error::QuestionTooLong { chars: 0, max: 0 },
            Error::ImageDecode(String::new()),
            Error::UnsupportedFormat(String::new()),
            Error::ImageTooLarge { width: 0, height: 0, max_megapixels: 0 },
            Error::ImageInvalid(String::new()),
            Error::Tokenizer(String::new()),
            Error::NoImageModel,
            Error::NoOcrModel,
            Error::Shape { op: "x", detail: String::new() },
            Error::Backend(String::new()),
            Error::GpuUnavailable(String::new()),
            Error::GpuBug(String::new()),
            Error::GpuLost,
            Error::UnknownBackend(String::new()),
            Error::Busy,
            Error::Io(std::io::Error::other("x")),
        ];
        let mut codes: Vec<&str> = all.iter().map(Error::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        let fall_back: Vec<&str> = all.iter().filter(|e| e.is_gpu_unavailable()).map(Error::code).collect();
        assert_eq!(fall_back, ["gpu_unavailable", "gpu_lost"]);
    }
}
