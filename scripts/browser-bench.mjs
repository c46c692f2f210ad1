// Runs www/bench.html in headless Chromium (Debian's /usr/bin/chromium via playwright-core)
// against scripts/serve.py, once per backend, and prints the figures side by side.
//   node scripts/browser-bench.mjs [--runs 20] [--backends cpu,webgpu,cpu-e5,cpu-e5-zh] [--gpu-runs 3]
// cpu-e5: the CPU with the multilingual e5 (en,zh vocabulary) and the Chinese KB, on the same
// English question; cpu-e5-zh: the same on a Chinese question.
// Headless Chromium's WebGPU is SwiftShader (software): its timings are for correctness only.
import { launchChromium, startServer } from './lib/headless.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const runs = Number(arg('--runs', 20));
const gpuRuns = Number(arg('--gpu-runs', 3));
const backends = arg('--backends', 'cpu,webgpu,cpu-e5,cpu-e5-zh').split(',');
const E5 = '&text=e5-small-q4-en-zh.gguf&kb=demo-kb-zh.safetensors';
const variant = { 'cpu-e5': E5, 'cpu-e5-zh': `${E5}&q=${encodeURIComponent('我的咖啡机漏水了')}` };
const { server, port } = await startServer();
const browser = await launchChromium();
const results = [];
try {
  for (const backend of backends) {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
    const n = backend.startsWith('cpu') ? runs : gpuRuns;
    await page.goto(`http://127.0.0.1:${port}/bench.html?runs=${n}&backend=${backend.split('-')[0]}${variant[backend] || ''}${process.env.BENCH_PHOTO ? '&photo=' + process.env.BENCH_PHOTO : ''}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
    const r = await page.evaluate(() => window.benchResult);
    await page.close();
    if (r.error) { console.log(`${backend}: skipped, ${r.error}`); continue; }
    results.push({ name: backend, ...r });
  }
} finally {
  await browser.close();
  server.kill();
}
if (!results.length) process.exit(1);
console.log(`browser: ${results[0].user_agent}`);
for (const r of results) {
  const what = r.backend === 'gpu' ? `WebGPU on ${r.adapter}${/swiftshader|software/i.test(r.adapter) ? ' [software: correctness only]' : ''}` : 'CPU, wasm SIMD';
  console.log(`${r.name}: ${what}, ${r.text_model}, question ${JSON.stringify(r.question)} | ${r.runs} runs after ${r.warmup} untimed | load (instantiate + parse models and KB${r.backend === 'gpu' ? ' + device, kernels, upload' : ''}) ${r.load_ms.toFixed(0)} ms`);
}
const cell = (v) => (v == null ? '' : v.toFixed(2)).padStart(10);
console.log(''.padEnd(36) + results.map((r) => `${(r.name + ' median').padStart(14)} ${'p95'.padStart(10)} ${'first'.padStart(10)}`).join(''));
for (const [label, key] of [['text embed (short question) ms', 'text_embed'], ['image embed (preprocess+encoder) ms', 'image_embed'], ['KB search ms', 'kb_search']]) {
  console.log(label.padEnd(36) + results.map((r) => `${cell(r[key].median).padStart(14)} ${cell(r[key].p95)} ${cell(r[key].first)}`).join(''));
}
for (const r of results) {
  console.log(`${r.name}: wasm memory ${r.wasm_memory_mb.toFixed(0)} MB, JS heap ${r.js_heap_mb == null ? 'n/a' : r.js_heap_mb.toFixed(0) + ' MB'}, ` +
    `measureUserAgentSpecificMemory ${r.tab_memory_mb == null ? 'n/a' : r.tab_memory_mb.toFixed(0) + ' MB'}, model files ${r.model_mb.toFixed(1)} MB`);
}
