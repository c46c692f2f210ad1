// The demo site's service worker: makes the support page and the helplens widget work offline
// after the first visit. Network first (a deploy is seen at once), the last good copy when the
// network fails. Model and KB files are left to the widget, which keeps verified copies in the
// Cache API itself. Same-origin GET requests only.
const CACHE = 'helplens-site-v1';
const MODEL_FILE = /\.(gguf|safetensors)(\?|$)/;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

// {type: 'keep', urls}: store these now (the widget sends what the first visit loaded before
// this worker controlled the page). Replies {ok} on the transferred port.
self.addEventListener('message', (e) => {
  if (!e.data || e.data.type !== 'keep') return;
  const port = e.ports[0];
  e.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const results = await Promise.allSettled(e.data.urls.map(async (url) => {
      if (new URL(url).origin !== self.location.origin || MODEL_FILE.test(url)) return;
      const res = await fetch(url, { cache: 'no-cache' });
      if (res.ok) await cache.put(url, res);
    }));
    if (port) port.postMessage({ ok: results.every((r) => r.status === 'fulfilled') });
  })());
});

self.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin || MODEL_FILE.test(req.url)) return;
  e.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') {
        const copy = res.clone();
        e.waitUntil(caches.open(CACHE).then((c) => c.put(req, copy)));
      }
      return res;
    } catch (err) {
      const kept = await caches.match(req, { ignoreVary: true });
      if (kept) return kept;
      throw err;
    }
  })());
});
