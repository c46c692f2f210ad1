//! Exhaustive int8 search: with a few thousand unit vectors a linear scan is faster than any
//! index. Scores are cosines (stored rows and queries are unit length).

use super::format::I8Rows;

/// Cosine of a unit query against every row.
pub fn scores(rows: &I8Rows, query: &[f32]) -> Vec<f32> {
    if query.len() != rows.dim {
        return vec![0.0; rows.len()];
    }
    rows.data
        .chunks_exact(rows.dim)
        .zip(&rows.scale)
        .map(|(row, s)| row.iter().zip(query).map(|(&q, v)| q as f32 * v).sum::<f32>() * s)
        .collect()
}

/// Per-article maximum of row scores; articles without rows get `f32::NEG_INFINITY`.
pub fn max_per_article(scores: &[f32], row_article: &[u32], articles: usize) -> Vec<f32> {
    let mut best = vec![f32::NEG_INFINITY; articles];
    for (s, &a) in scores.iter().zip(row_article) {
        let b = &mut best[a as usize];
        *b = b.max(*s);
    }
    best
}
