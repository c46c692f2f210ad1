//! `helplens build-kb`: a KB folder (kb.toml + articles/*.md) embedded into a KB file.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use helplens::cpu::Cpu;
use helplens::kb::{build, source};
use helplens::models::bert::Bert;
use helplens::models::efficientnet::EfficientNet;
use helplens::weights::ModelFile;

use crate::read;

/// Embeds `dir` into `out` on the CPU; the text model is `text_model`, or else the one for the
/// KB's `language` (`en` or `multi`).
pub fn run(dir: &Path, out: &Path, text_model: Option<&Path>, text_model_en: &Path, text_model_multi: &Path, image_model: &Path) -> Result<()> {
    let backend = Cpu;
    let src = source::load(dir)?;
    let text_model = text_model.unwrap_or(match src.config.language {
        source::Language::En => text_model_en,
        source::Language::Multi => text_model_multi,
    });
    let text = Bert::load(&backend, ModelFile::from_bytes(&read(text_model)?)?).with_context(|| format!("loading {}", text_model.display()))?;
    println!(
        "{}: language {}, text model {} ({})",
        dir.display(),
        match src.config.language {
            source::Language::En => "en",
            source::Language::Multi => "multi",
        },
        text.config.name,
        text_model.display()
    );
    let image = EfficientNet::load(&backend, ModelFile::from_bytes(&read(image_model)?)?).with_context(|| format!("loading {}", image_model.display()))?;
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut kb = build::build(&backend, &text, Some(&image), &src, &mut |what| {
        if tty {
            eprint!("\rembedding {what:<40}");
        }
    })?;
    // The KB names its model files, so `ask` and the widget can find them.
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    kb.meta.text_model_file = file_name(text_model);
    kb.meta.image_model_file = file_name(image_model);
    if tty {
        eprint!("\r{:<50}\r", "");
    }
    let bytes = kb.to_bytes()?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!();
    println!(
        "{}: {} articles, {} text units, {} photos, {:.2} MB, {:.1} s",
        out.display(),
        kb.meta.articles.len(),
        kb.units.len(),
        kb.photos.len(),
        bytes.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
