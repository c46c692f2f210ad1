//! The GPU backend against its oracle, the CPU backend: every op on seeded inputs, both whole
//! encoders on the golden fixtures, and the held-out retrieval set. Natively these run on
//! whatever adapter wgpu finds (lavapipe from `mesa-vulkan-drivers` on a machine without a GPU);
//! with no adapter at all they print why and skip.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{cosine, read, root};
use helplens::cpu::Cpu;
use helplens::gpu::Gpu;
use helplens::input::image::{decode, preprocess};
use helplens::models::bert::Bert;
use helplens::models::efficientnet::EfficientNet;
use helplens::tensor::{Activation, Backend};
use helplens::weights::quant::{quantize_matrix, Precision};
use helplens::weights::ModelFile;
use helplens::{Engine, Photo};

fn gpu() -> Option<Gpu> {
    match Gpu::new() {
        Ok(g) => {
            let a = g.adapter();
            println!("GPU backend on {} ({}, {})", a.name, a.backend, a.driver);
            Some(g)
        }
        Err(e) => {
            println!("SKIPPED: no GPU backend here: {e}");
            eprintln!("SKIPPED: no GPU backend here: {e}");
            None
        }
    }
}

/// Deterministic values in [-1, 1).
fn seeded(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Fails naming the first index where |got − want| > atol + rtol·|want|.
fn assert_close(op: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{op}: {} values, expected {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{op}: index {i}: computed {g}, expected {w} (atol {atol}, rtol {rtol})");
    }
}

#[test]
fn every_op_matches_the_cpu() {
    let Some(g) = gpu() else { return };
    let c = Cpu;

    // linear, int8 weights (k not a multiple of 32: padded rows), with each activation; the CPU
    // oracle multiplies the same dequantized weights in f32.
    for (m, k, n, act, seed) in [(5, 100, 70, Activation::Gelu, 1), (130, 64, 48, Activation::Relu6, 2), (1, 384, 384, Activation::None, 3), (70, 27, 32, Activation::Relu6, 4), (7, 27, 40, Activation::Relu6, 5), (32, 384, 96, Activation::Gelu, 6), (33, 96, 64, Activation::None, 7)] {
        let x = seeded(m * k, seed);
        let w = seeded(n * k, seed + 100);
        let b = seeded(n, seed + 200);
        for precision in [Precision::Int8, Precision::F32] {
            let q = || quantize_matrix(&w, n, k, precision).unwrap();
            let want = c.read(&c.linear(&c.tensor(&x, &[m, k]).unwrap(), &c.matrix(q(), &b, n, k, true).unwrap(), act).unwrap()).unwrap();
            let got = g.read(&g.linear(&g.tensor(&x, &[m, k]).unwrap(), &g.matrix(q(), &b, n, k, false).unwrap(), act).unwrap()).unwrap();
            assert_close(&format!("linear {precision:?} [{m},{k}]x[{n},{k}] {act:?}"), &got, &want, 1e-4, 1e-4);
        }
    }

    let x = seeded(6 * 50, 7);
    let y = seeded(6 * 50, 8);
    let want = c.read(&c.add(&c.tensor(&x, &[6, 50]).unwrap(), &c.tensor(&y, &[6, 50]).unwrap()).unwrap()).unwrap();
    let got = g.read(&g.add(&g.tensor(&x, &[6, 50]).unwrap(), &g.tensor(&y, &[6, 50]).unwrap()).unwrap()).unwrap();
    assert_close("add", &got, &want, 0.0, 0.0);

    for (rows, ch) in [(9, 384), (3, 1000)] {
        let x: Vec<f32> = seeded(rows * ch, 9).iter().map(|v| v * 3.0 + 0.5).collect();
        let gamma = seeded(ch, 10);
        let beta = seeded(ch, 11);
        let want = c.read(&c.layer_norm(&c.tensor(&x, &[rows, ch]).unwrap(), &c.vector(&gamma).unwrap(), &c.vector(&beta).unwrap(), 1e-12).unwrap()).unwrap();
        let got = g.read(&g.layer_norm(&g.tensor(&x, &[rows, ch]).unwrap(), &g.vector(&gamma).unwrap(), &g.vector(&beta).unwrap(), 1e-12).unwrap()).unwrap();
        assert_close(&format!("layer_norm [{rows},{ch}]"), &got, &want, 1e-5, 1e-4);
    }

    for (t, heads, d) in [(7, 12, 32), (130, 4, 16), (1, 2, 8)] {
        let qkv: Vec<f32> = seeded(t * 3 * heads * d, 12).iter().map(|v| v * 2.0).collect();
        let want = c.read(&c.attention(&c.tensor(&qkv, &[t, 3 * heads * d]).unwrap(), heads).unwrap()).unwrap();
        let got = g.read(&g.attention(&g.tensor(&qkv, &[t, 3 * heads * d]).unwrap(), heads).unwrap()).unwrap();
        assert_close(&format!("attention t={t} heads={heads} d={d}"), &got, &want, 1e-5, 1e-4);
    }

    for (h, w, ch, k, stride, act) in [(9, 7, 5, 3, 1, Activation::Relu6), (16, 15, 24, 5, 2, Activation::None), (8, 8, 16, 3, 2, Activation::Relu6), (7, 7, 3, 5, 1, Activation::Gelu)] {
        let x = seeded(h * w * ch, 13);
        let wk = seeded(k * k * ch, 14);
        let b = seeded(ch, 15);
        let want = c.read(&c.depthwise_conv(&c.tensor(&x, &[h, w, ch]).unwrap(), &c.vector(&wk).unwrap(), &c.vector(&b).unwrap(), k, stride, act).unwrap()).unwrap();
        let got = g.read(&g.depthwise_conv(&g.tensor(&x, &[h, w, ch]).unwrap(), &g.vector(&wk).unwrap(), &g.vector(&b).unwrap(), k, stride, act).unwrap()).unwrap();
        assert_close(&format!("depthwise {h}x{w}x{ch} k={k} s={stride} {act:?}"), &got, &want, 1e-5, 1e-5);
    }

    for (h, w, ch, k, stride) in [(9, 8, 3, 3, 2), (5, 6, 4, 3, 1)] {
        let x = seeded(h * w * ch, 16);
        let want = c.read(&c.im2col(&c.tensor(&x, &[h, w, ch]).unwrap(), k, stride).unwrap()).unwrap();
        let got = g.read(&g.im2col(&g.tensor(&x, &[h, w, ch]).unwrap(), k, stride).unwrap()).unwrap();
        assert_close(&format!("im2col {h}x{w}x{ch} k={k} s={stride}"), &got, &want, 0.0, 0.0);
    }

    let x = seeded(49 * 1280, 17);
    let want = c.read(&c.mean_rows(&c.tensor(&x, &[49, 1280]).unwrap()).unwrap()).unwrap();
    let got = g.read(&g.mean_rows(&g.tensor(&x, &[49, 1280]).unwrap()).unwrap()).unwrap();
    assert_close("mean_rows [49,1280]", &got, &want, 1e-6, 1e-5);

    let r = g.reshape(&g.tensor(&x, &[49, 1280]).unwrap(), &[7, 7, 1280]).unwrap();
    assert_eq!(g.dims(&r), vec![7, 7, 1280]);
    assert_eq!(g.read(&r).unwrap(), x);
}

#[test]
fn shapes_are_checked_before_dispatch() {
    let Some(g) = gpu() else { return };
    let t = |shape: &[usize]| g.tensor(&vec![0.0; shape.iter().product()], shape).unwrap();
    let m = g.matrix(quantize_matrix(&seeded(8 * 64, 1), 8, 64, Precision::Int8).unwrap(), &[0.0; 8], 8, 64, false).unwrap();
    assert!(g.linear(&t(&[2, 63]), &m, Activation::None).is_err());
    assert!(g.add(&t(&[2, 3]), &t(&[3, 2])).is_err());
    assert!(g.attention(&t(&[600, 3 * 64]), 2).is_err(), "more tokens than the kernel holds");
    assert!(g.attention(&t(&[4, 3 * 64 + 1]), 2).is_err());
    assert!(g.depthwise_conv(&t(&[4, 4, 3]), &t(&[8]), &t(&[3]), 3, 1, Activation::None).is_err());
    assert!(g.reshape(&t(&[4, 4]), &[5, 3]).is_err());
    assert!(g.tensor(&[1.0, 2.0], &[3]).is_err());
}

fn bert<B: Backend>(b: &B, precision: &str) -> Bert<B> {
    Bert::load(b, ModelFile::from_bytes(&read(&format!("models/minilm-{precision}.gguf"))).unwrap()).unwrap()
}

fn effnet<B: Backend>(b: &B, precision: &str) -> EfficientNet<B> {
    EfficientNet::load(b, ModelFile::from_bytes(&read(&format!("models/efficientnet-lite0-{precision}.gguf"))).unwrap()).unwrap()
}

#[test]
fn both_encoders_match_the_cpu_on_the_golden_fixtures() {
    let Some(g) = gpu() else { return };
    let golden: serde_json::Value = serde_json::from_slice(&read("tests/golden/minilm.json")).unwrap();
    for precision in ["f32", "int8"] {
        let (mc, mg) = (bert(&Cpu, precision), bert(&g, precision));
        let mut worst = 1f32;
        for s in golden["sentences"].as_array().unwrap() {
            let text = s["text"].as_str().unwrap();
            worst = worst.min(cosine(&mg.embed(&g, text, false).unwrap(), &mc.embed(&Cpu, text, false).unwrap()));
        }
        println!("MiniLM {precision}: worst GPU/CPU cosine {worst:.6}");
        assert!(worst >= 0.999, "MiniLM {precision}: GPU/CPU cosine {worst}");
    }
    for precision in ["f32", "int8"] {
        let (ec, eg) = (effnet(&Cpu, precision), effnet(&g, precision));
        for name in ["coffee", "chelsea", "rocket"] {
            let img = decode(&read(&format!("tests/golden/images/{name}.png"))).unwrap();
            let pixels = preprocess(&img, &ec.config.preprocess).unwrap();
            let (oc, og) = (ec.forward(&Cpu, &pixels).unwrap(), eg.forward(&g, &pixels).unwrap());
            let (cf, cl) = (cosine(&og.feature, &oc.feature), cosine(&og.logits, &oc.logits));
            let top = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            println!("EfficientNet {precision} {name}: feature cosine {cf:.6}, logits cosine {cl:.6}");
            assert!(cf >= 0.999 && cl >= 0.999, "EfficientNet {precision} {name}: feature {cf}, logits {cl}");
            assert_eq!(top(&og.logits), top(&oc.logits), "EfficientNet {precision} {name}: top-1 class differs");
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
