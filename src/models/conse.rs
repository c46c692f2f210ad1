//! ConSE: a photo in the text space (Norouzi et al., "Zero-Shot Learning by Convex Combination
//! of Semantic Embeddings", ICLR 2014): the probability-weighted mean of the text vectors of
//! the top-T predicted class names, L2-normalised. The mixing is a backend op
//! ([`crate::tensor::Backend::conse`]), so a photo's evidence never leaves the device until
//! its KB scores do.

/// Classes combined per photo (T in the paper).
pub const TOP_T: usize = 5;

/// The caption embedded for each class name.
pub fn caption(label: &str) -> String {
    format!("a photo of a {label}")
}
