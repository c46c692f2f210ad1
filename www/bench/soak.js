// Soak test: questions and photos through the widget's own engine worker (EngineClient), one
// page, one engine. Memory is read after a warm-up (every model loaded, every buffer size seen
// once) and at the end, both after a garbage collection where the browser exposes one
// (Chromium with --js-flags=--expose-gc): the worker's wasm memory (it never shrinks, so any
// growth is kept), the page's JS heap, and the resident memory of the tab's renderer process
// (page and worker: what a leak in the worker's JavaScript would show in, as workers have no
// heap API). Results: #out and window.soakResult.
import { EngineClient } from '../widget/engine.js';

const params = new URLSearchParams(location.search);
const QUESTIONS = Number(params.get('questions') || 1000);
const PHOTOS = Number(params.get('photos') || 100);
const backend = params.get('backend') || 'cpu';
const out = document.getElementById('out');
const log = (s) => { out.textContent += `\n${s}`; };

// Support questions of every product, and variations of them so texts differ in length.
const ASKED = [
  'my printer jams', 'paper stuck in the printer', 'the laptop will not turn on', 'laptop battery drains fast',
  'espresso machine leaks water', 'how do I descale the coffee machine', 'washing machine does not drain',
  'the washer shakes during spin', 'microwave runs but does not heat', 'the tv has no picture', 'netflix app crashes',
  'router has no internet', 'I forgot the wifi password', 'phone will not charge', 'phone fell in water',
  'camera says lens error', 'memory card is full', 'robot vacuum is stuck', 'vacuum loses suction',
  'kettle has white crust inside', 'e-moped shows an error code', 'moped battery does not charge', 'how do I return an item',
  'where is my warranty', 'contact support please', '打印机卡纸了', '笔记本电脑无法开机',
];
const SENT = ['../demo/printer-error.jpg', '../kb/images/camera.png', '../kb/images/espresso-machine.png', '../kb/images/laptop.png',
  '../kb/images/printer.png', '../kb/images/phone.png', '../kb/images/microwave.png', '../kb/images/e-moped.png'];

const question = (i) => {
  const q = ASKED[i % ASKED.length];
  return i % 3 === 0 ? q : i % 3 === 1 ? `${q}, what should I do?` : `Hello, ${q} since yesterday and I already tried restarting it. Any ideas?`;
};

async function stats(engine) {
  if (typeof window.gc === 'function') window.gc();
  const w = await engine.stats(true);
  // window.rendererRss: given by scripts/soak.mjs (the tab's renderer processes' resident memory,
  // the page and its worker together).
  const rss = typeof window.rendererRss === 'function' ? await window.rendererRss() : null;
  return { wasm_memory: w.wasm_memory, page_heap: performance.memory ? performance.memory.usedJSHeapSize : null, renderer_rss: rss };
}

async function run() {
  const engine = new EngineClient();
  const failed = new Promise((_, reject) => engine.addEventListener('failed', ({ detail }) => reject(new Error(detail.message))));
  const warnings = [];
  engine.addEventListener('warning', ({ detail }) => warnings.push(detail.message));
  const models = new URL('../models/', location.href).href;
  await Promise.race([engine.load({ models, kb: `${models}demo-kb.safetensors` }, backend), failed]);
  const blobs = await Promise.all(SENT.map(async (u) => {
    const r = await fetch(u);
    if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
    return new File([await r.blob()], u.split('/').pop(), { type: r.headers.get('content-type') || '' });
  }));
  const errors = [];
  let answered = 0;
  let asked = 0;
  const ask = async (q, photo) => {
    asked++;
    try {
      const { answer } = await engine.ask(q, photo);
      if (!answer || !answer.answers || !answer.answers.length) throw new Error('an answer without articles');
      answered++;
    } catch (e) {
      errors.push(`${photo ? photo.name : q}: ${e.message}`);
    }
  };
  // Warm-up: every photo once (loads the image and OCR models) and a few questions.
  for (const b of blobs) await ask('', b);
  for (let i = 0; i < ASKED.length; i++) await ask(question(i), null);
  const start = await stats(engine);
  log(`after warm-up: ${JSON.stringify(start)}`);
  const t0 = performance.now();
  const every = Math.max(1, Math.floor(QUESTIONS / Math.max(1, PHOTOS)));
  let photos = 0;
  for (let i = 0; i < QUESTIONS; i++) {
    await ask(question(i), null);
    if (photos < PHOTOS && i % every === every - 1) {
      await ask(i % 2 ? '' : question(i), blobs[photos % blobs.length]);
      photos++;
    }
    if (i % 100 === 99) log(`${i + 1} questions, ${photos} photos, ${errors.length} errors`);
  }
  const end = await stats(engine);
  log(`at the end: ${JSON.stringify(end)}`);
  engine.worker.terminate();
  return { questions: QUESTIONS, photos, asked, answered, errors, warnings, start, end, seconds: (performance.now() - t0) / 1000, gc: typeof window.gc === 'function' };
}

run().then((r) => { window.soakResult = r; log('done'); }, (e) => { window.soakResult = { error: String(e.message || e) }; log(`error: ${e.message}`); });
