//! ConSE: a photo in the text space (Norouzi et al., "Zero-Shot Learning by Convex Combination
//! of Semantic Embeddings", ICLR 2014): the probability-weighted mean of the text vectors of
//! the top-T predicted class names, L2-normalised.

use crate::tensor::l2_normalize;

/// Classes combined per photo (T in the paper).
pub const TOP_T: usize = 5;

/// The caption embedded for each class name.
pub fn caption(label: &str) -> String {
    format!("a photo of a {label}")
}

/// Combines label vectors (`label_vecs(i)` is class i's unit vector) with class probabilities.
pub fn project(probs: &[f32], label_vec: impl Fn(usize) -> Vec<f32>, dim: usize) -> Vec<f32> {
    let top = super::efficientnet::top_k(probs, TOP_T);
    let mut out = vec![0f32; dim];
    for &i in &top {
        for (o, v) in out.iter_mut().zip(label_vec(i)) {
            *o += probs[i] * v;
        }
    }
    l2_normalize(&mut out);
    out
}
