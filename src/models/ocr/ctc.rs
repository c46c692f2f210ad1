//! Greedy CTC decoding: the most probable class at each step, repeats merged, blanks dropped.

use crate::cpu::{exp_nonpositive, sum8};

/// The largest value (eight lanes, so it vectorises; NaN logits would be a broken model).
fn max8(x: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (m, &v) in m.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    chunks.remainder().iter().chain(&m).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Decodes logits `[t, classes]` (class 0 the blank); returns the text and the mean
/// probability of the characters kept (0 when none is).
pub fn greedy(logits: &[f32], chars: &[String]) -> (String, f32) {
    let classes = chars.len();
    if classes == 0 {
        return (String::new(), 0.0);
    }
    let mut text = String::new();
    let (mut sum, mut kept, mut prev) = (0f32, 0usize, 0usize);
    for row in logits.chunks_exact(classes) {
        // The first class at the maximum, in two passes that vectorise (18 385 classes a step).
        let max = max8(row);
        let best = row.iter().position(|&v| v == max).unwrap_or(0);
        if best != 0 && best != prev {
            // Softmax probability of the best class: 1 / Σ e^(l − max).
            let denom = sum8(row, |l| exp_nonpositive(l - max));
            sum += 1.0 / denom;
            kept += 1;
            text.push_str(&chars[best]);
        }
        prev = best;
    }
    (text, if kept > 0 { sum / kept as f32 } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_merge_and_blanks_split() {
        let chars: Vec<String> = ["", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        // a a _ a b b _ " " → "aab " (the blank between the a's keeps both).
        let steps = [1, 1, 0, 1, 2, 2, 0, 3];
        let logits: Vec<f32> = steps.iter().flat_map(|&s| (0..4).map(move |c| if c == s { 5.0 } else { 0.0 })).collect();
        let (text, conf) = greedy(&logits, &chars);
        assert_eq!(text, "aab ");
        let p = 5f32.exp() / (5f32.exp() + 3.0);
        assert!((conf - p).abs() < 1e-6);
        assert_eq!(greedy(&[9.0, 0.0, 0.0, 0.0], &chars), (String::new(), 0.0));
    }
}
