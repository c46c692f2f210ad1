// Downloads the model and KB files for the engine's worker: checks each against the sha256 and
// size in the manifest.json beside it, reports bytes as they arrive, and keeps verified files in
// the Cache API under a key that contains the sha256, so a second visit reads them from this
// device (offline too) and a changed file on the server replaces the old copy.

const CACHE = 'helplens-files-v1';
const KEY_PARAM = 'helplens-sha256';

async function openCache() {
  try { return await caches.open(CACHE); } catch { return null; } // no Cache API (e.g. opaque origin)
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function cacheKey(url, sha) {
  const u = new URL(url);
  u.searchParams.set(KEY_PARAM, sha);
  return u.href;
}

function sameFile(key, url) {
  const u = new URL(key);
  u.searchParams.delete(KEY_PARAM);
  return u.href === new URL(url).href;
}

const manifests = new Map();

/** The manifest.json in `fileUrl`'s folder: fresh from the server, or the last copy this device
 * saw when the server cannot be reached. */
function manifestFor(fileUrl) {
  const url = new URL('manifest.json', fileUrl).href;
  if (!manifests.has(url)) manifests.set(url, fetchManifest(url));
  return manifests.get(url);
}

async function fetchManifest(url) {
  const cache = await openCache();
  let res;
  try {
    res = await fetch(url, { cache: 'no-cache' });
  } catch (e) {
    const kept = cache && (await cache.match(url));
    if (kept) return kept.json();
    throw new Error(`cannot reach ${url} (${e.message}) and this device has no copy yet`);
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}; every model and KB file needs an entry in the manifest.json beside it (scripts/manifest.py writes it)`);
  const text = await res.text();
  let manifest;
  try { manifest = JSON.parse(text); } catch { throw new Error(`${url} is not valid JSON`); }
  if (cache) await cache.put(url, new Response(text, { headers: { 'content-type': 'application/json' } })).catch(() => {});
  return manifest;
}

/** The text and image model URLs named by the manifest.json in the `folder` URL; a KB the
 * manifest lists under kb_text_models (a multilingual one) gets its own text model. */
export async function modelUrls(folder, kbUrl) {
  const manifest = await manifestFor(new URL('manifest.json', folder).href);
  const name = (role, fallback) => (typeof manifest[role] === 'string' ? manifest[role] : fallback);
  const kbName = kbUrl ? new URL(kbUrl).pathname.split('/').pop() : '';
  const own = manifest.kb_text_models && manifest.kb_text_models[kbName];
  return {
    textModel: new URL(typeof own === 'string' ? own : name('text_model', 'minilm-int8.gguf'), folder).href,
    imageModel: new URL(name('image_model', 'efficientnet-lite0-int8.gguf'), folder).href,
    // Absent from a manifest that names none: photos are then answered by the picture alone.
    ocrModel: typeof manifest.ocr_model === 'string' ? new URL(manifest.ocr_model, folder).href : null,
  };
}

/** What the manifest says about `url`: {sha256, size}. */
export async function describe(url) {
  const manifest = await manifestFor(url);
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop());
  const entry = manifest.files && manifest.files[name];
  if (!entry || !/^[0-9a-f]{64}$/.test(entry.sha256) || !(entry.size >= 0)) {
    throw new Error(`${name} has no sha256 and size in ${new URL('manifest.json', url).href}`);
  }
  return entry;
}

async function download(url, size, onBytes) {
  const res = await fetch(url, { cache: 'no-store' }); // the Cache API copy is the only one kept
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  const out = new Uint8Array(size);
  let at = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > size) throw new Error(`${url} is larger than the ${size} bytes its manifest says`);
    out.set(value, at);
    at += value.length;
    onBytes(value.length);
  }
  if (at !== size) throw new Error(`${url} ended after ${at} of ${size} bytes`);
  return out;
}

/**
 * The verified bytes of `url` ({bytes, source: 'cache' | 'network'}); `entry` is its manifest
 * entry, `onBytes(n)` is told of every chunk downloaded.
 */
export async function fetchVerified(url, entry, onBytes) {
  const cache = await openCache();
  const key = cacheKey(url, entry.sha256);
  const kept = cache && (await cache.match(key));
  if (kept) {
    const bytes = new Uint8Array(await kept.arrayBuffer());
    if (bytes.length === entry.size && (await sha256Hex(bytes)) === entry.sha256) return { bytes, source: 'cache' };
    await cache.delete(key); // damaged copy: fetch it again
  }
  const bytes = await download(url, entry.size, onBytes);
  const got = await sha256Hex(bytes);
  if (got !== entry.sha256) {
    throw new Error(`${url} does not match its manifest (sha256 ${got.slice(0, 12)}…, expected ${entry.sha256.slice(0, 12)}…): an incomplete upload or a proxy that changed it`);
  }
  if (cache) {
    try {
      await cache.put(key, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
      for (const req of await cache.keys()) if (req.url !== key && sameFile(req.url, url)) await cache.delete(req);
    } catch { /* quota exceeded or storage off: works online, downloads again next time */ }
  }
  return { bytes, source: 'network' };
}
