//! Retrieval quality on the held-out set (tests/heldout: paraphrased questions and photos that
//! are not the KB's own) against the demo KB built by `./build.sh` with the int8 models.
//! Thresholds from the issue: questions top-1 ≥ 0.85 and top-3 ≥ 0.95; photos put the
//! expected article first for ≥ 8 of 10. Also: off-topic questions and photos are not confident.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{read, root};
use helplens::cpu::Cpu;
use helplens::kb::Kb;
use helplens::{Engine, Photo};
use serde::Deserialize;

#[derive(Deserialize)]
struct Photos {
    photo: Vec<P>,
}
#[derive(Deserialize)]
struct P {
    file: String,
    expect: String,
}

fn engine() -> Engine<Cpu> {
    let mut e = Engine::new(Cpu, &read("models/minilm-int8.gguf"), &read("www/models/demo-kb.safetensors")).unwrap();
    e.add_image_model(&read("models/efficientnet-lite0-int8.gguf")).unwrap();
    // As the widget ships: photos are read too (product photos must not lose by it).
    e.add_ocr_model(&read("models/ppocrv5-int8.gguf")).unwrap();
    e
}

#[test]
fn held_out_questions() {
    let e = engine();
    let qs = common::questions("questions.toml");
    assert!(qs.len() >= 40, "the held-out set needs at least 40 questions");
    let ids: Vec<&str> = e.kb().meta.articles.iter().map(|a| a.id.as_str()).collect();
    let (mut top1, mut top3, mut confident) = (0, 0, 0);
    for q in &qs {
        assert!(ids.contains(&q.expect.as_str()), "held-out question expects unknown article {}", q.expect);
        let a = e.ask(&q.text, None).unwrap();
        let rank = a.answers.iter().position(|x| x.id == q.expect);
        top1 += (rank == Some(0)) as usize;
        top3 += rank.is_some_and(|r| r < 3) as usize;
        confident += (a.confident && rank == Some(0)) as usize;
        if rank != Some(0) {
            println!("miss: {:?} → {:?} (expected {} at {:?})", q.text, a.answers.iter().map(|x| (&x.id, x.score)).take(3).collect::<Vec<_>>(), q.expect, rank);
        }
    }
    let n = qs.len() as f32;
    println!("questions: top-1 {:.3}, top-3 {:.3}, confident and right {:.3} (n = {})", top1 as f32 / n, top3 as f32 / n, confident as f32 / n, n);
    assert!(top1 as f32 / n >= 0.85, "top-1 {} / {n}", top1);
    assert!(top3 as f32 / n >= 0.95, "top-3 {} / {n}", top3);
}

#[test]
fn development_set_prefers_the_evidence_to_the_best_cosine() {
    // How the ranking was chosen (src/kb/search.rs, text_evidence); measured 135 → 167 of 216, and 147 → 174 with section units.
    let kb = Kb::from_bytes(&read("www/models/demo-kb.safetensors"), 384).unwrap();
    let (by_max, by_evidence, n) = common::leave_one_out(&kb);
    println!("development set (MiniLM, English KB): top-1 {by_max}/{n} by best cosine, {by_evidence}/{n} by evidence");
    assert!(n >= 200 && by_evidence > by_max + n / 20, "{by_max} → {by_evidence} of {n}");
}

#[test]
fn held_out_photos() {
    let e = engine();
    let ps: Photos = toml::from_str(&String::from_utf8(read("tests/heldout/photos.toml")).unwrap()).unwrap();
    assert!(ps.photo.len() >= 10, "the held-out set needs at least 10 photos");
    let (mut right, mut confident) = (0, 0);
    for p in &ps.photo {
        let bytes = std::fs::read(root().join("tests/heldout").join(&p.file)).unwrap();
        let a = e.ask("", Some(Photo::Encoded(&bytes))).unwrap();
        let ok = a.answers.first().is_some_and(|x| x.id == p.expect);
        right += ok as usize;
        confident += (ok && a.confident) as usize;
        println!(
            "{} {}: looks like {:?} → {:?} (expected {})",
            if ok { "hit " } else { "MISS" },
            p.file,
            a.labels.iter().map(|l| format!("{} {:.2}", l.name, l.p)).collect::<Vec<_>>(),
            a.answers.iter().map(|x| (&x.id, x.score)).take(3).collect::<Vec<_>>(),
            p.expect
        );
    }
    println!("photos: {right} of {} first, {confident} of them confident", ps.photo.len());
    assert!(right * 10 >= ps.photo.len() * 8, "{right} of {} photos put the expected article first", ps.photo.len());
}

#[test]
fn a_photo_tells_which_product_a_question_is_about() {
    // Questions that fit several products, each sent with held-out photos of two of them: the
    // text finds the kind of article, the photo should find the product. The photo only adds
    // PHOTO_WEIGHT of its score, so a strong text match can still win: at least 4 of the 6.
    let e = engine();
    let cases = [
        ("how do i descale it?", [("espresso-1.jpg", "espresso-descaling"), ("kettle-1.png", "kettle-descaling")]),
        ("there is an error code on the display", [("e-moped-1.jpg", "e-moped-error-codes"), ("espresso-2.jpg", "espresso-error-codes")]),
        ("how do i set it up?", [("laptop-1.jpg", "laptop-setup"), ("camera-1.jpg", "camera-setup")]),
    ];
    let mut right = 0;
    for (q, photos) in cases {
        for (file, expect) in photos {
            let a = e.ask(q, Some(Photo::Encoded(&read(&format!("tests/heldout/photos/{file}"))))).unwrap();
            let ok = a.answers[0].id == expect;
            right += ok as usize;
            println!("{} {q:?} with {file}: {:?} (expected {expect})", if ok { "hit " } else { "MISS" }, a.answers.iter().map(|x| (&x.id, x.score)).take(3).collect::<Vec<_>>());
        }
    }
    assert!(right >= 4, "{right} of 6 questions with photos answered for the pictured product");
}

#[test]
fn off_topic_questions_are_not_confident() {
    let e = engine();
    for q in ["What is the capital of Australia?", "Write me a poem about the sea", "Who won the football match yesterday?", "best pizza recipe with pineapple"] {
        let a = e.ask(q, None).unwrap();
        assert!(!a.confident, "{q:?} was answered confidently with {:?}", a.answers.first());
    }
}

#[test]
fn off_topic_photos_are_not_confident() {
    // A cat and a rocket launch (the golden fixtures): nothing the brand sells.
    let e = engine();
    for f in ["tests/golden/images/chelsea.png", "tests/golden/images/rocket.png"] {
        let a = e.ask("", Some(Photo::Encoded(&read(f)))).unwrap();
        assert!(!a.confident, "{f} was answered confidently with {:?}", a.answers.first());
    }
}
