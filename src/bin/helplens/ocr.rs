//! `helplens ocr`: the text in a photo, lines in reading order.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use helplens::cpu::Cpu;
use helplens::input::image::decode;
use helplens::models::ocr::Ocr;
use helplens::tensor;
use helplens::weights::ModelFile;

use crate::read;

pub fn run(image: &Path, model: &Path, json: bool) -> Result<()> {
    let backend = Cpu;
    let ocr = Ocr::load(&backend, ModelFile::from_bytes(&read(model)?)?)?;
    let rgb = helplens::input::ocr::rgb(&decode(&read(image)?)?);
    let start = Instant::now();
    let mut reading = tensor::now(ocr.read(&backend, &rgb))?;
    reading.add_displays(&rgb);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if json {
        println!("{}", serde_json::json!({ "lines": reading.lines, "skipped": reading.skipped, "ms": ms }));
    } else {
        for l in &reading.lines {
            println!("{:.2}  {}{}", l.confidence, l.text, if l.display { "  (display)" } else { "" });
        }
        println!("{} lines in {ms:.0} ms{}", reading.lines.len(), if reading.skipped > 0 { format!(" ({} more boxes not read)", reading.skipped) } else { String::new() });
    }
    Ok(())
}
