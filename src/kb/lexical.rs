//! Lexical evidence: BM25 (Robertson and Zaragoza's Okapi BM25, k1 = 1.2, b = 0.75) of a text
//! against each article's words (title, tags and body). Text read on a
//! screen quotes the article that explains it word for word ("PPPoE", "Boil-dry protection",
//! "Moisture detected"), where a sentence embedding of a few screen words drifts to the product's
//! general articles. Latin words are lower-cased alphanumeric runs; Chinese, Japanese and
//! Korean text, written without spaces, counts by overlapping character pairs.

use std::collections::HashMap;

use super::format::Article;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// The KB's articles as bags of terms.
#[derive(Debug, Clone, Default)]
pub struct Lexical {
    /// Per article: term → count.
    docs: Vec<HashMap<String, u32>>,
    /// Per article: BM25's length normalisation, `1 − b + b · length / mean length`.
    norms: Vec<f32>,
    /// Term → number of articles holding it.
    df: HashMap<String, u32>,
}

impl Lexical {
    /// Indexes the articles.
    pub fn new(articles: &[Article]) -> Self {
        let mut docs = Vec::with_capacity(articles.len());
        let mut df: HashMap<String, u32> = HashMap::new();
        for a in articles {
            let text = format!("{}\n{}\n{}", a.title, a.tags.join("\n"), a.body);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for t in terms(&text) {
                *counts.entry(t).or_default() += 1;
            }
            for t in counts.keys() {
                *df.entry(t.clone()).or_default() += 1;
            }
            docs.push(counts);
        }
        let lengths: Vec<u32> = docs.iter().map(|d| d.values().sum()).collect();
        let mean_length = lengths.iter().sum::<u32>() as f32 / lengths.len().max(1) as f32;
        let norms = lengths.iter().map(|&l| 1.0 - B + B * l as f32 / mean_length.max(1.0)).collect();
        Lexical { docs, norms, df }
    }

    /// Whether some article holds the term (see [`terms`]).
    pub fn knows(&self, term: &str) -> bool {
        self.df.contains_key(term)
    }

    /// BM25 of `query` for every article, divided by the best article's (so the best is 1 and
    /// a query with no term in the KB scores 0 everywhere).
    pub fn scores(&self, query: &str) -> Vec<f32> {
        let n = self.docs.len() as f32;
        let mut q: Vec<String> = terms(query);
        q.sort();
        q.dedup();
        let mut out = vec![0.0f32; self.docs.len()];
        for t in &q {
            let Some(&df) = self.df.get(t) else { continue };
            let idf = ((n - df as f32 + 0.5) / (df as f32 + 0.5) + 1.0).ln();
            for (a, doc) in self.docs.iter().enumerate() {
                if let Some(&tf) = doc.get(t) {
                    let tf = tf as f32;
                    out[a] += idf * tf * (K1 + 1.0) / (tf + K1 * self.norms[a]);
                }
            }
        }
        let best = out.iter().copied().fold(0.0f32, f32::max);
        if best > 0.0 {
            out.iter_mut().for_each(|s| *s /= best);
        }
        out
    }
}

/// Whether a character is written without spaces between words (CJK ideographs, kana, hangul).
fn unspaced(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' | '\u{f900}'..='\u{faff}')
}

/// The terms of a text: lower-cased runs of letters and digits (a single letter or digit is
/// not a term), and overlapping pairs of CJK characters (a lone one counts by itself).
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, out: &mut Vec<String>| {
        if word.chars().count() >= 2 {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    let flush_run = |run: &mut Vec<char>, out: &mut Vec<String>| {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            _ => out.extend(run.windows(2).map(|w| w.iter().collect::<String>())),
        }
        run.clear();
    };
    for c in text.chars() {
        if unspaced(c) {
            flush_word(&mut word, &mut out);
            run.push(c);
        } else if c.is_alphanumeric() {
            flush_run(&mut run, &mut out);
            word.extend(c.to_lowercase());
        } else {
            flush_word(&mut word, &mut out);
            flush_run(&mut run, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_run(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, body: &str) -> Article {
        Article { id: id.into(), title: title.into(), url: None, tags: vec![], body: body.into(), images: vec![] }
    }

    #[test]
    fn terms_are_words_and_cjk_pairs() {
        assert_eq!(terms("Wi-Fi PPPoE: E-03, a 5 V!"), ["wi", "fi", "pppoe", "03"]);
        assert_eq!(terms("无信号 HDMI"), ["无信", "信号", "hdmi"]);
        assert_eq!(terms("水 ok"), ["水", "ok"]);
    }

    #[test]
    fn rare_quoted_words_rank_their_article_first() {
        let kb = [
            article("setup", "Router setup", "Connect the router. Enter your provider login."),
            article("fail", "No internet", "If the display shows PPPoE authentication failed, check the provider login."),
            article("wifi", "Slow Wi-Fi", "Move the router."),
        ];
        let lex = Lexical::new(&kb);
        let s = lex.scores("PPPoE authentication failed");
        assert_eq!(s[1], 1.0);
        assert_eq!(s[0], 0.0);
        // A word in two of the three articles counts for both.
        let r = lex.scores("router");
        assert!(r[0] > 0.0 && r[2] > 0.0 && r[0].max(r[2]) == 1.0 && r[1] == 0.0, "{r:?}");
        assert_eq!(lex.scores("zzz qqq"), vec![0.0; 3]);
        assert!(lex.knows("pppoe") && !lex.knows("PPPoE") && !lex.knows("zzz"));
        assert_eq!(Lexical::new(&[]).scores("router"), Vec::<f32>::new());
    }
}
