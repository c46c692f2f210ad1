// In-browser benchmark: median and p95 over N runs after the first (timed apart) and
// `warmup` more untimed runs (default 5 on the CPU, 0 on WebGPU: software adapters are slow),
// so that V8 has moved the hot functions to its optimising compiler; on the main thread
// (nothing else runs here). Results go to #out and to window.benchResult for scripts.
import init, { HelplensEngine } from './pkg/helplens.js';

const params = new URLSearchParams(location.search);
const runs = Number(params.get('runs') || 20);
const warmup = Number(params.get('warmup') ?? (params.get('backend') === 'webgpu' ? 0 : 5));
const photoUrl = params.get('photo') || 'kb/images/espresso-machine.png';
const out = document.getElementById('out');
const tick = () => new Promise((r) => setTimeout(r, 0));

async function bytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function time(f) {
  const t0 = performance.now();
  await f();
  const first = performance.now() - t0;
  for (let i = 0; i < warmup; i++) await f();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
    await tick();
  }
  ms.sort((a, b) => a - b);
  const q = (p) => ms[Math.round((ms.length - 1) * p)];
  return { median: q(0.5), p95: q(0.95), first };
}

async function main() {
  const t0 = performance.now();
  const wasm = await init({ module_or_path: new URL('./pkg/helplens_bg.wasm', import.meta.url) });
  // ?text=&kb=: another text model and its KB (e.g. e5-small-q4-en-zh.gguf, demo-kb-zh.safetensors).
  const textModel = params.get('text') || 'minilm-int8.gguf';
  const [text, image, kb] = await Promise.all([bytes(`models/${textModel}`), bytes('models/efficientnet-lite0-int8.gguf'), bytes(`models/${params.get('kb') || 'demo-kb.safetensors'}`)]);
  // ?backend=cpu|webgpu|auto
  const engine = await HelplensEngine.create(text, kb, params.get('backend') || 'cpu');
  engine.addImageModel(image);
  const loadMs = performance.now() - t0;
  const bmp = await createImageBitmap(await (await fetch(photoUrl)).blob());
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bmp, 0, 0);
  const px = new Uint8Array(ctx.getImageData(0, 0, bmp.width, bmp.height).data.buffer);
  const q = params.get('q') || 'my espresso machine is leaking water';
  const info = engine.info();
  const qv = await engine.embedQuestion(q);
  const result = {
    backend: info.backend,
    text_model: textModel,
    question: q,
    adapter: info.adapter,
    runs,
    warmup,
    load_ms: loadMs,
    text_embed: await time(() => engine.embedQuestion(q)),
    image_embed: await time(() => engine.embedPixels(px, bmp.width, bmp.height)),
    kb_search: await time(() => engine.search(qv)),
    fallback_reason: engine.info().fallback_reason,
    wasm_memory_mb: wasm.memory.buffer.byteLength / 1048576,
    js_heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
    // The whole tab after both encoders ran (needs the cross-origin isolation serve.py gives).
    tab_memory_mb: self.crossOriginIsolated && performance.measureUserAgentSpecificMemory
      ? (await performance.measureUserAgentSpecificMemory().catch(() => null))?.bytes / 1048576 : null,
    model_mb: (text.length + image.length) / 1e6,
    user_agent: navigator.userAgent,
  };
  window.benchResult = result;
  out.textContent = JSON.stringify(result, null, 2);
}

main().catch((e) => { window.benchResult = { error: String(e) }; out.textContent = `error: ${e}`; });
