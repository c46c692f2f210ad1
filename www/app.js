// The plain demo page: a question box, a photo picker and the ranked answers. All engine work
// happens in worker.js; this file only talks to it and renders (as text, never as HTML).
const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map();
let nextId = 1;
let info = null;

function request(msg) {
  const id = nextId++;
  worker.postMessage({ ...msg, id });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function status(text) { $('status').textContent = text; }
function showError(text) { $('error').hidden = !text; $('error').textContent = text || ''; }

worker.onmessage = ({ data }) => {
  if (data.type === 'progress') {
    const p = $('progress');
    if (data.total) { p.max = data.total; p.value = data.loaded; }
    status(`Downloading ${data.label}: ${(data.loaded / 1e6).toFixed(1)} MB${data.total ? ` of ${(data.total / 1e6).toFixed(1)} MB` : ''}`);
  } else if (data.type === 'ready') {
    info = data.info;
    $('kb-name').textContent = info.name;
    $('backend').textContent = info.backend === 'gpu' ? `WebGPU (${info.adapter})` : 'CPU (WebAssembly SIMD)';
    $('backend').title = info.fallback_reason ? `On the CPU because: ${info.fallback_reason}` : '';
    document.body.dataset.backend = info.backend;
    $('send').disabled = false;
    $('progress').hidden = info.photos;
    status(info.photos ? 'Ready: ask a question or add a photo.' : 'Ready for questions (photos still loading)…');
    document.body.dataset.ready = info.photos ? 'photos' : 'text';
  } else if (data.type === 'warning') {
    showError(data.message);
  } else if (pending.has(data.id)) {
    const { resolve, reject } = pending.get(data.id);
    pending.delete(data.id);
    data.ok ? resolve(data.result) : reject(new Error(data.error));
  }
};
worker.onerror = (e) => { showError(`The assistant failed to start: ${e.message}`); };

function render(result) {
  const list = $('answers');
  list.replaceChildren();
  const byId = new Map(info.articles.map((a) => [a.id, a]));
  for (const a of result.answers) {
    const li = document.createElement('li');
    li.dataset.id = a.id;
    const title = document.createElement(a.url ? 'a' : 'strong');
    if (a.url) { title.href = a.url; title.rel = 'noopener'; }
    title.textContent = a.title;
    const score = document.createElement('small');
    score.textContent = ` (${a.score.toFixed(2)})`;
    const body = document.createElement('div');
    body.className = 'body';
    body.textContent = byId.get(a.id)?.body ?? '';
    li.append(title, score, body);
    list.append(li);
  }
  $('labels').hidden = !result.labels.length;
  $('labels').textContent = result.labels.length ? `Looks like: ${result.labels.map((l) => `${l.name} (${Math.round(l.p * 100)}%)`).join(', ')}` : '';
  $('handoff').hidden = result.confident;
  const contact = info.contact_url || (info.contact_email ? `mailto:${info.contact_email}` : '');
  if (contact) $('contact').href = contact;
  document.body.dataset.answered = String(Date.now());
}

$('ask').addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('');
  const question = $('question').value;
  const photo = $('photo').files[0] || null;
  $('send').disabled = true;
  status('Thinking…');
  try {
    render(await request({ type: 'ask', question, photo }));
    status('Here is what I found.');
  } catch (err) {
    showError(err.message);
    status('');
    document.body.dataset.answered = `error-${Date.now()}`;
  } finally {
    $('send').disabled = false;
  }
});
$('question').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('ask').requestSubmit(); }
});

// ?backend=cpu|webgpu|auto (default auto) forces a backend, for testing.
const backend = new URLSearchParams(location.search).get('backend') || 'auto';
request({ type: 'load', base: location.href, backend, textModel: 'models/minilm-int8.gguf', imageModel: 'models/efficientnet-lite0-int8.gguf', kb: 'models/demo-kb.safetensors' })
  .catch((e) => { showError(`Could not load the assistant: ${e.message}`); status(''); });
