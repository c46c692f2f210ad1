//! Turning what the customer gives into model inputs: text into token ids, photos into
//! normalised pixels.

pub mod image;
pub mod ocr;
pub mod text;
