//! The text confidence thresholds (`kb::source::Language::default_thresholds`) are chosen on
//! development data only, by one rule, and this test recomputes them: the smallest multiple of
//! 0.01 above every development off-topic question's best cosine (tests/dev/off-topic.toml), so
//! that no off-topic question is answered confidently; printed with how many of the KB's own
//! example questions (asked leave-one-out: their own vector removed from the KB) would then be
//! answered right and confidently. The held-out questions measure the result elsewhere.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::read;
use helplens::cpu::Cpu;
use helplens::kb::format::Kb;
use helplens::kb::search;
use helplens::kb::source::Language;
use helplens::Engine;
use serde::Deserialize;

#[derive(Deserialize)]
struct OffTopic {
    en: Vec<String>,
    zh: Vec<String>,
}

/// Best cosines of the KB's example questions' right articles, where the text evidence puts
/// them first (leave-one-out), and how many questions there are.
fn example_questions(kb: &Kb) -> (Vec<f32>, usize) {
    let n = kb.meta.articles.len();
    let (mut right, mut total) = (Vec::new(), 0);
    for q in common::left_out_questions(kb) {
        let top = common::argmax(&search::text_evidence(&q.scores, &q.article, &q.kind, n));
        if top as u32 == q.expect {
            right.push(search::max_per_article(&q.scores, &q.article, n)[top]);
        }
        total += 1;
    }
    (right, total)
}

/// The threshold the rule gives for a KB and its text model, printed with what it means.
fn chosen(label: &str, text_model: &str, kb_file: &str, off_topic: &[String]) -> f32 {
    let e = Engine::new(Cpu, &read(text_model), &read(kb_file)).unwrap();
    let worst = off_topic.iter().map(|q| e.ask(q, None).unwrap().answers[0].score).fold(f32::MIN, f32::max);
    let t = (worst * 100.0).floor() / 100.0 + 0.01;
    let (right, n) = example_questions(e.kb());
    let sure = right.iter().filter(|&&s| s >= t).count();
    println!("{label}: highest off-topic best cosine {worst:.3} → threshold {t:.2}; example questions right {} of {n}, right and confident {sure}", right.len());
    t
}

#[test]
fn text_thresholds_are_the_development_rule() {
    let off: OffTopic = toml::from_str(&String::from_utf8(read("tests/dev/off-topic.toml")).unwrap()).unwrap();
    let en = chosen("all-MiniLM-L6-v2, English demo KB", "models/minilm-int8.gguf", "www/models/demo-kb.safetensors", &off.en);
    let both: Vec<String> = off.en.iter().chain(&off.zh).cloned().collect();
    let multi = chosen("multilingual-e5-small, Chinese demo KB", "models/e5-small-q4-en-zh.gguf", "www/models/demo-kb-zh.safetensors", &both);
    assert!((Language::En.default_thresholds().text - en).abs() < 1e-4, "English text threshold {} is not the rule's {en}", Language::En.default_thresholds().text);
    assert!(
        (Language::Multi.default_thresholds().text - multi).abs() < 1e-4,
        "multilingual text threshold {} is not the rule's {multi}",
        Language::Multi.default_thresholds().text
    );
}
