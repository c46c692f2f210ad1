//! `helplens bench --kernels`: each big GPU kernel alone, at the shapes the encoders use, with
//! achieved GFLOP/s and GB/s against the adapter's peak where it is known (or given).
//!
//! Timing is wall-clock over a batch of dispatches of the same op, ended by one small read,
//! divided by the batch size; the batch doubles until it takes at least 200 ms. Host-side
//! recording (a uniform buffer and a bind group per dispatch) is included, so small kernels on
//! a fast GPU read low.

use std::time::Instant;

use anyhow::Result;
use helplens::gpu::Gpu;
use helplens::tensor::{Activation, Backend, Window};
use helplens::weights::quant::quantize_matrix;
use helplens::weights::Precision;

/// Peak FP32 GFLOP/s and memory GB/s of known adapters (vendor data sheets).
fn known_peak(name: &str) -> Option<(f64, f64)> {
    let n = name.to_lowercase();
    if n.contains("h200") {
        Some((66_900.0, 4_800.0))
    } else if n.contains("h100") && n.contains("pcie") {
        Some((51_200.0, 2_000.0))
    } else if n.contains("h100") {
        Some((66_900.0, 3_350.0))
    } else if n.contains("a100") {
        Some((19_500.0, 2_039.0))
    } else {
        None
    }
}

fn seeded(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Seconds per call of `op`, which records one dispatch and returns its output.
fn per_call(g: &Gpu, mut op: impl FnMut() -> helplens::Result<<Gpu as Backend>::Tensor>) -> Result<f64> {
    g.read(&op()?)?; // warm-up: pipeline, buffers
    let mut n = 1usize;
    loop {
        let t = Instant::now();
        let mut last = None;
        for _ in 0..n {
            last = Some(op()?);
        }
        g.read(&last.expect("n >= 1"))?;
        let s = t.elapsed().as_secs_f64();
        if s >= 0.2 || n >= 4096 {
            return Ok(s / n as f64);
        }
        n *= 2;
    }
}

pub fn run(peak: Option<(f64, f64)>) -> Result<()> {
    let g = Gpu::new()?;
    let a = g.adapter().clone();
    let peak = peak.or_else(|| known_peak(&a.name));
    println!("kernels on {} ({}, {}), f16 tiles: {}{}", a.name, a.backend, a.driver, a.f16, if a.software { " [software: correctness only]" } else { "" });
    match peak {
        Some((f, b)) => println!("peak: {f:.0} GFLOP/s FP32, {b:.0} GB/s"),
        None => println!("peak unknown for this adapter (give --peak-gflops and --peak-gbps)"),
    }
    println!("{:<44} {:>10} {:>10} {:>9} {:>9} {:>9}", "kernel [shape]", "µs/call", "GFLOP/s", "GB/s", "%FLOP", "%BW");
    let row = |label: String, s: f64, flops: f64, bytes: f64| {
        let (gf, gb) = (flops / s / 1e9, bytes / s / 1e9);
        let pct = |v: f64, p: f64| format!("{:.1}", 100.0 * v / p);
        let (pf, pb) = peak.map(|(f, b)| (pct(gf, f), pct(gb, b))).unwrap_or_default();
        println!("{label:<44} {:>10.1} {gf:>10.1} {gb:>9.1} {pf:>9} {pb:>9}", s * 1e6);
    };

    // A dispatch that does almost nothing: the fixed cost of one op (recording + GPU launch).
    let tiny = g.tensor(&seeded(64, 0), &[1, 64])?;
    let s = per_call(&g, || g.add(&tiny, &tiny))?;
    row("dispatch overhead (add of 64 floats)".into(), s, 64.0, 3.0 * 64.0 * 4.0);

    // int8 matmuls at encoder shapes (m rows × k → n): MiniLM (≤ 32 rows: the few-rows kernel),
    // EfficientNet-Lite0 1x1 convolutions (tiled kernel), and one large square one.
    let linears: [(&str, usize, usize, usize); 9] = [
        ("MiniLM qkv", 16, 384, 1152),
        ("MiniLM up", 16, 384, 1536),
        ("MiniLM down", 16, 1536, 384),
        ("Lite0 expand 112²", 112 * 112, 16, 96),
        ("Lite0 expand 56²", 56 * 56, 24, 144),
        ("Lite0 project 28²", 28 * 28, 240, 40),
        ("Lite0 expand 14²", 14 * 14, 112, 672),
        ("Lite0 head 7²", 7 * 7, 320, 1280),
        ("square", 2048, 2048, 2048),
    ];
    for (name, m, k, n) in linears {
        let x = g.tensor(&seeded(m * k, 1), &[m, k])?;
        let w = g.matrix(quantize_matrix(&seeded(n * k, 2), n, k, Precision::Int8)?, &seeded(n, 3), n, k, false)?;
        let s = per_call(&g, || g.linear(&x, &w, Activation::Relu6))?;
        let kp = k.div_ceil(32) * 32;
        let bytes = (m * k * 4 + n * kp + n * kp / 32 * 4 + m * n * 4) as f64;
        row(format!("linear int8 {name} [{m}x{k}]→{n}"), s, 2.0 * (m * n * k) as f64, bytes);
    }
    for (h, c, k, stride) in [(112usize, 96usize, 3usize, 2usize), (28, 240, 5, 1), (14, 672, 5, 2)] {
        let x = g.tensor(&seeded(h * h * c, 4), &[h, h, c])?;
        let (w, b) = (g.vector(&seeded(k * k * c, 5))?, g.vector(&seeded(c, 6))?);
        let s = per_call(&g, || g.depthwise_conv(&x, &w, &b, Window::tf_same(h, h, k, stride), Activation::Relu6))?;
        let o = h.div_ceil(stride);
        row(format!("depthwise {h}²x{c} k{k} s{stride}"), s, 2.0 * (o * o * c * k * k) as f64, ((h * h * c + o * o * c + k * k * c) * 4) as f64);
    }
    for t in [16usize, 128] {
        let (heads, d) = (12usize, 32usize);
        let qkv = g.tensor(&seeded(t * 3 * heads * d, 7), &[t, 3 * heads * d])?;
        let s = per_call(&g, || g.attention(&qkv, heads))?;
        row(format!("attention t={t} 12 heads of 32"), s, (4 * t * t * heads * d) as f64, ((t * 3 * heads * d + t * heads * d) * 4) as f64);
    }
    Ok(())
}
