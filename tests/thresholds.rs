//! The text confidence thresholds (`kb::source::Language::default_thresholds`) are chosen on
//! development data only, by one rule, and this test recomputes them: the smallest multiple of
//! 0.01 above every development off-topic question's best cosine (tests/dev/off-topic.toml), so
//! that no off-topic question is answered confidently; printed with how many of the KB's own
//! example questions (asked leave-one-out: their own vector removed from the KB) would then be
//! answered right and confidently. The held-out questions measure the result elsewhere.
//!
//! The photo threshold of the English text model, by the same rule: the smallest multiple of
//! 0.01 above every development off-topic photo's score (scikit-image's sample photos, read
//! from its wheel: an astronaut, a retina, grass, a horse, gravel, tissue, coins, deep space,
//! bricks, a clock, the moon; the cat and the rocket of tests/retrieval.rs are held out from
//! this), printed with how many of the KB's own pictures, asked as photos, it leaves confident.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::read;
use helplens::cpu::Cpu;
use helplens::kb::format::Kb;
use helplens::kb::search;
use helplens::kb::source::Language;
use helplens::weights::convert::read_zip_member;
use helplens::{Engine, Photo};
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

/// scikit-image's sample photos that show nothing the demo brand sells (its cat, rocket, coffee
/// cup, cameraman and motorcycles are left out: held out, or near a product).
const OFF_TOPIC_PHOTOS: [&str; 11] =
    ["astronaut.png", "retina.jpg", "grass.png", "horse.png", "gravel.png", "ihc.png", "coins.png", "hubble_deep_field.jpg", "brick.png", "clock_motion.png", "moon.png"];

#[test]
fn photo_threshold_is_the_development_rule() {
    // As the widget ships: photos are read too, and one that says something is answered by its
    // text (and the text threshold); the rule is over the photos the picture answers.
    let mut e = Engine::new(Cpu, &read("models/minilm-int8.gguf"), &read("www/models/demo-kb.safetensors")).unwrap();
    e.add_image_model(&read("models/efficientnet-lite0-int8.gguf")).unwrap();
    e.add_ocr_model(&read("models/ppocrv5-int8.gguf")).unwrap();
    let wheel = common::wheel("scikit_image-");
    let mut worst = f32::MIN;
    for f in OFF_TOPIC_PHOTOS {
        let a = e.ask("", Some(Photo::Encoded(&read_zip_member(&wheel, &format!("skimage/data/{f}")).unwrap()))).unwrap();
        let read = a.read.as_ref().map(|r| r.text()).unwrap_or_default();
        let by_picture = !a.labels.is_empty();
        println!("  {f}: {:?} {:.3}{}", a.answers[0].id, a.answers[0].score, if by_picture { String::new() } else { format!(" (answered by the text read: {read:?})") });
        if by_picture {
            worst = worst.max(a.answers[0].score);
        }
    }
    assert!(worst > f32::MIN, "no development photo was answered by its picture");
    let t = (worst * 100.0).floor() / 100.0 + 0.01;
    let kb_dir = common::root().join("www/kb/images");
    let mut pictures: Vec<_> =
        std::fs::read_dir(&kb_dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "png" || x == "jpg")).collect();
    pictures.sort();
    let sure = pictures.iter().filter(|p| e.ask("", Some(Photo::Encoded(&std::fs::read(p).unwrap()))).unwrap().answers[0].score >= t).count();
    println!("all-MiniLM-L6-v2, English demo KB: highest off-topic photo score {worst:.3} → threshold {t:.2}; {sure} of the KB's {} pictures confident", pictures.len());
    let shipped = Language::En.default_thresholds().photo;
    assert!((shipped - t).abs() < 1e-4, "English photo threshold {shipped} is not the rule's {t}");
}
