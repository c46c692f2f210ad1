// <helplens-chat>: the support chat widget. One module script tag loads it:
//
//   <script type="module" src="helplens/widget/helplens-chat.js"></script>
//   <helplens-chat kb="helplens/models/my-kb.safetensors" contact="help@example.com"></helplens-chat>
//
// Attributes (URLs relative to the page; defaults relative to this script, so the folder works
// from any static host or sub-path):
//   kb               the KB file            (default ../models/demo-kb.safetensors)
//   models           the models' folder, with manifest.json (default ../models/)
//   images           base for KB pictures   (default the KB file's folder)
//   contact          a URL or e-mail for the hand-off (default the KB's own)
//   backend          auto | webgpu | cpu    (default auto; the page's ?backend= overrides)
//   service-worker   a service worker to register for offline use (see offline.js)
//   open             start with the panel open
//   lang             language (default the page's <html lang>)
// Theme with CSS custom properties on the element: --helplens-accent, --helplens-bg, ... (widget.css).
import { EngineClient } from './engine.js';
import { strings } from './i18n.js';
import { ConversationStore, recordFeedback } from './storage.js';
import { el, icon, ICONS, message, typing } from './view.js';
import { looksLikeImage, wireAttachments } from './attachments.js';
import { keepForOffline } from './offline.js';

const HERE = import.meta.url;

function resolve(attr, fallback) {
  return new URL(attr || fallback, attr ? document.baseURI : HERE).href;
}

class HelplensChat extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot) return;
    this.t = strings(this.getAttribute('lang') || document.documentElement.lang);
    const models = resolve(this.getAttribute('models'), '../models/');
    const folder = models.endsWith('/') ? models : `${models}/`;
    this.urls = { models: folder, kb: resolve(this.getAttribute('kb'), `${folder}demo-kb.safetensors`) };
    this.imageBase = resolve(this.getAttribute('images'), this.urls.kb);
    this.store = new ConversationStore(this.urls.kb);
    this.info = null;
    this.articles = new Map();
    this.photo = null;
    this.answered = 0;
    this.build();
    this.renderLog();
    this.setState('idle');
    if (this.hasAttribute('open') || this.store.open) this.open({ focus: false });
  }

  // ---- structure ---------------------------------------------------------------------------

  build() {
    const { t } = this;
    const root = this.attachShadow({ mode: 'open' });
    const css = el('link', { rel: 'stylesheet', href: new URL('./widget.css', HERE).href });

    this.launcher = el('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false', 'aria-controls': 'panel', onclick: () => this.open() },
      icon(ICONS.chat), el('span', { class: 'launcher-text', text: t.launcher }), el('span', { class: 'visually-hidden', text: t.open }));

    this.heading = el('h2', { id: 'title', text: t.title });
    const header = el('div', { class: 'bar' },
      this.heading,
      el('button', { type: 'button', class: 'icon-button', 'aria-label': t.clear, title: t.clear, onclick: () => this.clear() }, icon(ICONS.clear)),
      el('button', { type: 'button', class: 'icon-button', 'aria-label': t.close, title: t.close, onclick: () => this.close() }, icon(ICONS.close)));

    this.statusText = el('p', { class: 'status-text', text: t.starting });
    this.progress = el('progress', { max: 1, value: 0, 'aria-label': t.progress });
    this.status = el('div', { class: 'status' }, this.statusText, this.progress);
    // Announces stages only (starting, ready, photo attached), not every percent of a download.
    this.announcer = el('p', { class: 'visually-hidden', role: 'status' });

    this.list = el('ol', { class: 'messages' });
    this.suggestions = el('div', { class: 'suggestions', role: 'group', 'aria-label': t.suggestions, hidden: true });
    this.log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t.conversation, tabindex: '0' },
      el('p', { class: 'intro', text: t.intro }), this.list, this.suggestions);

    this.previewImg = el('img', { alt: '' });
    this.previewName = el('span', { class: 'preview-name' });
    this.preview = el('div', { class: 'preview', hidden: true },
      this.previewImg, this.previewName,
      el('button', { type: 'button', class: 'icon-button', 'aria-label': t.removePhoto, title: t.removePhoto, onclick: () => this.setPhoto(null, true) }, icon(ICONS.close)));

    this.fileInput = el('input', { type: 'file', accept: 'image/*', hidden: true, tabindex: '-1' });
    this.cameraInput = el('input', { type: 'file', accept: 'image/*', capture: 'environment', hidden: true, tabindex: '-1' });
    this.input = el('textarea', { id: 'question', rows: '2', maxlength: '4000', placeholder: t.placeholder, autocomplete: 'off' });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    this.sendButton = el('button', { type: 'submit', class: 'send', 'aria-label': t.send, title: t.send }, icon(ICONS.send));
    const cameraButton = el('button', { type: 'button', class: 'icon-button camera', 'aria-label': t.camera, title: t.camera, onclick: () => this.cameraInput.click() }, icon(ICONS.camera));
    cameraButton.hidden = !matchMedia('(pointer: coarse)').matches;
    this.form = el('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); } },
      this.preview,
      el('label', { for: 'question', class: 'visually-hidden', text: t.question }),
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'icon-button attach', 'aria-label': t.attach, title: t.attach, onclick: () => this.fileInput.click() }, icon(ICONS.attach)),
        cameraButton, this.input, this.sendButton),
      this.fileInput, this.cameraInput);

    this.engineLine = el('span', { class: 'engine' });
    const footer = el('div', { class: 'fine' }, el('span', { text: t.privacy }), ' ', this.engineLine);
    const dropHint = el('div', { class: 'drop-hint', 'aria-hidden': 'true' }, el('span', { text: t.dropHere }));

    this.panel = el('section', { id: 'panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'title', hidden: true },
      header, this.status, this.announcer, this.log, this.form, footer, dropHint);
    this.panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); this.close(); } });

    wireAttachments({ pickers: [this.fileInput, this.cameraInput], pasteTarget: this.panel, dropZone: this.panel, onFile: (f) => this.setPhoto(f) });
    root.append(css, this.launcher, this.panel);
  }

  setState(state) {
    this.state = state;
    this.dataset.state = state;
  }

  get ctx() {
    const contactAttr = (this.getAttribute('contact') || '').trim();
    let contact = { url: this.info && this.info.contact_url, email: this.info && this.info.contact_email };
    if (contactAttr) {
      const email = contactAttr.replace(/^mailto:/i, '');
      contact = /^[^\s:/]+@[^\s/]+$/.test(email) ? { email } : { url: contactAttr };
    }
    return { t: this.t, articles: this.articles, contact, imageBase: this.imageBase, onFeedback: (m, v) => this.feedback(m, v), onEditRead: (text) => this.editRead(text) };
  }

  // ---- open / close ------------------------------------------------------------------------

  open({ focus = true } = {}) {
    this.panel.hidden = false;
    this.launcher.hidden = true;
    this.launcher.setAttribute('aria-expanded', 'true');
    this.dataset.open = '';
    this.store.setOpen(true);
    this.startEngine();
    this.scrollToEnd();
    if (focus) this.input.focus();
  }

  close() {
    this.panel.hidden = true;
    this.launcher.hidden = false;
    this.launcher.setAttribute('aria-expanded', 'false');
    delete this.dataset.open;
    this.store.setOpen(false);
    this.launcher.focus();
  }

  // ---- engine ------------------------------------------------------------------------------

  backend() {
    const forced = this.fallbackToCpu ? 'cpu' : new URLSearchParams(location.search).get('backend');
    const b = forced || this.getAttribute('backend') || 'auto';
    return ['auto', 'webgpu', 'cpu'].includes(b) ? b : 'auto';
  }

  startEngine() {
    if (this.engine) return;
    this.setState('loading');
    this.showStatus(this.t.starting, 0);
    this.announce(this.t.starting);
    this.downloaded = 0;
    const engine = new EngineClient();
    this.engine = engine;
    let resolveText;
    this.textReady = new Promise((resolve, reject) => { resolveText = resolve; this.rejectText = reject; });
    this.textReady.catch(() => {}); // also reported in the chat by loadFailed
    engine.addEventListener('progress', ({ detail: d }) => {
      if (d.verified) { this.showStatus(this.t.verifying, 1); return; }
      this.showStatus(d.loaded ? this.t.downloading(d.stage, d.loaded, d.total) : this.t.fromDevice, d.total ? d.loaded / d.total : 0);
    });
    engine.addEventListener('ready', ({ detail: d }) => {
      this.downloaded += d.downloaded || 0;
      this.dataset.downloaded = String(this.downloaded);
      this.ready(d.info, d.switched);
      resolveText();
    });
    engine.addEventListener('warning', ({ detail: d }) => {
      this.say('error', `${this.t.photosUnavailable}${this.t.sep}${d.message}`);
      this.status.hidden = true;
      this.setState('text-only');
    });
    const failed = (msg, code) => this.loadFailed(msg, code);
    engine.addEventListener('failed', ({ detail }) => failed(detail.message, null));
    engine.load(this.urls, this.backend()).catch((e) => failed(e.message, e.code));
  }

  loadFailed(detail, code) {
    if (this.state === 'error') return;
    this.setState('error');
    this.status.hidden = true;
    this.engine.worker.terminate();
    this.engine = null;
    this.rejectText(new Error(detail));
    this.say('error', `${this.t.loadFailed}${this.t.sep}${detail}`);
    // The GPU backend is missing, failed, or hit a bug of ours (reported in the console): offer
    // the CPU instead.
    const gpu = ['gpu_unavailable', 'gpu_lost', 'gpu_bug'].includes(code);
    if (code === 'gpu_bug') console.error(`helplens: GPU backend bug (${detail}); please report it`);
    const retry = el('button', {
      type: 'button', class: 'chip',
      onclick: () => { retry.remove(); this.fallbackToCpu = this.fallbackToCpu || gpu; this.startEngine(); },
    }, gpu ? this.t.retryCpu : this.t.retry);
    this.list.lastElementChild.append(retry);
  }

  announce(text) {
    this.announcer.textContent = text;
  }

  showStatus(text, fraction) {
    this.status.hidden = false;
    this.statusText.textContent = text;
    this.progress.value = Math.max(0, Math.min(1, fraction));
  }

  ready(info, switched) {
    const first = !this.info;
    this.info = info;
    this.articles = new Map(info.articles.map((a) => [a.id, a]));
    this.heading.textContent = info.name || this.t.title;
    this.dataset.backend = info.backend;
    this.engineLine.textContent = info.backend === 'gpu' ? this.t.engineGpu(info.adapter || 'GPU') : this.t.engineCpu;
    this.engineLine.title = info.fallback_reason || '';
    if (switched) this.say('note', this.t.switchedToCpu(info.fallback_reason || this.t.deviceLost));
    if (info.photos) {
      if (this.state !== 'ready') this.announce(this.t.ready);
      this.setState('ready');
      this.status.hidden = true;
      const sw = this.getAttribute('service-worker');
      if (sw && !this.offlineAsked) {
        this.offlineAsked = true;
        this.engine.resources()
          .then((extra) => keepForOffline(new URL(sw, document.baseURI).href, extra))
          .then((ok) => { if (ok) this.dataset.offline = 'ready'; })
          .catch(() => {}); // offline use is a bonus; online use is unaffected
      }
    } else if (this.state !== 'text-only') {
      this.setState('text');
      this.showStatus(this.t.textReady, 0);
      this.announce(this.t.textReady);
    }
    if (first) this.renderLog();
  }

  // ---- conversation ------------------------------------------------------------------------

  renderLog() {
    const ctx = this.ctx;
    // A re-render (the articles arrived, a clear) is not news: the live region holds it back.
    this.log.setAttribute('aria-busy', 'true');
    this.list.replaceChildren(...this.store.messages.map((m) => message(ctx, m)));
    this.renderSuggestions();
    requestAnimationFrame(() => this.log.removeAttribute('aria-busy'));
  }

  renderSuggestions() {
    const items = (this.info && this.info.suggestions) || [];
    this.suggestions.hidden = !items.length || this.store.messages.some((m) => m.role === 'user');
    this.suggestions.replaceChildren(...items.map((q) => el('button', { type: 'button', class: 'chip', onclick: () => { this.input.value = q; this.send(); } }, q)));
  }

  append(msg) {
    const node = message(this.ctx, msg);
    this.list.append(node);
    this.renderSuggestions();
    // An answer is read from its start: show the question above it, not the end of a long article.
    const question = msg.kind === 'answer' && node.previousElementSibling;
    if (question) requestAnimationFrame(() => { this.log.scrollTop = question.offsetTop - 8; });
    else this.scrollToEnd();
    return node;
  }

  say(kind, text) {
    return this.append(this.store.add({ role: 'bot', kind, text }));
  }

  scrollToEnd() {
    requestAnimationFrame(() => { this.log.scrollTop = this.log.scrollHeight; });
  }

  /** Puts the text read in a photo into the question box, to be corrected and asked again. */
  editRead(text) {
    this.input.value = text;
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
  }

  setPhoto(file, announce = false) {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    if (file && !looksLikeImage(file)) {
      this.say('error', this.t.notImage(file.name || '?'));
      file = null;
    }
    this.photo = file;
    this.preview.hidden = !file;
    if (file) {
      this.previewUrl = URL.createObjectURL(file);
      this.previewImg.hidden = false;
      this.previewImg.onerror = () => { this.previewImg.hidden = true; }; // e.g. HEIC: the name still shows
      this.previewImg.src = this.previewUrl;
      this.previewName.textContent = this.t.photoAttached(file.name || 'photo');
      this.announce(this.previewName.textContent);
      this.input.focus();
      // The text-reading model downloads now, while the customer types.
      if (this.engine) this.engine.photoAttached().catch(() => {});
    } else {
      this.previewImg.removeAttribute('src');
      if (announce) { this.announce(this.t.photoRemoved); this.input.focus(); }
    }
  }

  async send() {
    if (this.busy) return;
    const question = this.input.value.trim();
    const photo = this.photo;
    if (!question && !photo) {
      this.say('error', this.t.emptyQuestion);
      this.input.focus();
      return;
    }
    this.busy = true;
    this.dataset.busy = '';
    const sent = this.store.add({ role: 'user', text: question, photoName: photo ? photo.name || 'photo' : undefined });
    const sentNode = this.append(sent);
    this.input.value = '';
    this.setPhoto(null);
    const dots = typing(this.t);
    this.list.append(dots);
    this.scrollToEnd();
    if (!this.engine) this.startEngine();
    try {
      await this.textReady;
      if (photo && this.state === 'text') this.say('note', this.t.photosWait);
      const { answer, thumb } = await this.engine.ask(question, photo);
      if (thumb) sentNode.replaceWith(message(this.ctx, this.store.update(sent.id, { thumb })));
      dots.remove();
      this.append(this.store.add({ role: 'bot', kind: 'answer', question, answer }));
    } catch (e) {
      dots.remove();
      if (this.state === 'error') return; // the load failure is already in the chat, with a retry
      const lead = e.code === 'empty_question' ? null : photo ? this.t.photoError : this.t.askError;
      this.say('error', lead ? `${lead}${this.t.sep}${e.message}` : this.t.emptyQuestion);
    } finally {
      dots.remove();
      this.busy = false;
      delete this.dataset.busy;
      this.dataset.answered = String(++this.answered);
    }
  }

  feedback(msg, value) {
    const top = msg.answer && msg.answer.answers[0];
    recordFeedback({ article: top && top.id, helpful: value === 'yes', question: msg.question || '' });
    const updated = this.store.update(msg.id, { feedback: value });
    const node = this.list.querySelector(`li[data-msg="${CSS.escape(msg.id)}"]`);
    if (node && updated) {
      const next = message(this.ctx, updated);
      node.replaceWith(next);
      // The buttons are gone: keep the keyboard user's place on the thanks that replaced them.
      const thanks = next.querySelector('.feedback > p');
      if (thanks) { thanks.tabIndex = -1; thanks.focus(); }
    }
  }

  clear() {
    this.store.clear();
    this.renderLog();
    this.input.focus();
  }

  /** Tests: loses the WebGPU device as a driver reset would; the next answer comes from the CPU. */
  simulateDeviceLoss() {
    return this.engine ? this.engine.simulateDeviceLoss() : Promise.resolve(false);
  }
}

if (!customElements.get('helplens-chat')) customElements.define('helplens-chat', HelplensChat);
