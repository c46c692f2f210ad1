//! Exhaustive int8 search: with a few thousand unit vectors a linear scan is faster than any
//! index. Scores are cosines (stored rows and queries are unit length).

use super::format::{I8Rows, UnitKind};

/// Best units per article averaged into its text evidence.
pub const EVIDENCE_UNITS: usize = 3;

/// Cosine of a unit query against every row.
pub fn scores(rows: &I8Rows, query: &[f32]) -> Vec<f32> {
    rows.scores(query)
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

/// Per-article text evidence, for ranking only. The cosines of one kind of unit live on their
/// own scale (e5 puts any two questions closer than a question and a passage), so each unit's
/// cosine becomes a standard score among the KB's units of its kind, for this query; an
/// article's evidence is the mean of its `EVIDENCE_UNITS` best, so that agreement between
/// its title, body and example questions counts, not one stray match. Articles without units
/// get `f32::NEG_INFINITY`.
///
/// Chosen on a development set of the demo KBs' own example questions, each left out in turn
/// and asked against the rest (not the held-out sets); see ARCHITECTURE.md.
pub fn text_evidence(scores: &[f32], row_article: &[u32], row_kind: &[UnitKind], articles: usize) -> Vec<f32> {
    let mut stats = [(0.0f64, 0.0f64, 0usize); UnitKind::ALL.len()];
    for (&s, &k) in scores.iter().zip(row_kind) {
        let st = &mut stats[k as usize];
        st.0 += s as f64;
        st.1 += (s as f64) * (s as f64);
        st.2 += 1;
    }
    // (mean, 1 / standard deviation) per kind; a kind without spread scores 0.
    let norm = stats.map(|(sum, sq, n)| {
        let mean = sum / n.max(1) as f64;
        let sd = (sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt() as f32;
        (mean as f32, if sd > 1e-6 { 1.0 / sd } else { 0.0 })
    });
    let mut per_article: Vec<Vec<f32>> = vec![Vec::new(); articles];
    for ((&s, &k), &a) in scores.iter().zip(row_kind).zip(row_article) {
        let (mean, inv_sd) = norm[k as usize];
        per_article[a as usize].push((s - mean) * inv_sd);
    }
    per_article
        .into_iter()
        .map(|mut z| {
            if z.is_empty() {
                return f32::NEG_INFINITY;
            }
            z.sort_by(|a, b| b.total_cmp(a));
            z.truncate(EVIDENCE_UNITS);
            z.iter().sum::<f32>() / z.len() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use UnitKind::*;

    #[test]
    fn evidence_compares_units_within_their_kind() {
        // Questions score high against each other: article 0's question (0.80) is an ordinary
        // question score, while its title (0.60) and passage (0.55) stand out among theirs.
        let kinds = [Title, Passage, Question, Title, Passage, Question, Title, Passage, Question];
        let article = [0, 0, 0, 1, 1, 1, 2, 2, 2];
        let s = [0.60, 0.55, 0.80, 0.30, 0.30, 0.85, 0.30, 0.30, 0.75];
        assert_eq!(max_per_article(&s, &article, 3)[1], 0.85);
        let e = text_evidence(&s, &article, &kinds, 4);
        assert!(e[0] > e[1] && e[1] > e[2], "{e:?}");
        assert_eq!(e[3], f32::NEG_INFINITY);
    }

    #[test]
    fn evidence_is_the_mean_standard_score_and_survives_a_constant_kind() {
        // One kind with no spread contributes zeros; the others keep their order.
        let kinds = [Title, Question, Title, Question];
        let s = [0.5, 0.9, 0.7, 0.9];
        let e = text_evidence(&s, &[0, 0, 1, 1], &kinds, 2);
        // Titles: mean 0.6, sd 0.1 → z = -1, +1; questions: z = 0; mean of each article's two.
        assert!((e[0] - (-1.0 + 0.0) / 2.0).abs() < 1e-5 && (e[1] - (1.0 + 0.0) / 2.0).abs() < 1e-5, "{e:?}");
    }
}
