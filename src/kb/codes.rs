//! Exact evidence from codes: error codes, model and part numbers read on a screen or label
//! ("E-03", "P01", "KV-P210", "4F2A-0193") are matched literally against each article's title,
//! tags and body. Dense embeddings see "E21" and "E12" as nearly the same text; a support
//! answer must not.

use super::format::{Article, Kb};
use crate::models::ocr::segments::{char_of, pattern_of};

/// A code names at most this many articles to count as exact evidence: an error code names the
/// one article that explains it, while a part or model number that a setup guide, the parts
/// list and a troubleshooting page all mention says nothing about which one this is (it still
/// counts as a word in the lexical evidence). Chosen on the development screen photos: 26 → 27
/// of 28 from 3 to 1 ("Cyan (C40) is almost empty" led to the setup guide and the parts list);
/// the development screen texts hold 45 of 48.
pub const MAX_ARTICLES_PER_CODE: usize = 1;

/// Words after which a plain number is a code ("Error 14", "code 5").
const CODE_WORDS: [&str; 5] = ["ERROR", "ERR", "CODE", "FAULT", "ERRORCODE"];

/// The code-like tokens of a text, normalised (upper case, without '-' and '.'): at least two
/// characters, at least one digit and one letter or an inner '-' (so plain numbers such as
/// "3" or "2024" do not count, "E-03", "E21", "KV-P210" and "400-820" do), and a number right
/// after "error", "code" or "fault" ("Error 14" → "ERROR14").
pub fn extract(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev = String::new();
    // '/' separates: "K40/C40/M40/Y40" lists four part numbers.
    for raw in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
        let t = raw.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if t.is_empty() {
            continue;
        }
        let n = normalise(t);
        let digit = t.chars().any(|c| c.is_ascii_digit());
        let letter = t.chars().any(|c| c.is_ascii_alphabetic());
        let code = if digit && !letter && CODE_WORDS.contains(&prev.as_str()) {
            Some(format!("{prev}{n}"))
        } else if (2..=24).contains(&t.len()) && digit && (letter || t.contains('-')) && !is_quantity(t) {
            Some(n.clone())
        } else {
            None
        };
        if let Some(c) = code.filter(|c| c.len() >= 2 && !out.contains(c)) {
            out.push(c);
        }
        prev = n;
    }
    out
}

/// Units after which a number is a quantity ("30s", "2200W", "12V", "2.4GHz"), not a code.
const UNITS: [&str; 29] =
    ["s", "ms", "min", "h", "v", "kv", "w", "kw", "a", "ma", "mah", "wh", "kwh", "hz", "khz", "mhz", "ghz", "mm", "cm", "m", "km", "kg", "g", "l", "ml", "db", "mbps", "gb", "tb"];

/// Whether a token is a number with a unit: digits (with '.', ',', '/', '-' or '~' between
/// them) and then one of [`UNITS`].
fn is_quantity(t: &str) -> bool {
    let unit_at = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(unit_at);
    number.starts_with(|c: char| c.is_ascii_digit()) && number.chars().all(|c| c.is_ascii_digit() || ".,/-~".contains(c)) && UNITS.contains(&unit.to_ascii_lowercase().as_str())
}

/// The codes of what a seven-segment display shows, as [`shape`]s: on a display "5t" and "St"
/// are one picture, and "dE" is a code where in a sentence "de" would be a word.
pub fn of_display(shown: &str) -> Vec<String> {
    shown.split_whitespace().filter_map(shape).collect()
}

/// A token as a seven-segment display draws it: '-' dropped, each character replaced by the
/// one the table gives its pattern ('S' → '5', 'O' → '0'); `None` when a character has no
/// seven-segment form or the code is shorter than two or longer than six.
pub fn shape(token: &str) -> Option<String> {
    let out: Option<String> = token.chars().filter(|&c| c != '-').map(|c| pattern_of(if c == 'O' { '0' } else { c }).and_then(char_of)).collect();
    out.filter(|s| (2..=6).contains(&s.chars().count()))
}

/// The codes each article names ([`named_by`]), in the KB's order.
pub fn of_articles(articles: &[Article]) -> Vec<Vec<String>> {
    articles.iter().map(|a| named_by(&a.title, &a.tags, &a.body)).collect()
}

/// The codes an article names: [`extract`] of its title, tags and body, and the [`shape`]s of
/// its code-like words (with a digit or a capital: "E21", "dE", "St").
fn named_by(title: &str, tags: &[String], body: &str) -> Vec<String> {
    let text = format!("{title}\n{}\n{body}", tags.join("\n"));
    let mut out = extract(&text);
    for w in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let w = w.trim_matches('-');
        if !w.chars().any(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) {
            continue;
        }
        if let Some(k) = shape(w).filter(|k| !out.contains(k)) {
            out.push(k);
        }
    }
    out
}

fn normalise(t: &str) -> String {
    t.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '/').map(|c| c.to_ascii_uppercase()).collect()
}

/// For each article, how many of `codes` it names (only codes naming 1 to
/// [`MAX_ARTICLES_PER_CODE`] articles count), and the codes that counted.
pub fn matches(kb: &Kb, codes: &[String]) -> (Vec<usize>, Vec<String>) {
    let n = kb.meta.articles.len();
    let mut count = vec![0usize; n];
    let mut used = Vec::new();
    if codes.is_empty() {
        return (count, used);
    }
    let named = &kb.codes;
    for c in codes {
        let hits: Vec<usize> = (0..n).filter(|&a| named[a].contains(c)).collect();
        if (1..=MAX_ARTICLES_PER_CODE).contains(&hits.len()) {
            hits.iter().for_each(|&a| count[a] += 1);
            used.push(c.clone());
        }
    }
    (count, used)
}

/// Whether article `a` names `code`.
pub fn names(kb: &Kb, a: usize, code: &str) -> bool {
    kb.codes.get(a).is_some_and(|named| named.iter().any(|c| c == code))
}

#[cfg(test)]
mod tests {
    use super::{extract, of_display, shape};

    #[test]
    fn codes_are_tokens_with_digits_and_letters_or_dashes() {
        assert_eq!(extract("E-03 PAPER JAM. Open cover B"), vec!["E03"]);
        assert_eq!(extract("Model: KV-P210  S/N 4F2A-0193, 220-240V~50Hz 1800W"), vec!["KVP210", "4F2A0193"]);
        // Quantities are not codes; a letter before the digits makes one.
        assert_eq!(extract("Start/+30s 2.4GHz 12V 1.5A 100-240V~ X30s"), vec!["X30S"]);
        assert_eq!(extract("Error 14 in 2024: press 3"), vec!["ERROR14"]);
        assert_eq!(extract("error code 5"), vec!["CODE5"]);
        assert_eq!(extract("错误代码E-21 客服热线400-820-1234"), vec!["E21", "4008201234"]);
        assert_eq!(extract("(E21)."), vec!["E21"]);
        assert_eq!(extract("K40/C40 inks, 50/60Hz"), vec!["K40", "C40"]);
    }

    #[test]
    fn a_display_code_matches_the_words_drawn_the_same() {
        assert_eq!(of_display("5t E-11 dE"), vec!["5t", "E11", "dE"]);
        assert_eq!(shape("St"), shape("5t"));
        assert_eq!(shape("E-11"), Some("E11".to_string()));
        // No seven-segment form, or too short.
        assert_eq!((shape("DE"), shape("Wi"), shape("E")), (None, None, None));
    }
}
