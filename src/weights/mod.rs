//! Weights: the on-disk model format (GGUF), the block quantization it carries, and (native
//! only) the converters from the upstream checkpoints. The only code that knows file formats.

pub mod gguf;
pub mod quant;

#[cfg(feature = "cli")]
pub mod convert;

pub use gguf::ModelFile;
pub use quant::Precision;
