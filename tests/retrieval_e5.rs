//! Retrieval with the multilingual text encoder (multilingual-e5-small, `language = "multi"`)
//! on the held-out sets of tests/heldout: Chinese questions against the Chinese KB
//! (www/kb-zh) and against the English KB (www/kb), English questions against the Chinese KB,
//! and the English question set against an e5 build of the English KB.
//!
//! Two models: the one the demo ships, models/e5-small-q4-en-zh.gguf (`helplens convert
//! --vocab-langs en,zh`: only the vocabulary English and Chinese need), and the whole
//! models/e5-small-q4.gguf, to report what pruning costs. Every KB text tokenizes to the same
//! pieces under both (checked here), so their KB vectors are the same: the KBs are built once,
//! with the pruned model, and relabelled with the whole model's fingerprint for it. Only the
//! held-out questions, which no pruning input saw, can tokenize differently.
//!
//! The KBs are built here, in-process, with `kb::build` exactly as `helplens build-kb` does
//! (text units only: no image model, which does not change text scores).
//!
//! The targets: top-1 ≥ 0.85 and top-3 ≥ 0.95 in each direction, and the same for the English
//! set; see the tests for which are met.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{read, root};
use helplens::cpu::Cpu;
use helplens::kb::format::Kb;
use helplens::kb::{build, source};
use helplens::models::bert::Bert;
use helplens::weights::ModelFile;
use helplens::Engine;

/// The pruned model the demo ships, and the whole one.
const PRUNED: &str = "models/e5-small-q4-en-zh.gguf";
const WHOLE: &str = "models/e5-small-q4.gguf";
const KB_DIRS: [&str; 2] = ["www/kb", "www/kb-zh"];

struct Models {
    pruned: Vec<u8>,
    whole: Vec<u8>,
    /// KB files (English, Chinese) built with the pruned model.
    en: Vec<u8>,
    zh: Vec<u8>,
}

fn bert(bytes: &[u8]) -> Bert<Cpu> {
    Bert::load(&Cpu, ModelFile::from_bytes(bytes).unwrap()).unwrap()
}

/// The pieces (strings) of a model's vocabulary, by id.
fn vocab(bytes: &[u8]) -> Vec<String> {
    let file = ModelFile::from_bytes(bytes).unwrap();
    let json: serde_json::Value = serde_json::from_str(file.meta("helplens.tokenizer").unwrap()).unwrap();
    json["model"]["vocab"].as_array().unwrap().iter().map(|e| e[0].as_str().unwrap().to_owned()).collect()
}

/// The models and the KB files, built once per test binary.
fn models() -> &'static Models {
    static M: OnceLock<Models> = OnceLock::new();
    M.get_or_init(|| {
        let pruned = read(PRUNED);
        let text = bert(&pruned);
        let build = |dir: &str| {
            let src = source::load(&root().join(dir)).unwrap();
            let t = std::time::Instant::now();
            let kb = build::build(&Cpu, &text, None, &src, &mut |_| {}).unwrap();
            println!("built {dir} with e5 (en,zh vocabulary): {} units in {:.1} s", kb.units.len(), t.elapsed().as_secs_f64());
            kb.to_bytes().unwrap()
        };
        // Both at once: the machine's cores are otherwise idle while the tests wait for this.
        let (en, zh) = std::thread::scope(|s| {
            let zh = s.spawn(|| build(KB_DIRS[1]));
            (build(KB_DIRS[0]), zh.join().unwrap())
        });
        Models { pruned, whole: read(WHOLE), en, zh }
    })
}

/// The same KB, labelled as built with `model` (sound only for a model that tokenizes every KB
/// text to the same pieces: `pruning_keeps_every_kb_text_as_it_was`).
fn relabel(kb: &[u8], model: &[u8]) -> Vec<u8> {
    let mut kb = Kb::from_bytes(kb, 384).unwrap();
    kb.meta.text_model = ModelFile::from_bytes(model).unwrap().fingerprint;
    kb.to_bytes().unwrap()
}

/// (n, top-1 hits, top-3 hits) of a held-out set against a KB built with `model`.
fn evaluate(set: &str, model: &[u8], kb: &[u8]) -> (usize, usize, usize) {
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

/// The set with the shipped (pruned) model, and with the whole model for comparison (printed).
fn evaluate_both(set: &str, kb: &[u8]) -> (usize, usize, usize) {
    let m = models();
    println!("-- {set}, whole vocabulary (250k):");
    let whole = evaluate(set, &m.whole, &relabel(kb, &m.whole));
    println!("-- {set}, en,zh vocabulary (shipped):");
    let pruned = evaluate(set, &m.pruned, kb);
    println!("{set}: pruning changes top-1 {} → {}, top-3 {} → {}", whole.1, pruned.1, whole.2, pruned.2);
    pruned
}

/// `hits / n ≥ target`, exactly (no float rounding at the boundary).
fn at_least(hits: usize, n: usize, target: f64) -> bool {
    hits as f64 >= target * n as f64 - 1e-9
}

#[test]
fn pruning_keeps_every_kb_text_as_it_was() {
    let m = models();
    let (pruned, whole) = (bert(&m.pruned), bert(&m.whole));
    let (vp, vw) = (vocab(&m.pruned), vocab(&m.whole));
    assert!(vp.len() * 5 < vw.len(), "{} of {} pieces kept", vp.len(), vw.len());
    let mut n = 0;
    for dir in KB_DIRS {
        for a in &source::load(&root().join(dir)).unwrap().articles {
            for (t, kind) in build::unit_texts(a) {
                let p: Vec<&str> = pruned.tokenize(&t, kind.is_query()).unwrap().iter().map(|&i| vp[i as usize].as_str()).collect();
                let w: Vec<&str> = whole.tokenize(&t, kind.is_query()).unwrap().iter().map(|&i| vw[i as usize].as_str()).collect();
                assert_eq!(p, w, "{dir}: {t:?}");
                n += 1;
            }
        }
    }
    println!("{n} KB texts tokenize the same with {} and {} pieces", vp.len(), vw.len());
    // Text outside the pruning inputs still tokenizes into real pieces: rarer Chinese words fall
    // back to characters, not to <unk>.
    let ids = pruned.tokenize("我家的咖啡机漏水了，滤网也堵住了", true).unwrap();
    assert!(ids.iter().all(|&i| vp[i as usize] != "<unk>"), "{:?}", ids.iter().map(|&i| &vp[i as usize]).collect::<Vec<_>>());
}

// The target, in each direction: top-1 ≥ 0.85 and top-3 ≥ 0.95 (English set: the same). Every
// bar is the target; one the engine does not reach yet is its own ignored test, and the test
// that runs prints the figure.

#[test]
fn zh_questions_zh_kb() {
    let (n, top1, top3) = evaluate_both("zh-questions-zh-kb.toml", &models().zh);
    assert!(n >= 20);
    // Meets the target: measured 36/36 and 36/36.
    assert!(at_least(top1, n, 0.85) && at_least(top3, n, 0.95), "top-1 {top1}/{n}, top-3 {top3}/{n}");
}

#[test]
fn zh_questions_en_kb() {
    let (n, top1, top3) = evaluate_both("zh-questions-en-kb.toml", &models().en);
    assert_eq!(n, 38);
    assert!(at_least(top1, n, 0.85), "top-1 {top1}/{n}");
    println!("top-3 {top3}/{n}: target 0.95 {}", if at_least(top3, n, 0.95) { "met" } else { "NOT MET (zh_questions_en_kb_top3_meets_the_target)" });
}

#[test]
#[ignore = "not met yet: e5-small does not tie 奈飞 to Netflix or 扫地机 to robot vacuum (top-3 36/38)"]
fn zh_questions_en_kb_top3_meets_the_target() {
    let (n, _, top3) = evaluate_both("zh-questions-en-kb.toml", &models().en);
    assert!(at_least(top3, n, 0.95), "top-3 {top3}/{n}");
}

#[test]
fn en_questions_zh_kb() {
    let (n, top1, top3) = evaluate_both("en-questions-zh-kb.toml", &models().zh);
    assert_eq!(n, 32);
    // Meets the target: measured 30/32 = 0.938 and 32/32.
    assert!(at_least(top1, n, 0.85) && at_least(top3, n, 0.95), "top-1 {top1}/{n}, top-3 {top3}/{n}");
}

#[test]
fn en_questions_en_kb_with_e5() {
    let (n, top1, top3) = evaluate_both("questions.toml", &models().en);
    assert_eq!(n, 74);
    // Meets the target: measured 67/74 = 0.905 and 74/74, 66/74 and 74/74 with section units
    // (MiniLM: 69/74 and 73/74, 73/74 and 73/74 with section units: tests/retrieval.rs).
    assert!(at_least(top1, n, 0.85) && at_least(top3, n, 0.95), "top-1 {top1}/{n}, top-3 {top3}/{n}");
}

#[test]
fn development_set_prefers_the_evidence_with_e5() {
    // How the ranking was chosen (src/kb/search.rs, text_evidence); e5 puts questions closer to
    // questions than to passages, so it gains most. Measured with section units: 105 → 179 of
    // 216 (English KB) and 65 → 67 of 76 (Chinese KB, where the sections alone lifted the best
    // cosine from 62). The evidence must win on each KB and by a twentieth over both.
    let (mut gain, mut total) = (0, 0);
    for (dir, kb) in KB_DIRS.iter().zip([&models().en, &models().zh]) {
        let (by_max, by_evidence, n) = common::leave_one_out(&Kb::from_bytes(kb, 384).unwrap());
        println!("development set (e5, {dir}): top-1 {by_max}/{n} by best cosine, {by_evidence}/{n} by evidence");
        assert!(n >= 70 && by_evidence > by_max, "{dir}: {by_max} → {by_evidence} of {n}");
        gain += by_evidence - by_max;
        total += n;
    }
    assert!(gain > total / 20, "the evidence wins {gain} of {total}");
}

#[test]
fn off_topic_questions_are_not_confident_with_e5() {
    // The Chinese KB is `language = "multi"`: e5's thresholds (kb::source::Language). The same
    // questions as tests/retrieval.rs, and their Chinese counterparts.
    let m = models();
    let e = Engine::new(Cpu, &m.pruned, &m.zh).unwrap();
    assert_eq!(e.kb().meta.thresholds, source::Language::Multi.default_thresholds());
    let off_topic = [
        "What is the capital of Australia?",
        "Write me a poem about the sea",
        "Who won the football match yesterday?",
        "best pizza recipe with pineapple",
        "澳大利亚的首都是哪里？",
        "给我写一首关于大海的诗",
        "昨天的足球比赛谁赢了？",
        "菠萝披萨怎么做？",
        "明天北京会下雨吗？",
        "我的猫不吃饭怎么办",
    ];
    for q in off_topic {
        let a = e.ask(q, None).unwrap();
        assert!(!a.confident, "{q:?} was answered confidently with {:?}", a.answers.first());
    }
    // And the right answers to Chinese questions are confident (the threshold was chosen on
    // development data: tests/thresholds.rs; these held-out questions measure it).
    let qs = common::questions("zh-questions-zh-kb.toml");
    let sure = qs.iter().filter(|q| e.ask(&q.text, None).unwrap().confident).count();
    assert!(at_least(sure, qs.len(), 0.9), "{sure} of {} held-out Chinese questions answered confidently", qs.len());
}

#[test]
fn language_multi_picks_e5() {
    assert_eq!(source::load(Path::new(&root().join("www/kb-zh"))).unwrap().config.language, source::Language::Multi);
    assert_eq!(source::load(Path::new(&root().join("www/kb"))).unwrap().config.language, source::Language::En);
}
