//! Shared helpers of the native integration tests: paths of the converted models (built by
//! `./build.sh`, never committed) and of the committed fixtures.

#![cfg(not(target_arch = "wasm32"))]
#![allow(dead_code)]

use std::path::PathBuf;

use helplens::cpu::Cpu;
use helplens::kb::{search, Kb, UnitKind};
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

/// Whether this run must have a GPU adapter (`HELPLENS_REQUIRE_GPU=1`, as `./build.sh test`
/// sets it).
pub fn gpu_required() -> bool {
    std::env::var("HELPLENS_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// The GPU backend (f16 matmul tiles where the device has shader-f16 and `f16`); None (the
/// test skips, saying why) only where there is no adapter at all and none is required. An
/// adapter on which the backend does not open fails the test.
pub fn open_gpu(f16: bool) -> Option<helplens::gpu::Gpu> {
    use helplens::gpu::Gpu;
    match Gpu::new_with(f16) {
        Ok(g) => {
            let a = g.adapter();
            println!("GPU backend on {} ({}, {}), f16 tiles: {}", a.name, a.backend, a.driver, a.f16);
            Some(g)
        }
        Err(e) if pollster::block_on(Gpu::adapter_exists()) => panic!("the GPU backend failed on an adapter that exists: {e}"),
        Err(e) if gpu_required() => panic!("no GPU adapter, and HELPLENS_REQUIRE_GPU=1 requires one: {e}"),
        Err(e) => {
            println!("SKIPPED: no GPU adapter here: {e}");
            eprintln!("SKIPPED: no GPU adapter here: {e}");
            None
        }
    }
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

/// One of the KB's example questions asked against the KB without its own unit: the scores of
/// every other unit, their articles and kinds, and the question's article.
pub struct LeftOut {
    pub scores: Vec<f32>,
    pub article: Vec<u32>,
    pub kind: Vec<UnitKind>,
    pub expect: u32,
}

/// The development set the ranking and thresholds were chosen on (not the held-out sets): each
/// of the KB's own example questions, its stored vector asked against the KB without it.
pub fn left_out_questions(kb: &Kb) -> impl Iterator<Item = LeftOut> + '_ {
    (0..kb.units.len()).filter(|&i| kb.unit_kind[i] == UnitKind::Question).map(|i| {
        let all = search::scores(&kb.units, &kb.units.row(i));
        let keep: Vec<usize> = (0..all.len()).filter(|&j| j != i).collect();
        LeftOut {
            scores: keep.iter().map(|&j| all[j]).collect(),
            article: keep.iter().map(|&j| kb.unit_article[j]).collect(),
            kind: keep.iter().map(|&j| kb.unit_kind[j]).collect(),
            expect: kb.unit_article[i],
        }
    })
}

/// The index of the largest value.
pub fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

/// [`left_out_questions`]: top-1 hits ranking by the best cosine per article, by the text
/// evidence, and the number of questions.
pub fn leave_one_out(kb: &Kb) -> (usize, usize, usize) {
    let n = kb.meta.articles.len();
    let (mut by_max, mut by_evidence, mut total) = (0, 0, 0);
    for q in left_out_questions(kb) {
        by_max += (argmax(&search::max_per_article(&q.scores, &q.article, n)) as u32 == q.expect) as usize;
        by_evidence += (argmax(&search::text_evidence(&q.scores, &q.article, &q.kind, n)) as u32 == q.expect) as usize;
        total += 1;
    }
    (by_max, by_evidence, total)
}

/// A wheel that `./build.sh` downloaded (models/manifest.toml), by the start of its file name. A missing wheel fails the test: build.sh always fetches them.
pub fn wheel(prefix: &str) -> std::path::PathBuf {
    let dir = root().join(".cache/wheels");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run ./build.sh first)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no {prefix}*.whl in {} (run ./build.sh first)", dir.display()))
}
