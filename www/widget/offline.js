// Offline after the first visit. Models and the KB live in the Cache API (loader.js); the page
// and the widget's own files need a service worker at the page's level, which only the site can
// place (a service worker controls pages at or below its own folder). When the element has a
// service-worker attribute, the widget registers it and hands it the list of files to keep.

const MODEL_FILE = /\.(gguf|safetensors)(\?|$)/;

function sameOrigin(url) {
  try { return new URL(url).origin === location.origin; } catch { return false; }
}

/**
 * Registers `swUrl` and asks it to keep the page, its resources and `extra` (the engine worker's
 * modules and wasm). Resolves true once they are stored.
 */
export async function keepForOffline(swUrl, extra = []) {
  if (!('serviceWorker' in navigator)) return false;
  await navigator.serviceWorker.register(swUrl);
  const reg = await navigator.serviceWorker.ready;
  const page = new URL(location.href);
  page.hash = '';
  const urls = [page.href, ...performance.getEntriesByType('resource').map((e) => e.name), ...extra]
    .filter((u) => sameOrigin(u) && !MODEL_FILE.test(u));
  const channel = new MessageChannel();
  const done = new Promise((resolve) => { channel.port1.onmessage = ({ data }) => resolve(data && data.ok === true); });
  reg.active.postMessage({ type: 'keep', urls: [...new Set(urls)] }, [channel.port2]);
  return done;
}
