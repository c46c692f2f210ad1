//! Encoders, each a config plus weights by name plus a forward pass over any [`Backend`].
//!
//! [`Backend`]: crate::tensor::Backend

pub mod bert;
pub mod conse;
pub mod convnet;
pub mod efficientnet;
pub mod ocr;
