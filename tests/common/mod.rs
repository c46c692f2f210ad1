//! Shared helpers of the native integration tests: paths of the converted models (built by
//! `./build.sh`, never committed) and of the committed fixtures.

#![cfg(not(target_arch = "wasm32"))]

#![allow(dead_code)]

use std::path::PathBuf;

use helplens::cpu::Cpu;
use helplens::models::bert::Bert;
use helplens::models::efficientnet::EfficientNet;
use helplens::weights::ModelFile;
use serde::Deserialize;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = root().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run ./build.sh to convert the models and build the demo KB)", p.display()))
}

pub fn bert(precision: &str) -> Bert<Cpu> {
    Bert::load(&Cpu, ModelFile::from_bytes(&read(&format!("models/minilm-{precision}.gguf"))).unwrap()).unwrap()
}

pub fn efficientnet(precision: &str) -> EfficientNet<Cpu> {
    EfficientNet::load(&Cpu, ModelFile::from_bytes(&read(&format!("models/efficientnet-lite0-{precision}.gguf"))).unwrap()).unwrap()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// One held-out question (tests/heldout/*.toml) and the slug of its one right article.
#[derive(Deserialize)]
pub struct Question {
    pub text: String,
    pub expect: String,
}

/// A held-out question set, `tests/heldout/<file>`.
pub fn questions(file: &str) -> Vec<Question> {
    #[derive(Deserialize)]
    struct Set {
        question: Vec<Question>,
    }
    let set: Set = toml::from_str(&String::from_utf8(read(&format!("tests/heldout/{file}"))).unwrap()).unwrap();
    set.question
}
