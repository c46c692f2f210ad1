//! Golden tests: both encoders against established reference implementations, on fixtures
//! produced once by `tests/golden/generate.py` (sentence-transformers for MiniLM, PyTorch on
//! the same legacy .pth for EfficientNet-Lite0). Tolerances per precision, from the issue.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{bert, cosine, efficientnet, read, root};
use helplens::cpu::Cpu;
use helplens::input::image::{decode, preprocess};
use helplens::tensor::{softmax, top_k};
use serde::Deserialize;

/// Minimum cosine to the reference, per precision.
const F32_COSINE: f32 = 0.9999;
const INT8_COSINE: f32 = 0.99;

#[derive(Deserialize)]
struct MiniLm {
    sentences: Vec<Sentence>,
}
#[derive(Deserialize)]
struct Sentence {
    text: String,
    input_ids: Vec<u32>,
    embedding: Vec<f32>,
}
#[derive(Deserialize)]
struct Effnet {
    images: Vec<ImageCase>,
}
#[derive(Deserialize)]
struct ImageCase {
    file: String,
    top5: Vec<Top>,
    feature: Vec<f32>,
    logits: Vec<f32>,
}
#[derive(Deserialize)]
struct Top {
    index: usize,
}

fn floor(precision: &str) -> f32 {
    if precision == "f32" {
        F32_COSINE
    } else {
        INT8_COSINE
    }
}

#[test]
fn minilm_matches_sentence_transformers() {
    let golden: MiniLm = serde_json::from_slice(&read("tests/golden/minilm.json")).unwrap();
    assert!(golden.sentences.len() >= 8);
    for precision in ["f32", "int8"] {
        let model = bert(precision);
        let mut worst = 1f32;
        for s in &golden.sentences {
            let ids = model.tokenize(&s.text, true).unwrap();
            assert_eq!(ids, s.input_ids, "token ids differ for {:?}", s.text);
            let v = model.embed_ids(&Cpu, &ids).unwrap();
            let c = cosine(&v, &s.embedding);
            worst = worst.min(c);
            assert!(c >= floor(precision), "{precision}: cosine {c} < {} for {:?}", floor(precision), s.text);
        }
        println!("MiniLM {precision}: worst cosine to sentence-transformers {worst:.6}");
    }
}

#[test]
fn efficientnet_matches_pytorch() {
    let golden: Effnet = serde_json::from_slice(&read("tests/golden/efficientnet.json")).unwrap();
    assert!(!golden.images.is_empty());
    for precision in ["f32", "int8"] {
        let model = efficientnet(precision);
        for case in &golden.images {
            let img = decode(&std::fs::read(root().join("tests/golden").join(&case.file)).unwrap()).unwrap();
            let out = model.forward(&Cpu, &preprocess(&img, &model.config.preprocess).unwrap()).unwrap();
            let (cf, cl) = (cosine(&out.feature, &case.feature), cosine(&out.logits, &case.logits));
            println!("EfficientNet {precision} {}: feature cosine {cf:.6}, logits cosine {cl:.6}", case.file);
            assert!(cf >= floor(precision), "{precision} {}: feature cosine {cf}", case.file);
            assert!(cl >= floor(precision), "{precision} {}: logits cosine {cl}", case.file);
            let top = top_k(&softmax(&out.logits), 1)[0];
            assert_eq!(top, case.top5[0].index, "{precision} {}: top-1 class {} ({}), reference {}", case.file, top, model.labels[top], case.top5[0].index);
        }
        // The same pictures in one batch (as build-kb embeds them) match the reference too.
        let pixels: Vec<Vec<f32>> = golden
            .images
            .iter()
            .map(|c| preprocess(&decode(&std::fs::read(root().join("tests/golden").join(&c.file)).unwrap()).unwrap(), &model.config.preprocess).unwrap())
            .collect();
        let batch = model.forward_batch(&Cpu, &pixels.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
        assert_eq!(batch.len(), golden.images.len());
        for (case, out) in golden.images.iter().zip(&batch) {
            let cf = cosine(&out.feature, &case.feature);
            assert!(cf >= floor(precision), "{precision} {} in a batch of {}: feature cosine {cf}", case.file, batch.len());
        }
    }
}
