//! The GPU backend against its oracle, the CPU backend: every op on seeded inputs, both whole
//! encoders on the golden fixtures, and the held-out retrieval set. Natively these run on
//! whatever adapter wgpu finds (lavapipe from `mesa-vulkan-drivers` on a machine without a GPU).
//! With no adapter at all they print why and skip, unless `HELPLENS_REQUIRE_GPU=1` (set by
//! `./build.sh test`, which installs lavapipe) says there must be one. Where an adapter exists
//! but the backend fails to open on it (no device, a kernel that does not compile, a failed
//! self-test), they fail.

#![cfg(not(target_arch = "wasm32"))]

mod common;
mod parity;

use common::{read, root};
use helplens::cpu::Cpu;
use helplens::gpu::Gpu;
use helplens::models::bert::Bert;
use helplens::tensor::Backend;
use helplens::weights::ModelFile;
use helplens::{Engine, Photo};

fn gpu() -> Option<Gpu> {
    open(true)
}

/// Whether this run must have a GPU adapter (`HELPLENS_REQUIRE_GPU=1`).
fn gpu_required() -> bool {
    std::env::var("HELPLENS_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// The GPU with f16 matmul tiles where the device has shader-f16 (`f16`), or all f32; None
/// (the test skips) only where there is no adapter at all and none is required. An adapter on
/// which the backend does not open fails the test.
fn open(f16: bool) -> Option<Gpu> {
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

#[test]
fn every_op_matches_the_cpu() {
    let Some(g) = gpu() else { return };
    pollster::block_on(parity::every_op_matches_the_cpu(&g));
}

#[test]
fn every_op_matches_the_cpu_without_f16() {
    let Some(g) = open(false) else { return };
    assert!(!g.adapter().f16);
    pollster::block_on(parity::every_op_matches_the_cpu(&g));
}

#[test]
fn shapes_are_checked_before_dispatch() {
    let Some(g) = gpu() else { return };
    parity::shapes_are_checked_before_dispatch(&g);
}

fn bert<B: Backend>(b: &B, precision: &str) -> Bert<B> {
    Bert::load(b, ModelFile::from_bytes(&read(&format!("models/minilm-{precision}.gguf"))).unwrap()).unwrap()
}

#[test]
fn both_encoders_match_the_cpu_on_the_golden_fixtures() {
    let Some(g) = gpu() else { return };
    let golden = String::from_utf8(read("tests/golden/minilm.json")).unwrap();
    let pictures: Vec<(&str, Vec<u8>)> = ["coffee", "chelsea", "rocket"].iter().map(|n| (*n, read(&format!("tests/golden/images/{n}.png")))).collect();
    let pictures: Vec<(&str, &[u8])> = pictures.iter().map(|(n, b)| (*n, &b[..])).collect();
    for precision in ["f32", "int8"] {
        let worst = pollster::block_on(parity::minilm_matches(&g, &read(&format!("models/minilm-{precision}.gguf")), &golden, precision));
        println!("MiniLM {precision}: worst GPU/CPU cosine {worst:.6}");
        let model = read(&format!("models/efficientnet-lite0-{precision}.gguf"));
        for (name, cf, cl) in pollster::block_on(parity::efficientnet_matches(&g, &model, &pictures, precision)) {
            println!("EfficientNet {precision} {name}: feature cosine {cf:.6}, logits cosine {cl:.6}");
        }
    }
}

#[test]
fn a_second_forward_pass_allocates_no_buffers() {
    let Some(g) = gpu() else { return };
    let m = bert(&g, "int8");
    let first = m.embed(&g, "the kettle switches itself off", false).unwrap();
    let created = g.buffers_created();
    let second = m.embed(&g, "the kettle switches itself off", false).unwrap();
    assert_eq!(g.buffers_created(), created, "the second pass created buffers");
    assert_eq!(first, second, "the same question gives the same vector");
}

#[test]
fn held_out_answers_are_the_same_on_gpu_and_cpu() {
    let Some(g) = gpu() else { return };
    let (text, kb, image) = (read("models/minilm-int8.gguf"), read("www/models/demo-kb.safetensors"), read("models/efficientnet-lite0-int8.gguf"));
    let mut ec = Engine::new(Cpu, &text, &kb).unwrap();
    ec.add_image_model(&image).unwrap();
    let mut eg = Engine::new(g, &text, &kb).unwrap();
    eg.add_image_model(&image).unwrap();
    let qs: toml::Value = toml::from_str(&String::from_utf8(read("tests/heldout/questions.toml")).unwrap()).unwrap();
    let mut n = 0;
    for q in qs["question"].as_array().unwrap() {
        let text = q["text"].as_str().unwrap();
        let (a, b) = (ec.ask(text, None).unwrap(), eg.ask(text, None).unwrap());
        assert_eq!(a.answers[0].id, b.answers[0].id, "{text:?}: CPU {} vs GPU {}", a.answers[0].id, b.answers[0].id);
        n += 1;
    }
    let ps: toml::Value = toml::from_str(&String::from_utf8(read("tests/heldout/photos.toml")).unwrap()).unwrap();
    for p in ps["photo"].as_array().unwrap() {
        let bytes = std::fs::read(root().join("tests/heldout").join(p["file"].as_str().unwrap())).unwrap();
        let (a, b) = (ec.ask("", Some(Photo::Encoded(&bytes))).unwrap(), eg.ask("", Some(Photo::Encoded(&bytes))).unwrap());
        assert_eq!(a.answers[0].id, b.answers[0].id, "{}: CPU {} vs GPU {}", p["file"], a.answers[0].id, b.answers[0].id);
        n += 1;
    }
    println!("{n} held-out questions and photos: same top answer on GPU and CPU");
}

#[test]
fn a_lost_device_mid_session_still_gets_the_answer_from_the_cpu() {
    use helplens::session::{Choice, Session};
    if gpu().is_none() {
        return;
    }
    let (text, kb, image) = (read("models/minilm-int8.gguf"), read("www/models/demo-kb.safetensors"), read("models/efficientnet-lite0-int8.gguf"));
    let mut s = Session::new(Choice::Gpu, &text, &kb, Some(&image)).unwrap();
    assert_eq!(s.backend_name(), "gpu");
    let q = "my printer keeps jamming";
    let before = s.ask(q, None).unwrap();
    s.gpu().unwrap().backend().simulate_device_loss();
    let after = s.ask(q, None).unwrap();
    assert_eq!(s.backend_name(), "cpu", "the session moved to the CPU");
    println!("after the loss: {:?}", s.fallback_reason);
    assert!(s.fallback_reason.as_deref().is_some_and(|r| r.contains("lost") || r.contains("GPU")), "{:?}", s.fallback_reason);
    assert_eq!(after.answers[0].id, before.answers[0].id);
    let cpu = Engine::new(Cpu, &text, &kb).unwrap().ask(q, None).unwrap();
    assert_eq!(after, cpu, "the answer after the loss is the CPU's");
    // Photos too, on the CPU now.
    assert!(s.ask("", Some(Photo::Encoded(&read("tests/heldout/photos/camera-1.jpg")))).is_ok());
}
