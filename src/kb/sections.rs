//! An article's body split into sections, each embedded on its own: what an article says past
//! the encoder's 256 tokens is not lost, and a message quoted under a heading far down the
//! page ("Moisture detected", "Card full") is matched by the section that quotes it.

use super::source::{atx_heading, plain_text};

/// A section longer than this many words is cut into pieces of at most this many (at line
/// breaks where possible), each under the same heading: 160 words stay inside all-MiniLM-L6-v2's
/// 256 tokens with the title and heading in front.
pub const MAX_SECTION_WORDS: usize = 160;

/// One section: its heading (none for the text before the first heading) and its plain text.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub heading: Option<String>,
    pub text: String,
}

impl Section {
    /// The text embedded for the section: the article's title and the heading give it context.
    pub fn unit_text(&self, title: &str) -> String {
        match &self.heading {
            Some(h) => format!("{title}: {h}. {}", self.text),
            None => format!("{title}. {}", self.text),
        }
    }
}

/// The sections of a Markdown body: split at ATX headings (`#` to `######`), empty ones
/// dropped, long ones cut at [`MAX_SECTION_WORDS`].
pub fn sections(markdown: &str) -> Vec<Section> {
    let mut out = Vec::new();
    let mut heading: Option<String> = None;
    let mut lines: Vec<&str> = Vec::new();
    for line in markdown.lines() {
        if let Some(h) = heading_of(line) {
            push(&mut out, heading.take(), &lines);
            lines.clear();
            heading = Some(plain_text(h));
        } else {
            lines.push(line);
        }
    }
    push(&mut out, heading, &lines);
    out
}

/// The text of an ATX heading line, if it is one (closing `#`s dropped).
fn heading_of(line: &str) -> Option<&str> {
    atx_heading(line).map(|rest| rest.trim_end().trim_end_matches('#').trim_end())
}

/// Adds the section of `lines` under `heading`, in pieces of at most [`MAX_SECTION_WORDS`].
fn push(out: &mut Vec<Section>, heading: Option<String>, lines: &[&str]) {
    let mut piece: Vec<String> = Vec::new();
    let mut flush = |piece: &mut Vec<String>| {
        if !piece.is_empty() {
            out.push(Section { heading: heading.clone(), text: piece.join(" ") });
            piece.clear();
        }
    };
    for line in lines {
        for w in plain_text(line).split_whitespace() {
            // A line longer than a piece is cut between words.
            if piece.len() == MAX_SECTION_WORDS {
                flush(&mut piece);
            }
            piece.push(w.to_string());
        }
        // Break at the end of a line when the next one would likely not fit.
        if piece.len() > MAX_SECTION_WORDS * 3 / 4 {
            flush(&mut piece);
        }
    }
    flush(&mut piece);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_headings_with_the_intro_first() {
        let s = sections("Intro text.\n\n### First\n1. Step one\n2. Step two\n\n## Second ##\n- **Bold** item\n\n### Empty\n");
        assert_eq!(
            s,
            vec![
                Section { heading: None, text: "Intro text.".into() },
                Section { heading: Some("First".into()), text: "Step one Step two".into() },
                Section { heading: Some("Second".into()), text: "Bold item".into() },
            ]
        );
        assert_eq!(s[1].unit_text("Printer"), "Printer: First. Step one Step two");
        assert_eq!(s[0].unit_text("Printer"), "Printer. Intro text.");
        // Not headings: no space after the marks, or seven of them.
        assert_eq!(sections("#1 tip\n####### x").len(), 1);
    }

    #[test]
    fn long_sections_are_cut_under_their_heading() {
        let para = vec!["word"; 100].join(" ");
        let body = format!("### Long\n{para}\n{para}\n{para}\n{}", vec!["w"; 400].join(" "));
        let s = sections(&body);
        assert!(s.len() >= 4, "{}", s.len());
        for p in &s {
            assert_eq!(p.heading.as_deref(), Some("Long"));
            assert!(p.text.split_whitespace().count() <= MAX_SECTION_WORDS);
        }
        let total: usize = s.iter().map(|p| p.text.split_whitespace().count()).sum();
        assert_eq!(total, 700);
    }
}
