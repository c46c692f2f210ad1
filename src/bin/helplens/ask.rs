//! `helplens ask`: one question (and/or photo), or `--batch`: every question of a file against
//! models and a KB loaded once, one JSON answer a line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use helplens::kb::Answer;
use helplens::session::{Choice, Session};
use helplens::Photo;

use crate::{read, DEFAULT_TEXT};

/// The files `ask` loads.
pub struct Models<'a> {
    pub kb: &'a Path,
    /// The text model; by default the one the KB names ([`kb_text_model`]).
    pub text: Option<&'a Path>,
    /// Loaded only when a photo is asked about.
    pub image: &'a Path,
    /// Loaded with a photo, unless photos are not to be read (`--no-ocr`).
    pub ocr: Option<&'a Path>,
}

/// The text model a KB names (`text_model_file`): beside the KB, else in models/; a KB from
/// before it named its model gets the default English one.
fn kb_text_model(kb_path: &Path, kb: &[u8]) -> Result<PathBuf> {
    let meta = helplens::kb::format::KbMeta::from_kb_bytes(kb)?;
    let Some(name) = meta.text_model_file else { return Ok(PathBuf::from(DEFAULT_TEXT)) };
    let beside = kb_path.parent().unwrap_or(Path::new(".")).join(&name);
    let in_models = Path::new("models").join(&name);
    [beside.clone(), in_models.clone()].into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!("{} was built with the text model {name}, found neither at {} nor at {}: pass --text-model", kb_path.display(), beside.display(), in_models.display())
    })
}

fn open(m: &Models, backend: Choice, with_photo: bool) -> Result<Session> {
    let kb = read(m.kb)?;
    let text = match m.text {
        Some(p) => p.to_path_buf(),
        None => kb_text_model(m.kb, &kb)?,
    };
    let image = if with_photo { Some(read(m.image)?) } else { None };
    let mut session = Session::new(backend, &read(&text)?, &kb, image.as_deref())?;
    if let Some(why) = &session.fallback_reason {
        eprintln!("using the CPU: {why}");
    }
    if let Some(ocr) = m.ocr.filter(|_| with_photo) {
        session.add_ocr_model(&read(ocr)?)?;
    }
    Ok(session)
}

/// Answers one question and/or photo, as text or as one line of JSON.
pub fn one(m: &Models, backend: Choice, image: Option<&Path>, json: bool, question: &str) -> Result<()> {
    let photo = image.map(read).transpose()?;
    let mut session = open(m, backend, photo.is_some())?;
    let answer = session.ask(question, photo.as_deref().map(Photo::Encoded))?;
    if json {
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        print_answer(&answer);
    }
    Ok(())
}

fn print_answer(answer: &Answer) {
    for l in &answer.labels {
        println!("looks like: {} ({:.0}%)", l.name, l.p * 100.0);
    }
    if let Some(r) = answer.read.as_ref().filter(|r| !r.lines.is_empty()) {
        println!("reads: {}", r.text().replace('\n', " / "));
    }
    if !answer.codes.is_empty() {
        println!("codes: {}", answer.codes.join(", "));
    }
    for a in &answer.answers {
        println!("{:.3}  {}  ({})", a.score, a.title, a.id);
    }
    if !answer.confident {
        println!("(not confident: offer a person)");
    }
}

/// Answers every non-blank line of `file` (`-`: standard input), printing one JSON answer a
/// line in the order of the questions. The first question that cannot be answered (too long,
/// say) stops the run with its line number; the answers before it are printed.
pub fn batch(m: &Models, backend: Choice, file: &Path) -> Result<()> {
    let input: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?))
    };
    let mut session = open(m, backend, false)?;
    let mut out = std::io::stdout().lock();
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("{} line {}", file.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = session.ask(&line, None).with_context(|| format!("{} line {}", file.display(), i + 1))?;
        writeln!(out, "{}", serde_json::to_string(&answer)?)?;
    }
    out.flush()?;
    Ok(())
}
