//! GPU-against-CPU checks shared by the native tests (`gpu.rs`, on lavapipe or a real GPU)
//! and the browser tests (`web.rs`, on Chromium's WebGPU). Everything reads results through
//! `read_async`, the only way the browser can.

#![allow(dead_code)] // each test crate uses part of it

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use helplens::cpu::Cpu;
use helplens::gpu::Gpu;
use helplens::input::image::{decode, preprocess};
use helplens::models::bert::Bert;
use helplens::models::efficientnet::EfficientNet;
use helplens::tensor::{Activation, Backend, Epilogue, Window};
use helplens::weights::quant::{quantize_matrix, Precision};
use helplens::weights::ModelFile;

/// Deterministic values in [-1, 1).
pub fn seeded(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Fails naming the first index where |got − want| > atol + rtol·|want|.
pub fn assert_close(op: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{op}: {} values, expected {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{op}: index {i}: computed {g}, expected {w} (atol {atol}, rtol {rtol})");
    }
}

/// The same weights in f32, for the CPU oracle: given int8 or f16 weights the CPU backend
/// multiplies them as integers (`cpu::q8`), which is not what the GPU's kernels are checked against.
pub fn in_f32(q: &QTensor, rows: usize, cols: usize) -> QTensor {
    let dense = helplens::weights::quant::dequantize_matrix(q, rows, cols).unwrap();
    QTensor::quantize(&dense, GgmlDType::F32).unwrap()
}

/// Reads a tensor an op produced.
async fn out<B: Backend>(b: &B, t: helplens::Result<B::Tensor>) -> Vec<f32> {
    b.read_async(&t.unwrap()).await.unwrap()
}

/// Every op of the backend against the CPU's on seeded inputs, each with its tolerance.
pub async fn every_op_matches_the_cpu(g: &Gpu) {
    let c = &Cpu;

    // linear, int8 weights (k not a multiple of 32: padded rows; few rows and many: both
    // kernels), with each activation; the CPU oracle multiplies the same weights in f32
    // (`in_f32`). The
    // activations PP-OCR adds come with a non-trivial affine after them (scale · act + shift),
    // on the few-rows kernel (≤ 32 rows) and on the tiled one.
    let mut cases: Vec<(usize, usize, usize, Epilogue, u64)> = vec![
        (5, 100, 70, Activation::Gelu.into(), 1),
        (130, 64, 48, Activation::Relu6.into(), 2),
        (1, 384, 384, Activation::None.into(), 3),
        (70, 27, 32, Activation::Relu6.into(), 4),
        (7, 27, 40, Activation::Relu6.into(), 5),
        (32, 384, 96, Activation::Gelu.into(), 6),
        (33, 96, 64, Activation::None.into(), 7),
    ];
    let ocr_acts = [Activation::Relu, Activation::HardSwish, Activation::Sigmoid, Activation::Swish, Activation::Clip01];
    for (i, act) in ocr_acts.into_iter().enumerate() {
        let epi = Epilogue { act, scale: 0.7, shift: -0.2 };
        cases.push((9, 96, 40, epi, 40 + i as u64));
        cases.push((70, 64, 48, epi, 50 + i as u64));
    }
    cases.push((6, 50, 24, Epilogue { act: Activation::HardSwish, scale: -1.3, shift: 0.5 }, 60));
    for (m, k, n, epi, seed) in cases {
        // Sums of k products of values in [-1, 1): spread over several units, so every
        // activation's bends (0, ±3, 1, 6) are crossed.
        let x = seeded(m * k, seed);
        let w = seeded(n * k, seed + 100);
        let b = seeded(n, seed + 200);
        for precision in [Precision::Int8, Precision::F32] {
            let q = || quantize_matrix(&w, n, k, precision).unwrap();
            let want = out(c, c.linear(&c.tensor(&x, &[m, k]).unwrap(), &c.matrix(in_f32(&q(), n, k), &b, n, k, true).unwrap(), epi)).await;
            let got = out(g, g.linear(&g.tensor(&x, &[m, k]).unwrap(), &g.matrix(q(), &b, n, k, false).unwrap(), epi)).await;
            // The tiled kernels (f32 weights; int8 for > 32 rows) on a device with shader-f16:
            // f16 products, summed in f16 over 32 steps of k, then in f32.
            let tiled = m > 32 || precision == Precision::F32;
            let (atol, rtol) = if tiled && g.adapter().f16 { (2e-2, 1e-2) } else { (1e-4, 1e-4) };
            assert_close(&format!("linear {precision:?} [{m},{k}]x[{n},{k}] {epi:?} (f16 tiles: {})", g.adapter().f16), &got, &want, atol, rtol);
        }
        // 4-bit blocks (e5's Q4_0, k a multiple of 32): the CPU widens them exactly to int8, the
        // GPU keeps them at 4 bits and unpacks inside its Q4 kernels.
        if k % 32 == 0 {
            let q = || QTensor::quantize(&Tensor::from_slice(&w, (n, k), &Device::Cpu).unwrap(), GgmlDType::Q4_0).unwrap();
            let want = out(c, c.linear(&c.tensor(&x, &[m, k]).unwrap(), &c.matrix(in_f32(&q(), n, k), &b, n, k, true).unwrap(), epi)).await;
            let got = out(g, g.linear(&g.tensor(&x, &[m, k]).unwrap(), &g.matrix(q(), &b, n, k, false).unwrap(), epi)).await;
            let (atol, rtol) = if m > 32 && g.adapter().f16 { (2e-2, 1e-2) } else { (1e-4, 1e-4) };
            assert_close(&format!("linear Q4_0 [{m},{k}]x[{n},{k}] {epi:?} (f16 tiles: {})", g.adapter().f16), &got, &want, atol, rtol);
        }
    }

    let x = seeded(6 * 50, 7);
    let y = seeded(6 * 50, 8);
    let want = out(c, c.add(&c.tensor(&x, &[6, 50]).unwrap(), &c.tensor(&y, &[6, 50]).unwrap())).await;
    let got = out(g, g.add(&g.tensor(&x, &[6, 50]).unwrap(), &g.tensor(&y, &[6, 50]).unwrap())).await;
    assert_close("add", &got, &want, 0.0, 0.0);

    for (rows, ch) in [(9, 384), (3, 1000)] {
        let x: Vec<f32> = seeded(rows * ch, 9).iter().map(|v| v * 3.0 + 0.5).collect();
        let (gamma, beta) = (seeded(ch, 10), seeded(ch, 11));
        let want = out(c, c.layer_norm(&c.tensor(&x, &[rows, ch]).unwrap(), &c.vector(&gamma).unwrap(), &c.vector(&beta).unwrap(), 1e-12)).await;
        let got = out(g, g.layer_norm(&g.tensor(&x, &[rows, ch]).unwrap(), &g.vector(&gamma).unwrap(), &g.vector(&beta).unwrap(), 1e-12)).await;
        assert_close(&format!("layer_norm [{rows},{ch}]"), &got, &want, 1e-5, 1e-4);
    }

    for (t, heads, d) in [(7, 12, 32), (130, 4, 16), (1, 2, 8)] {
        let qkv: Vec<f32> = seeded(t * 3 * heads * d, 12).iter().map(|v| v * 2.0).collect();
        let want = out(c, c.attention(&c.tensor(&qkv, &[t, 3 * heads * d]).unwrap(), heads)).await;
        let got = out(g, g.attention(&g.tensor(&qkv, &[t, 3 * heads * d]).unwrap(), heads)).await;
        assert_close(&format!("attention t={t} heads={heads} d={d}"), &got, &want, 1e-5, 1e-4);
    }

    // Depthwise over TensorFlow "same" windows (EfficientNet) and explicit ONNX paddings
    // (PP-OCR: 5x5 stride (2, 1), 3x3 stride 2 pad 1, a 1x3 window padded left and right),
    // with every activation and affine epilogues.
    let hs = |act| Epilogue { act, scale: 0.7, shift: -0.2 };
    let dw_cases: Vec<(usize, usize, usize, Window, Epilogue)> = vec![
        (9, 7, 5, Window::tf_same(9, 7, 3, 1), Activation::Relu6.into()),
        (16, 15, 24, Window::tf_same(16, 15, 5, 2), Activation::None.into()),
        (8, 8, 16, Window::tf_same(8, 8, 3, 2), Activation::Relu6.into()),
        (7, 7, 3, Window::tf_same(7, 7, 5, 1), Activation::Gelu.into()),
        (6, 40, 8, Window { kh: 5, kw: 5, sh: 2, sw: 1, pad: [2; 4] }, hs(Activation::HardSwish)),
        (11, 9, 7, Window { kh: 5, kw: 5, sh: 2, sw: 1, pad: [2; 4] }, hs(Activation::Relu)),
        (7, 8, 12, Window::square(3, 2, 1), hs(Activation::Sigmoid)),
        (8, 7, 5, Window::square(3, 2, 1), hs(Activation::Swish)),
        (5, 9, 6, Window { kh: 1, kw: 3, sh: 1, sw: 1, pad: [0, 1, 0, 1] }, hs(Activation::Clip01)),
        (4, 10, 3, Window { kh: 1, kw: 3, sh: 1, sw: 1, pad: [0, 1, 0, 1] }, hs(Activation::HardSwish)),
    ];
    for (h, w, ch, win, epi) in dw_cases {
        let x: Vec<f32> = seeded(h * w * ch, 13).iter().map(|v| v * 3.0).collect();
        let (wk, b) = (seeded(win.kh * win.kw * ch, 14), seeded(ch, 15));
        let want = out(c, c.depthwise_conv(&c.tensor(&x, &[h, w, ch]).unwrap(), &c.vector(&wk).unwrap(), &c.vector(&b).unwrap(), win, epi)).await;
        let got = out(g, g.depthwise_conv(&g.tensor(&x, &[h, w, ch]).unwrap(), &g.vector(&wk).unwrap(), &g.vector(&b).unwrap(), win, epi)).await;
        assert_close(&format!("depthwise {h}x{w}x{ch} {win:?} {epi:?}"), &got, &want, 1e-5, 1e-5);
    }
    // A batch of three images: each must come out as if alone (the CPU checks that too).
    let (h, w, ch) = (9, 7, 5);
    for win in [Window::tf_same(h, w, 5, 2), Window { kh: 5, kw: 5, sh: 2, sw: 1, pad: [2; 4] }] {
        let epi = Epilogue { act: Activation::HardSwish, scale: 0.7, shift: -0.2 };
        let x = seeded(3 * h * w * ch, 30);
        let (wk, b) = (seeded(win.kh * win.kw * ch, 31), seeded(ch, 32));
        let want = out(c, c.depthwise_conv(&c.tensor(&x, &[3, h, w, ch]).unwrap(), &c.vector(&wk).unwrap(), &c.vector(&b).unwrap(), win, epi)).await;
        let got = out(g, g.depthwise_conv(&g.tensor(&x, &[3, h, w, ch]).unwrap(), &g.vector(&wk).unwrap(), &g.vector(&b).unwrap(), win, epi)).await;
        assert_close(&format!("depthwise batch of 3, {win:?}"), &got, &want, 1e-5, 1e-5);
        let per = want.len() / 3;
        for i in 0..3 {
            let one =
                out(c, c.depthwise_conv(&c.tensor(&x[i * h * w * ch..][..h * w * ch], &[h, w, ch]).unwrap(), &c.vector(&wk).unwrap(), &c.vector(&b).unwrap(), win, epi)).await;
            assert_close(&format!("depthwise batch item {i} vs alone (CPU), {win:?}"), &want[i * per..][..per], &one, 0.0, 0.0);
        }
    }

    let im2col_cases = [
        (9, 8, 3, Window::tf_same(9, 8, 3, 2)),
        (5, 6, 4, Window::tf_same(5, 6, 3, 1)),
        (6, 40, 3, Window { kh: 5, kw: 5, sh: 2, sw: 1, pad: [2; 4] }),
        (7, 8, 3, Window::square(3, 2, 1)),
        (5, 9, 4, Window { kh: 1, kw: 3, sh: 1, sw: 1, pad: [0, 1, 0, 1] }),
    ];
    for (h, w, ch, win) in im2col_cases {
        let x = seeded(h * w * ch, 16);
        let want = out(c, c.im2col(&c.tensor(&x, &[h, w, ch]).unwrap(), win)).await;
        let got = out(g, g.im2col(&g.tensor(&x, &[h, w, ch]).unwrap(), win)).await;
        assert_close(&format!("im2col {h}x{w}x{ch} {win:?}"), &got, &want, 0.0, 0.0);
    }
    for win in [Window::tf_same(9, 8, 3, 2), Window::square(3, 2, 1)] {
        let x = seeded(2 * 9 * 8 * 3, 33);
        let want = out(c, c.im2col(&c.tensor(&x, &[2, 9, 8, 3]).unwrap(), win)).await;
        let got = out(g, g.im2col(&g.tensor(&x, &[2, 9, 8, 3]).unwrap(), win)).await;
        assert_close(&format!("im2col batch of 2, {win:?}"), &got, &want, 0.0, 0.0);
        let second = out(c, c.im2col(&c.tensor(&x[9 * 8 * 3..], &[9, 8, 3]).unwrap(), win)).await;
        assert_close(&format!("im2col batch item 1 vs alone (CPU), {win:?}"), &want[want.len() / 2..], &second, 0.0, 0.0);
    }

    // The feature-map ops of PP-OCR: data movement exactly, the mean within rounding.
    for residual in [false, true] {
        for (shape, s_shape) in [(vec![2, 5, 7, 24], [2, 24]), (vec![1, 3, 9, 5], [1, 5]), (vec![4, 6, 3], [1, 3])] {
            let x = seeded(shape.iter().product(), 34);
            let sc: Vec<f32> = seeded(s_shape[0] * s_shape[1], 35).iter().map(|v| v * 0.5 + 0.5).collect();
            let want = out(c, c.scale_channels(&c.tensor(&x, &shape).unwrap(), &c.tensor(&sc, &s_shape).unwrap(), residual)).await;
            let got = out(g, g.scale_channels(&g.tensor(&x, &shape).unwrap(), &g.tensor(&sc, &s_shape).unwrap(), residual)).await;
            assert_close(&format!("scale_channels {shape:?} residual {residual}"), &got, &want, 0.0, 0.0);
        }
    }
    for (shape, f) in [(vec![2, 3, 5, 4], 2), (vec![1, 2, 3, 24], 8), (vec![4, 5, 6], 8)] {
        let x = seeded(shape.iter().product(), 36);
        let want = out(c, c.upsample(&c.tensor(&x, &shape).unwrap(), f)).await;
        let got = out(g, g.upsample(&g.tensor(&x, &shape).unwrap(), f)).await;
        assert_close(&format!("upsample {shape:?} x{f}"), &got, &want, 0.0, 0.0);
    }
    let concat_cases: [(&[usize], &[usize]); 4] = [(&[1, 6, 7], &[24, 24, 24, 24]), (&[2, 4, 5], &[3, 5]), (&[9], &[1, 7, 2]), (&[3, 4], &[16])];
    for (lead, channels) in concat_cases {
        let inputs: Vec<(Vec<f32>, Vec<usize>)> = channels
            .iter()
            .enumerate()
            .map(|(i, &ch)| {
                let shape = [lead, &[ch]].concat();
                (seeded(shape.iter().product(), 37 + i as u64), shape)
            })
            .collect();
        let (ct, gt): (Vec<_>, Vec<_>) = inputs.iter().map(|(x, shape)| (c.tensor(x, shape).unwrap(), g.tensor(x, shape).unwrap())).unzip();
        let want = out(c, c.concat(&ct.iter().collect::<Vec<_>>())).await;
        let r = g.concat(&gt.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(g.dims(&r), [lead, &[channels.iter().sum()]].concat());
        assert_close(&format!("concat {lead:?} x {channels:?}"), &out(g, Ok(r)).await, &want, 0.0, 0.0);
    }
    for (shape, f) in [(vec![1, 5, 6, 4], 2), (vec![2, 3, 4, 96], 2), (vec![3, 2, 9], 3)] {
        let x = seeded(shape.iter().product(), 41);
        let want = out(c, c.depth_to_space(&c.tensor(&x, &shape).unwrap(), f)).await;
        let got = out(g, g.depth_to_space(&g.tensor(&x, &shape).unwrap(), f)).await;
        assert_close(&format!("depth_to_space {shape:?} x{f}"), &got, &want, 0.0, 0.0);
    }
    let pool_cases = [
        (vec![2, 6, 10, 8], Window { kh: 3, kw: 2, sh: 3, sw: 2, pad: [0; 4] }),
        (vec![1, 3, 81, 5], Window { kh: 3, kw: 2, sh: 3, sw: 2, pad: [0; 4] }),
        (vec![2, 5, 7, 6], Window::square(3, 1, 1)),
        (vec![4, 3, 24], Window::square(3, 1, 1)),
        (vec![1, 7, 8, 3], Window::square(3, 2, 1)),
    ];
    for (shape, win) in pool_cases {
        let x = seeded(shape.iter().product(), 42);
        let want = out(c, c.avg_pool(&c.tensor(&x, &shape).unwrap(), win)).await;
        let got = out(g, g.avg_pool(&g.tensor(&x, &shape).unwrap(), win)).await;
        assert_close(&format!("avg_pool {shape:?} {win:?}"), &got, &want, 1e-6, 1e-6);
    }

    let x = seeded(49 * 1280, 17);
    let want = out(c, c.mean_rows(&c.tensor(&x, &[49, 1280]).unwrap())).await;
    let got = out(g, g.mean_rows(&g.tensor(&x, &[49, 1280]).unwrap())).await;
    assert_close("mean_rows [49,1280]", &got, &want, 1e-6, 1e-5);
    let want = out(c, c.mean_rows(&c.tensor(&x, &[5, 49 * 1280 / 5 / 64, 64]).unwrap())).await;
    let got = out(g, g.mean_rows(&g.tensor(&x, &[5, 49 * 1280 / 5 / 64, 64]).unwrap())).await;
    assert_eq!(want.len(), 5 * 64);
    assert_close("mean_rows batch [5, 196, 64]", &got, &want, 1e-6, 1e-5);

    // L2 norm (a zero row stays zero) and softmax, rows of several widths.
    for (rows, ch) in [(3, 384), (2, 1280), (1, 1000), (4, 7)] {
        let mut x: Vec<f32> = seeded(rows * ch, 18).iter().map(|v| v * 4.0).collect();
        x[..ch].iter_mut().for_each(|v| *v = 0.0);
        let want = out(c, c.l2_normalize(&c.tensor(&x, &[rows, ch]).unwrap())).await;
        let got = out(g, g.l2_normalize(&g.tensor(&x, &[rows, ch]).unwrap())).await;
        assert_close(&format!("l2_normalize [{rows},{ch}]"), &got, &want, 1e-6, 1e-5);
        assert!(got[..ch].iter().all(|&v| v == 0.0), "l2_normalize: a zero row must stay zero");
        let x: Vec<f32> = seeded(rows * ch, 19).iter().map(|v| v * 12.0).collect();
        let want = out(c, c.softmax(&c.tensor(&x, &[rows, ch]).unwrap())).await;
        let got = out(g, g.softmax(&g.tensor(&x, &[rows, ch]).unwrap())).await;
        assert_close(&format!("softmax [{rows},{ch}]"), &got, &want, 1e-7, 1e-4);
    }

    // The KB search and ConSE on int8 rows (a width that is not a multiple of 4: padded words).
    for (n, dim, m) in [(300, 384, 1), (1000, 1280, 2), (5, 6, 3), (0, 384, 1)] {
        let data: Vec<i8> = seeded(n * dim, 20).iter().map(|v| (v * 127.0) as i8).collect();
        let scale: Vec<f32> = seeded(n, 21).iter().map(|v| (v.abs() + 0.1) / 127.0).collect();
        let q = seeded(m * dim, 22);
        let want = out(c, c.scores(&c.rows(&data, &scale, dim).unwrap(), &c.tensor(&q, &[m, dim]).unwrap())).await;
        let got = out(g, g.scores(&g.rows(&data, &scale, dim).unwrap(), &g.tensor(&q, &[m, dim]).unwrap())).await;
        assert_eq!(want.len(), m * n);
        assert_close(&format!("scores {m} queries x [{n},{dim}]"), &got, &want, 1e-5, 1e-4);
    }
    for (classes, dim, top) in [(1000, 384, 5), (1000, 384, 16), (37, 6, 3), (4, 8, 4)] {
        let data: Vec<i8> = seeded(classes * dim, 23).iter().map(|v| (v * 127.0) as i8).collect();
        let scale: Vec<f32> = seeded(classes, 24).iter().map(|v| (v.abs() + 0.1) / 127.0).collect();
        let logits: Vec<f32> = seeded(classes, 25).iter().map(|v| v * 8.0).collect();
        let probs = out(c, c.softmax(&c.tensor(&logits, &[1, classes]).unwrap())).await;
        let want = out(c, c.conse(&c.tensor(&probs, &[1, classes]).unwrap(), &c.rows(&data, &scale, dim).unwrap(), top)).await;
        let got = out(g, g.conse(&g.tensor(&probs, &[1, classes]).unwrap(), &g.rows(&data, &scale, dim).unwrap(), top)).await;
        assert_close(&format!("conse top {top} of {classes} classes, dim {dim}"), &got, &want, 1e-6, 1e-4);
    }

    let r = g.reshape(&g.tensor(&x, &[49, 1280]).unwrap(), &[7, 7, 1280]).unwrap();
    assert_eq!(g.dims(&r), vec![7, 7, 1280]);
    assert_eq!(out(g, Ok(r)).await, x);
}

/// Shape errors come back before anything is dispatched.
pub fn shapes_are_checked_before_dispatch(g: &Gpu) {
    let t = |shape: &[usize]| g.tensor(&vec![0.0; shape.iter().product()], shape).unwrap();
    let m = g.matrix(quantize_matrix(&seeded(8 * 64, 1), 8, 64, Precision::Int8).unwrap(), &[0.0; 8], 8, 64, false).unwrap();
    assert!(g.linear(&t(&[2, 63]), &m, Activation::None).is_err());
    assert!(g.add(&t(&[2, 3]), &t(&[3, 2])).is_err());
    assert!(g.attention(&t(&[600, 3 * 64]), 2).is_err(), "more tokens than the kernel holds");
    assert!(g.attention(&t(&[4, 3 * 64 + 1]), 2).is_err());
    assert!(g.depthwise_conv(&t(&[4, 4, 3]), &t(&[8]), &t(&[3]), Window::square(3, 1, 1), Activation::None).is_err());
    assert!(g.depthwise_conv(&t(&[4, 4, 3]), &t(&[27]), &t(&[3]), Window::square(5, 1, 0), Activation::None).is_err(), "a window wider than the image");
    assert!(g.im2col(&t(&[4, 4, 3]), Window::square(3, 0, 1)).is_err(), "a zero stride");
    assert!(g.reshape(&t(&[4, 4]), &[5, 3]).is_err());
    assert!(g.tensor(&[1.0, 2.0], &[3]).is_err());
    let rows = g.rows(&[1; 12], &[1.0; 3], 4).unwrap();
    assert!(g.rows(&[1; 11], &[1.0; 3], 4).is_err());
    assert!(g.scores(&rows, &t(&[1, 5])).is_err());
    assert!(g.conse(&t(&[1, 4]), &rows, 2).is_err(), "probabilities for 4 classes, 3 rows");
    assert!(g.conse(&t(&[1, 3]), &rows, 17).is_err(), "more classes than the kernel keeps");
    assert!(g.mean_rows(&t(&[2, 0, 3])).is_err());
    assert!(g.scale_channels(&t(&[2, 3, 3, 4]), &t(&[1, 4]), false).is_err(), "one scale row for two images");
    assert!(g.upsample(&t(&[2, 2, 3]), 0).is_err());
    assert!(g.concat(&[]).is_err());
    assert!(g.concat(&[&t(&[2, 3, 4]), &t(&[3, 2, 4])]).is_err(), "leading axes differ");
    assert!(g.depth_to_space(&t(&[2, 2, 6]), 2).is_err(), "6 channels are not 2·2·c");
    assert!(g.avg_pool(&t(&[2, 2, 3]), Window::square(3, 1, 0)).is_err(), "a window larger than the image");
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// MiniLM on the GPU against the CPU on the golden sentences: the worst cosine, which must be
/// ≥ 0.999.
pub async fn minilm_matches(g: &Gpu, model: &[u8], golden_json: &str, label: &str) -> f32 {
    let golden: serde_json::Value = serde_json::from_str(golden_json).unwrap();
    let mc = Bert::load(&Cpu, ModelFile::from_bytes(model).unwrap()).unwrap();
    let mg = Bert::load(g, ModelFile::from_bytes(model).unwrap()).unwrap();
    let mut worst = 1f32;
    for s in golden["sentences"].as_array().unwrap() {
        let text = s["text"].as_str().unwrap();
        let (a, b) = (mg.embed_async(g, text, false).await.unwrap(), mc.embed(&Cpu, text, false).unwrap());
        worst = worst.min(cosine(&a, &b));
    }
    assert!(worst >= 0.999, "MiniLM {label}: GPU/CPU cosine {worst}");
    worst
}

/// EfficientNet on the GPU against the CPU on golden pictures: feature and logits cosine
/// ≥ 0.999 and the same top-1 class. Returns (name, feature cosine, logits cosine) per picture.
pub async fn efficientnet_matches(g: &Gpu, model: &[u8], pictures: &[(&str, &[u8])], label: &str) -> Vec<(String, f32, f32)> {
    let ec = EfficientNet::load(&Cpu, ModelFile::from_bytes(model).unwrap()).unwrap();
    let eg = EfficientNet::load(g, ModelFile::from_bytes(model).unwrap()).unwrap();
    let mut report = Vec::new();
    for (name, bytes) in pictures {
        let pixels = preprocess(&decode(bytes).unwrap(), &ec.config.preprocess).unwrap();
        let (oc, og) = (ec.forward(&Cpu, &pixels).unwrap(), eg.forward_async(g, &pixels).await.unwrap());
        let (cf, cl) = (cosine(&og.feature, &oc.feature), cosine(&og.logits, &oc.logits));
        let top = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert!(cf >= 0.999 && cl >= 0.999, "EfficientNet {label} {name}: feature {cf}, logits {cl}");
        assert_eq!(top(&og.logits), top(&oc.logits), "EfficientNet {label} {name}: top-1 class differs");
        report.push((name.to_string(), cf, cl));
    }
    // All pictures in one batch on the GPU give what each gives alone on the CPU.
    let pixels: Vec<Vec<f32>> = pictures.iter().map(|(_, b)| preprocess(&decode(b).unwrap(), &ec.config.preprocess).unwrap()).collect();
    let batch = eg.forward_batch_async(g, &pixels.iter().map(Vec::as_slice).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(batch.len(), pictures.len());
    for ((name, _), (px, got)) in pictures.iter().zip(pixels.iter().zip(&batch)) {
        let want = ec.forward(&Cpu, px).unwrap();
        let (cf, cl) = (cosine(&got.feature, &want.feature), cosine(&got.logits, &want.logits));
        assert!(cf >= 0.999 && cl >= 0.999, "EfficientNet {label} {name} in a batch of {}: feature {cf}, logits {cl}", pictures.len());
    }
    report
}
