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
    /// A shape did not match what an op expects (a bug or a corrupt model).
    #[error("shape mismatch in {op}: {detail}")]
    Shape { op: &'static str, detail: String },
    /// The compute backend failed.
    #[error("compute backend: {0}")]
    Backend(String),
    /// The GPU backend could not start or failed (the caller falls back to the CPU).
    #[error("GPU: {0}")]
    Gpu(String),
    /// The GPU device was lost (driver reset, another tab took it, or destroyed).
    #[error("GPU device lost")]
    GpuLost,
    /// Reading or writing a file failed (native only).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Backend(e.to_string())
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
