// The widget's Web Worker: owns the wasm engine, loads the text model and the KB first (typed
// questions work at once), then the image model, and answers messages {id, type, ...} with
// {id, ok, result | error}. Unsolicited messages: {type: 'progress' | 'ready' | 'warning'}.
import init, { HelplensEngine, checkPhoto } from '../pkg/helplens.js';
import { describe, fetchVerified, modelUrls } from './loader.js';
import { decode, thumbnail } from './photo.js';

let engine = null;
let wasm = null; // the module's exports (its memory, for stats)
let imageReady = null; // Promise: the image model is loaded (rejects when it cannot be)
let ocrUrl = null; // the OCR model's URL, fetched on the first photo
let ocrReady = null; // Promise: the OCR model is loaded, or failed (photos then go unread)

function post(msg) { postMessage(msg); }

function ready(extra = {}) {
  post({ type: 'ready', info: engine.info(), ...extra });
}

// Downloads files as one stage with one progress bar: bytes from all of them together.
async function stage(name, urls) {
  const entries = await Promise.all(urls.map(describe));
  const total = entries.reduce((n, e) => n + e.size, 0);
  let loaded = 0;
  let last = 0;
  post({ type: 'progress', stage: name, loaded, total });
  const files = await Promise.all(urls.map((url, i) => fetchVerified(url, entries[i], (n) => {
    loaded += n;
    const now = Date.now();
    if (now - last > 100) { last = now; post({ type: 'progress', stage: name, loaded, total }); }
  })));
  post({ type: 'progress', stage: name, loaded: total, total, verified: true });
  return { files, downloaded: loaded };
}

// The queue: one engine call at a time, in order (the engine refuses overlapping calls).
let queue = Promise.resolve();
function enqueue(fn) {
  const run = queue.then(fn);
  queue = run.catch(() => {});
  return run;
}

// models: the models' folder URL (its manifest.json names the text and image model); kb: the KB's URL.
async function load({ models, kb, backend }) {
  wasm = await init({ module_or_path: new URL('../pkg/helplens_bg.wasm', import.meta.url) });
  const { textModel, imageModel, ocrModel } = await modelUrls(models, kb);
  ocrUrl = ocrModel;
  const text = await stage('text', [textModel, kb]);
  // `true`: fetchVerified has checked every file's sha256 against manifest.json (WebCrypto), so
  // the engine need not hash the models again in wasm (about 200 ms of the cold start).
  engine = await HelplensEngine.create(text.files[0].bytes, text.files[1].bytes, backend || 'auto', true);
  ready({ downloaded: text.downloaded });
  imageReady = (async () => {
    const image = await stage('image', [imageModel]);
    await enqueue(() => engine.addImageModel(image.files[0].bytes));
    ready({ downloaded: image.downloaded });
  })();
  imageReady.catch((e) => post({ type: 'warning', code: 'photos-unavailable', message: String(e.message || e) }));
  return null;
}

// The OCR model, downloaded the first time a photo is attached or sent (with progress); when it
// cannot be loaded, photos are answered by the picture alone and the page is told once.
function loadOcr() {
  if (!ocrReady) {
    ocrReady = (async () => {
      if (!ocrUrl || !engine) return false;
      const ocr = await stage('ocr', [ocrUrl]);
      await enqueue(() => engine.addOcrModel(ocr.files[0].bytes));
      ready({ downloaded: ocr.downloaded });
      return true;
    })().catch((e) => {
      post({ type: 'warning', code: 'reading-unavailable', message: String(e.message || e) });
      return false;
    });
  }
  return ocrReady;
}

async function ask({ question, photo }) {
  if (!engine) throw new Error('the assistant is still loading');
  if (!photo) return enqueue(async () => ({ answer: await answered(() => engine.ask(question)) }));
  const bytes = new Uint8Array(await photo.arrayBuffer());
  checkPhoto(bytes);
  const img = await decode(photo);
  const thumb = img ? await thumbnail(img).catch(() => null) : null;
  await imageReady; // the photo waits for the image model; typed questions do not
  await loadOcr(); // and for the OCR model
  const answer = await enqueue(() => answered(() => (img
    ? engine.askWithPixels(question, img.pixels, img.width, img.height)
    : engine.askWithImageFile(question, bytes))));
  return { answer, thumb };
}

// Runs one engine call; when a GPU failure moved the session to the CPU, tells the page.
async function answered(call) {
  const before = engine.info().backend;
  const answer = await call();
  const info = engine.info();
  if (info.backend !== before) post({ type: 'ready', info, switched: true });
  return answer;
}

// The files this worker fetched for itself (modules, wasm): the page's service worker keeps them
// for offline use.
function resources() {
  return performance.getEntriesByType('resource').map((e) => e.name).concat([import.meta.url]);
}

const handlers = {
  load,
  ask,
  // The page attached a photo: start fetching the OCR model while the customer types.
  'photo-attached': () => { loadOcr(); return null; },
  resources,
  // Memory figures (the soak test and the memory bench): the wasm heap and this worker's JS heap.
  // `gc`: collect first where the browser exposes it (Chromium with --js-flags=--expose-gc).
  stats: ({ gc }) => {
    if (gc && typeof self.gc === 'function') self.gc();
    return { wasm_memory: wasm ? wasm.memory.buffer.byteLength : 0, js_heap: self.performance?.memory?.usedJSHeapSize ?? null };
  },
  // Tests: loses the WebGPU device as a driver reset would.
  'simulate-device-loss': () => enqueue(() => engine.simulateDeviceLoss()),
};

self.onmessage = async ({ data }) => {
  try {
    const handler = handlers[data.type];
    if (!handler) throw new Error(`unknown request ${data.type}`);
    post({ id: data.id, ok: true, result: await handler(data) });
  } catch (e) {
    // `code`: the engine's stable error code (see Error::code in src/error.rs), or none for
    // errors raised in JavaScript.
    post({ id: data.id, ok: false, error: String((e && e.message) || e), code: (e && typeof e.code === 'string') ? e.code : null });
  }
};
