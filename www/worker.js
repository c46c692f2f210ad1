// The engine's Web Worker: downloads the models and the KB, owns the wasm engine, decodes
// photos, and answers messages {id, type, ...} with {id, ok, result | error}. Keeping the
// engine here keeps the page responsive while a photo is being embedded.
import init, { HelplensEngine, checkPhoto } from './pkg/helplens.js';

// Photos above this many pixels are downscaled while decoding (the engine refuses > 24 MP).
const MAX_PIXELS = 24_000_000;
let engine = null;

async function download(url, label) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${label}: HTTP ${res.status} for ${url}`);
  const total = Number(res.headers.get('content-length')) || 0;
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    postMessage({ type: 'progress', label, loaded, total });
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

// backend: 'auto' (WebGPU on a hardware adapter that passes the engine's self-test, else the
// CPU), 'webgpu' or 'cpu'.
async function load({ base, textModel, imageModel, kb, backend }) {
  await init({ module_or_path: new URL('./pkg/helplens_bg.wasm', import.meta.url) });
  const [t, k] = await Promise.all([download(new URL(textModel, base), 'text model'), download(new URL(kb, base), 'knowledge base')]);
  engine = await HelplensEngine.create(t, k, backend || 'auto');
  postMessage({ type: 'ready', info: engine.info() });
  if (imageModel) {
    try {
      engine.addImageModel(await download(new URL(imageModel, base), 'image model'));
      postMessage({ type: 'ready', info: engine.info() });
    } catch (e) {
      postMessage({ type: 'warning', message: `Photos are unavailable: ${e.message || e}` });
    }
  }
}

// Decodes with the browser (any format it supports); returns null where it cannot, so the
// engine's own decoder can try and give a specific error.
async function decode(blob) {
  let bmp;
  try { bmp = await createImageBitmap(blob); } catch { return null; }
  let { width, height } = bmp;
  if (width * height > MAX_PIXELS) {
    const s = Math.sqrt(MAX_PIXELS / 2 / (width * height));
    const small = await createImageBitmap(bmp, { resizeWidth: Math.round(width * s), resizeHeight: Math.round(height * s), resizeQuality: 'high' });
    bmp.close();
    bmp = small;
    ({ width, height } = bmp);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const pixels = ctx.getImageData(0, 0, width, height).data;
  return { pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength), width, height };
}

async function ask({ question, photo }) {
  if (!engine) throw new Error('The assistant is still loading.');
  const backend = engine.info().backend;
  let answer;
  if (!photo) {
    answer = await engine.ask(question);
  } else {
    checkPhoto(new Uint8Array(await photo.arrayBuffer()));
    const img = await decode(photo);
    answer = img ? await engine.askWithPixels(question, img.pixels, img.width, img.height)
      : await engine.askWithImageFile(question, new Uint8Array(await photo.arrayBuffer()));
  }
  // A GPU failure moved the session to the CPU while answering: tell the page.
  if (engine.info().backend !== backend) postMessage({ type: 'ready', info: engine.info() });
  return answer;
}

// One request at a time, in order: the engine refuses a call while another is running.
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      let result;
      if (data.type === 'load') result = await load(data);
      else if (data.type === 'ask') result = await ask(data);
      else throw new Error(`unknown request ${data.type}`);
      postMessage({ id: data.id, ok: true, result });
    } catch (e) {
      postMessage({ id: data.id, ok: false, error: String((e && e.message) || e) });
    }
  });
};
