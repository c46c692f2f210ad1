//! `helplens bench`: load time, first calls, then median and p95 of text embedding, image
//! embedding, KB search and the image encoder, on each backend side by side; peak memory.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use helplens::cpu::Cpu;
use helplens::gpu::Gpu;
use helplens::input::image::{decode, preprocess};
use helplens::models::efficientnet::EfficientNet;
use helplens::tensor::Backend;
use helplens::weights::ModelFile;
use helplens::{Engine, Photo};

use crate::{read, BenchBackend};

/// The files a bench loads.
pub struct Inputs<'a> {
    pub kb: &'a Path,
    /// A photo to embed.
    pub image: &'a Path,
    pub text_model: &'a Path,
    pub image_model: &'a Path,
}

/// Median and 95th percentile of timings in ms (`ms` not empty).
fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (p(0.5), p(0.95))
}

/// One warm-up call of `f`, then `runs` (at least one) timed ones.
fn time<T>(runs: usize, mut f: impl FnMut() -> helplens::Result<T>) -> Result<(f64, f64)> {
    f()?;
    let mut ms = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(stats(ms))
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

const ROWS: [&str; 6] = [
    "text embed (short question)",
    "image embed (decode+resize+encode)",
    "KB search (text, host)",
    "ask (text: encode + search on backend)",
    "image encoder, 1 photo",
    "image encoder, per photo in batch of 8",
];

/// Load time, first text and first image (pipelines compile and buffers fill on first use),
/// then median and p95 of each row of [`ROWS`].
struct Figures {
    load_ms: f64,
    first_ms: (f64, f64),
    rows: [(f64, f64); 6],
}

fn measure<B: Backend>(backend: B, inp: &Inputs, runs: usize, opened_ms: f64) -> Result<Figures> {
    let t = Instant::now();
    let mut e = Engine::new(backend, &read(inp.text_model)?, &read(inp.kb)?)?;
    e.add_image_model(&read(inp.image_model)?)?;
    let load_ms = opened_ms + t.elapsed().as_secs_f64() * 1e3;
    let photo = read(inp.image)?;
    let q = "my espresso machine is leaking water";
    let t = Instant::now();
    let qv = e.embed_question(q)?;
    let first_text = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    e.embed_photo(Photo::Encoded(&photo))?;
    let first_image = t.elapsed().as_secs_f64() * 1e3;
    // The encoder alone on preprocessed pixels, one photo and eight at once (as build-kb does).
    let model = EfficientNet::load(e.backend(), ModelFile::from_bytes(&read(inp.image_model)?)?)?;
    let pixels = preprocess(&decode(&photo)?, &model.config.preprocess)?;
    let batch = vec![pixels.as_slice(); 8];
    let per_photo = |(m, p): (f64, f64)| (m / 8.0, p / 8.0);
    let rows = [
        time(runs, || e.embed_question(q))?,
        time(runs, || e.embed_photo(Photo::Encoded(&photo)))?,
        time(runs, || Ok(helplens::kb::answer::search(e.kb(), &qv)))?,
        time(runs, || e.ask(q, None))?,
        time(runs, || model.forward(e.backend(), &pixels))?,
        per_photo(time(runs.div_ceil(4), || model.forward_batch(e.backend(), &batch))?),
    ];
    Ok(Figures { load_ms, first_ms: (first_text, first_image), rows })
}

/// Times `backends` side by side with `runs` (at least one) runs of each row.
pub fn run(inp: &Inputs, runs: usize, backends: &[BenchBackend]) -> Result<()> {
    let mut cols: Vec<(&str, Figures)> = Vec::new();
    for b in backends {
        match b {
            BenchBackend::Cpu => cols.push(("cpu", measure(Cpu, inp, runs, 0.0)?)),
            BenchBackend::Gpu => {
                let t = Instant::now();
                match Gpu::new() {
                    Ok(g) => {
                        let opened = t.elapsed().as_secs_f64() * 1e3;
                        let a = g.adapter().clone();
                        println!(
                            "gpu: {} ({}, {}), f16 tiles: {}{}",
                            a.name,
                            a.backend,
                            a.driver,
                            a.f16,
                            if a.software { " [software: timings for correctness only]" } else { "" }
                        );
                        cols.push(("gpu", measure(g, inp, runs, opened)?));
                    }
                    Err(e) => println!("gpu: skipped, {e}"),
                }
            }
        }
    }
    println!("{runs} runs; load includes opening the device and compiling kernels");
    print!("{:<44}", "");
    for (name, _) in &cols {
        print!(" {:>11} {:>9}", format!("{name} median"), "p95");
    }
    println!();
    let line = |label: &str, cells: Vec<(f64, Option<f64>)>| {
        print!("{label:<44}");
        for (a, b) in cells {
            print!(" {a:>11.2} {:>9}", b.map(|v| format!("{v:.2}")).unwrap_or_default());
        }
        println!();
    };
    line("load (ms)", cols.iter().map(|(_, f)| (f.load_ms, None)).collect());
    line("first text embed (ms)", cols.iter().map(|(_, f)| (f.first_ms.0, None)).collect());
    line("first image embed (ms)", cols.iter().map(|(_, f)| (f.first_ms.1, None)).collect());
    for (i, name) in ROWS.iter().enumerate() {
        line(&format!("{name} (ms)"), cols.iter().map(|(_, f)| (f.rows[i].0, Some(f.rows[i].1))).collect());
    }
    if let Some(mb) = peak_rss_mb() {
        println!("peak memory (VmHWM, whole process) {mb:.0} MB");
    }
    Ok(())
}
