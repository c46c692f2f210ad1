//! helplens: retrieval of help articles for a customer's question or photo, on the device.
//!
//! Data flows one way: bytes → [`input`] → [`models`] (on a [`tensor::Backend`]: [`cpu`] or [`gpu`], picked by a [`session::Session`]) →
//! vectors → [`kb`] search → [`kb::Answer`]. [`engine::Engine`] ties them together;
//! `wasm` is the only browser-facing file; `weights` knows the file formats.

pub mod cpu;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod input;
pub mod kb;
pub mod models;
pub mod session;
pub mod tensor;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use engine::{Engine, Photo};
pub use error::{Error, Result};
