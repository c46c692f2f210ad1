// The page's side of the engine worker: requests as Promises, progress and state as events.

export class EngineClient extends EventTarget {
  constructor() {
    super();
    this.worker = new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module', name: 'helplens' });
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = ({ data }) => {
      if (data.id !== undefined && this.pending.has(data.id)) {
        const { resolve, reject } = this.pending.get(data.id);
        this.pending.delete(data.id);
        if (data.ok) resolve(data.result); else reject(Object.assign(new Error(data.error), { code: data.code }));
      } else if (data.type) {
        this.dispatchEvent(new CustomEvent(data.type, { detail: data }));
      }
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      const error = new Error(e.message || 'the engine worker failed to start');
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
      this.dispatchEvent(new CustomEvent('failed', { detail: { message: error.message } }));
    };
  }

  request(type, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...fields, type, id });
    });
  }

  /** urls: {models (folder), kb} (absolute); backend: 'auto' | 'webgpu' | 'cpu'. */
  load(urls, backend) { return this.request('load', { ...urls, backend }); }

  /** Resolves to {answer, thumb}; question may be empty when a photo is given. */
  ask(question, photo) { return this.request('ask', { question, photo: photo || null }); }

  resources() { return this.request('resources'); }
  /** A photo was attached: the worker starts fetching the text-reading model. */
  photoAttached() { return this.request('photo-attached'); }

  simulateDeviceLoss() { return this.request('simulate-device-loss'); }

  /** {wasm_memory, js_heap} of the worker, in bytes (js_heap: null where the browser has no performance.memory). */
  stats(gc = false) { return this.request('stats', { gc }); }
}
