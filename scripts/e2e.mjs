// End-to-end test of the <helplens-chat> support widget in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), served by scripts/serve.py with its strict CSP.
//   node scripts/e2e.mjs
// A customer's session on the demo page (CPU): keyboard-only opening, the loading progress, a
// typed question answered before the image model has arrived, photos by picker, paste and drag
// and drop, bad input (a non-image, a text file named .jpg, an empty question, a 50-megapixel
// photo), the hand-off, feedback, the conversation after a reload (models from the Cache API),
// offline after the first visit (server stopped), axe-core in light and dark mode. Then WebGPU
// (SwiftShader) with a lost device; a Chromium without WebGPU asked for it; and, on a phone, a
// KB full of markup from a sub-path in Chinese (rendered inert; a damaged download refused; a
// changed KB replaces the cached one). Everywhere: no CSP violation, no console error, no
// request to another origin. Screenshots go to tests/out/screenshots/ (git-ignored).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { chromium } from 'playwright-core';

const SHOTS = 'tests/out/screenshots';
const port = 19000 + Math.floor(Math.random() * 1000);
const origin = `http://127.0.0.1:${port}`;
const DESKTOP = { width: 1280, height: 800 };
const NARROW = { width: 320, height: 640 };
mkdirSync(SHOTS, { recursive: true });

let server;
async function startServer() {
  server = spawn('python3', ['scripts/serve.py', '--port', String(port), 'www'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => server.stdout.once('data', resolve));
}
function stopServer() {
  const s = server;
  server = null;
  if (!s) return Promise.resolve();
  return new Promise((resolve) => { s.once('exit', resolve); s.kill(); });
}

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

// ---- fixtures -------------------------------------------------------------------------------

// The markup KB (tests/fixtures/xss-kb) is embedded with the CLI, once per change of its sources.
function xssKb() {
  const out = 'tests/out/xss-kb.safetensors';
  const newest = Math.max(...['tests/fixtures/xss-kb/kb.toml', ...readdirSync('tests/fixtures/xss-kb/articles').map((f) => `tests/fixtures/xss-kb/articles/${f}`),
    'www/models/minilm-int8.gguf', 'www/models/efficientnet-lite0-int8.gguf', 'target/release/helplens'].map((f) => statSync(f).mtimeMs));
  let built = 0;
  try { built = statSync(out).mtimeMs; } catch { /* not built yet */ }
  if (built < newest) {
    execFileSync('target/release/helplens', ['build-kb', 'tests/fixtures/xss-kb', '-o', out,
      '--text-model', 'www/models/minilm-int8.gguf', '--image-model', 'www/models/efficientnet-lite0-int8.gguf'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return out;
}

// A site in a sub-folder that loads the widget from ../widget/ with its own KB, in Chinese.
const SUB = 'www/tmp-e2e-sub';
function writeSubSite(kbFile) {
  mkdirSync(SUB, { recursive: true });
  copyFileSync(kbFile, `${SUB}/kb.safetensors`);
  execFileSync('python3', ['scripts/manifest.py', SUB]);
  writeFileSync(`${SUB}/index.html`, `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>子目录测试</title><link rel="icon" href="data:,">
<script type="module" src="../widget/helplens-chat.js"></script></head>
<body><main><h1>子目录中的帮助页面</h1></main>
<helplens-chat kb="kb.safetensors" models="../models/" contact="https://help.example.org/chat"></helplens-chat></body></html>
`);
}

// A 50-megapixel PNG (7100 × 7100, a gradient), written with zlib alone.
function bigPng() {
  const w = 7100;
  const h = 7100;
  const row = Buffer.alloc(1 + w * 3);
  const rows = Buffer.alloc(row.length * h);
  for (let y = 0; y < h; y++) {
    row.fill(0);
    for (let x = 0; x < w; x++) { row[1 + 3 * x] = (x * 255 / w) | 0; row[2 + 3 * x] = (y * 255 / h) | 0; row[3 + 3 * x] = 128; }
    row.copy(rows, y * row.length);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 1 })), chunk('IEND', Buffer.alloc(0))]);
}

// ---- page helpers ---------------------------------------------------------------------------

const problems = [];
const foreign = [];
let dialogs = 0;
let offlinePhase = false;
let axeRunning = false;

function watch(page, label) {
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // While the server is stopped on purpose, failed requests are expected; nothing else is.
    if (offlinePhase && /net::ERR_|Failed to fetch/.test(m.text())) return;
    // axe-core itself tries to add a <style> while it runs; the page's CSP blocks it (see axe()).
    if (axeRunning && /^Applying inline style violates/.test(m.text())) return;
    problems.push(`${label}: console error: ${m.text()}`);
  });
  page.on('dialog', (d) => { dialogs++; d.dismiss(); });
}

async function newContext(browser, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  context.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')) foreign.push(u);
  });
  await context.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return context;
}

const cspSeen = [];
async function collectCsp(page) {
  if (!page.isClosed()) cspSeen.push(...(await page.evaluate(() => window.cspViolations || [])));
}

/** The widget's state and messages, read from its open shadow root. */
function widget(page) {
  return page.evaluate(() => {
    const host = document.querySelector('helplens-chat');
    const root = host.shadowRoot;
    const q = (s) => root.querySelector(s);
    return {
      ...host.dataset,
      panelOpen: !q('.panel').hidden,
      statusText: q('.status').hidden ? '' : q('.status-text').textContent,
      progress: q('progress').value,
      suggestions: q('.suggestions').hidden ? [] : [...root.querySelectorAll('.suggestions button')].map((b) => b.textContent),
      heading: q('.bar h2').textContent,
      engine: q('.fine .engine').textContent,
      messages: [...root.querySelectorAll('.messages > li')].map((li) => ({
        kind: li.dataset.kind, top: li.dataset.top || '', confident: li.dataset.confident, text: li.textContent,
        looksLike: li.querySelector('.looks-like')?.textContent || '',
        reads: li.querySelector('.reads')?.textContent || '',
      })),
    };
  });
}

async function answeredCount(page) {
  return Number(await page.evaluate(() => document.querySelector('helplens-chat').dataset.answered || 0));
}

async function waitAnswered(page, before, timeout = 120_000) {
  await page.waitForFunction((n) => Number(document.querySelector('helplens-chat').dataset.answered || 0) > n, before, { timeout });
  return (await widget(page)).messages.at(-1);
}

async function askText(page, question) {
  const before = await answeredCount(page);
  await page.fill('helplens-chat textarea', question);
  await page.press('helplens-chat textarea', 'Enter');
  return waitAnswered(page, before);
}

async function previewShown(page) {
  return page.evaluate(() => !document.querySelector('helplens-chat').shadowRoot.querySelector('.preview').hidden);
}

async function sendAttached(page, before) {
  await page.click('helplens-chat button.send');
  return waitAnswered(page, before);
}

async function attachByPicker(page, file) {
  await page.setInputFiles('helplens-chat input[type=file]:not([capture])', file);
}

// A File built in the page from bytes (as a paste or a drop from the desktop would carry).
async function dataTransfer(page, { name, mimeType, buffer }) {
  return page.evaluateHandle(({ name, mimeType, b64 }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type: mimeType }));
    return dt;
  }, { name, mimeType, b64: buffer.toString('base64') });
}

async function attachByPaste(page, file) {
  const dt = await dataTransfer(page, file);
  await page.evaluate((dt) => {
    const ta = document.querySelector('helplens-chat').shadowRoot.querySelector('textarea');
    ta.focus();
    ta.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, composed: true, cancelable: true }));
  }, dt);
}

async function attachByDrop(page, file) {
  const dt = await dataTransfer(page, file);
  const panel = 'helplens-chat .panel';
  await page.dispatchEvent(panel, 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent(panel, 'dragover', { dataTransfer: dt });
  const hint = await page.evaluate(() => document.querySelector('helplens-chat').shadowRoot.querySelector('.panel').classList.contains('dragging'));
  await page.dispatchEvent(panel, 'drop', { dataTransfer: dt });
  return hint;
}

const photo = (name, mimeType) => ({ name, mimeType, buffer: readFileSync(`tests/heldout/photos/${name}`) });

async function shoot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}-desktop.png` });
  await page.setViewportSize(NARROW);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: `${SHOTS}/${name}-320.png` });
  const fit = await page.evaluate(() => {
    const root = document.querySelector('helplens-chat').shadowRoot;
    const box = (root.querySelector('.panel:not([hidden])') || root.querySelector('.launcher')).getBoundingClientRect();
    return { left: box.left, right: box.right, top: box.top, bottom: box.bottom, scroll: document.scrollingElement.scrollWidth };
  });
  check(fit.left >= 0 && fit.right <= 320 && fit.top >= 0 && fit.bottom <= 640 && fit.scroll <= 320, `${name} fits a 320 px screen ${JSON.stringify(fit)}`);
  await page.setViewportSize(DESKTOP);
}

const AXE = readFileSync('node_modules/axe-core/axe.min.js', 'utf8');
async function axe(page, what) {
  // Injected through the DevTools protocol (Runtime.evaluate), not as a page script: the CSP stays
  // strict. axe-core tries to add an inline <style> while it runs, which that CSP refuses: those
  // style-src reports, made while axe runs, are axe's and are not counted against the widget.
  axeRunning = true;
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const seen = window.cspViolations.length;
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    window.cspViolations = window.cspViolations.filter((v, i) => i < seen || !/^style-src-(elem|attr) inline$/.test(v));
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  await page.evaluate(() => 0); // lets the console reports made during the run arrive first
  axeRunning = false;
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe-core (${what}): no serious or critical violations ${bad.length ? JSON.stringify(bad) : ''}`);
  const minor = violations.filter((v) => !bad.includes(v));
  if (minor.length) console.log(`     axe (${what}) minor: ${JSON.stringify(minor)}`);
}

async function cacheEntries(page, fileUrl) {
  return page.evaluate(async (u) => {
    const cache = await caches.open('helplens-files-v1');
    return (await cache.keys()).map((r) => r.url).filter((k) => k.split('?')[0] === u);
  }, fileUrl);
}

// ---- the test -------------------------------------------------------------------------------

await startServer();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  // == CPU: a customer's session on the demo page ==
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  watch(page, 'cpu');
  // The image model waits at the door until a typed question has been answered: questions must
  // not wait for it.
  let releaseImage;
  const imageGate = new Promise((r) => { releaseImage = r; });
  let imageRequests = 0;
  await ctx.route('**/efficientnet-lite0-int8.gguf', async (route) => { imageRequests++; await imageGate; await route.continue(); });
  const res = await page.goto(`${origin}/?backend=cpu`);
  check((res.headers()['content-security-policy'] || '').includes("script-src 'self' 'wasm-unsafe-eval'"), 'served with the strict Content-Security-Policy');
  await page.waitForFunction(() => customElements.get('helplens-chat') && document.querySelector('helplens-chat').dataset.state);
  let w = await widget(page);
  check(w.state === 'idle' && !w.panelOpen, 'closed on arrival; nothing downloaded before the customer opens it');
  const themed = await page.evaluate(() => {
    const host = document.querySelector('helplens-chat');
    const launcher = host.shadowRoot.querySelector('.launcher');
    host.style.setProperty('--helplens-accent', 'rgb(200, 0, 100)');
    const bg = getComputedStyle(launcher).backgroundColor;
    host.style.removeProperty('--helplens-accent');
    return bg;
  });
  check(themed === 'rgb(200, 0, 100)', `themable with CSS custom properties (--helplens-accent → ${themed})`);
  await shoot(page, '1-closed');

  // Keyboard only: Tab to the launcher, Enter opens, focus lands in the question box.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 5, downloadThroughput: 12e6, uploadThroughput: -1 });
  let onLauncher = false;
  for (let i = 0; i < 12 && !onLauncher; i++) {
    await page.keyboard.press('Tab');
    onLauncher = await page.evaluate(() => document.activeElement?.tagName === 'HELPLENS-CHAT' && document.activeElement.shadowRoot.activeElement?.classList.contains('launcher'));
  }
  check(onLauncher, 'the launcher is reachable with Tab');
  await page.keyboard.press('Enter');
  const focusInBox = await page.waitForFunction(() => document.querySelector('helplens-chat').shadowRoot.activeElement?.tagName === 'TEXTAREA', null, { timeout: 5000 }).then(() => true, () => false);
  check(focusInBox, 'Enter opens the panel and focuses the question box');

  await page.waitForFunction(() => document.querySelector('helplens-chat').shadowRoot.querySelector('progress').value > 0.05, null, { timeout: 60_000 });
  w = await widget(page);
  check(/MB/.test(w.statusText) && /\d+%/.test(w.statusText) && w.progress > 0 && w.progress < 1, `a progress bar with bytes and percent: "${w.statusText}" (${w.progress.toFixed(2)})`);
  await shoot(page, '2-loading');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  await page.waitForSelector('helplens-chat[data-state="text"]', { timeout: 120_000 });
  w = await widget(page);
  check(w.suggestions.length >= 3, `suggested questions from the KB: ${JSON.stringify(w.suggestions)}`);
  let m = await askText(page, 'the printer keeps saying paper jam but there is no paper stuck');
  w = await widget(page);
  check(m.top === 'printer-paper-jam' && w.state === 'text' && imageRequests > 0, `typed question answered before the image model arrived → ${m.top} (state ${w.state})`);
  const card = await page.evaluate(() => {
    const li = [...document.querySelector('helplens-chat').shadowRoot.querySelectorAll('.messages > li')].at(-1);
    return {
      title: li.querySelector('.card-title')?.textContent, listItems: li.querySelectorAll('.md li').length, strong: li.querySelectorAll('.md strong').length,
      more: li.querySelector('a.more')?.href, feedback: li.querySelectorAll('.feedback button').length,
    };
  });
  check(card.title && card.listItems > 0 && card.strong > 0 && card.more === 'https://support.example.com/articles/printer-paper-jam' && card.feedback === 2,
    `answer card: title, Markdown (lists, bold), full-article link, feedback ${JSON.stringify(card)}`);
  releaseImage();
  await page.waitForSelector('helplens-chat[data-state="ready"]', { timeout: 120_000 });
  await ctx.unroute('**/efficientnet-lite0-int8.gguf');

  // Photos: the picker, a pasted screenshot, a dropped file.
  let before = await answeredCount(page);
  await attachByPicker(page, 'tests/heldout/photos/espresso-1.jpg');
  check(await previewShown(page), 'a picked photo shows a preview before sending');
  m = await sendAttached(page, before);
  const sentThumb = await page.evaluate(() => [...document.querySelector('helplens-chat').shadowRoot.querySelectorAll('.messages > li.user img.sent-photo')].length);
  const kbThumb = await page.evaluate(() => [...document.querySelector('helplens-chat').shadowRoot.querySelectorAll('.messages > li')].at(-1).querySelector('img.thumb')?.getAttribute('src') || '');
  check(m.top === 'espresso-setup' && /Looks like: .*espresso/i.test(m.looksLike) && sentThumb === 1 && kbThumb.endsWith('kb/images/espresso-machine.png'),
    `photo by picker → ${m.top}; "${m.looksLike}"; sent thumbnail ${sentThumb}; KB picture ${kbThumb}`);
  await page.evaluate(() => document.querySelector('helplens-chat').shadowRoot.querySelector('.messages > li:last-child img.thumb')?.decode?.().catch(() => {}));
  await shoot(page, '3-answer-photo');

  await attachByPaste(page, photo('camera-1.jpg', 'image/jpeg'));
  const pasted = await previewShown(page);
  await page.click('helplens-chat .preview button');
  const removed = !(await previewShown(page));
  check(pasted && removed, 'a pasted screenshot shows a preview, and the preview can be removed');
  before = await answeredCount(page);
  await attachByPaste(page, photo('camera-1.jpg', 'image/jpeg'));
  await page.fill('helplens-chat textarea', '');
  m = await sendAttached(page, before);
  check(m.top === 'camera-setup', `photo by paste → ${m.top}; "${m.looksLike}"`);

  before = await answeredCount(page);
  const hint = await attachByDrop(page, photo('desk-phone-1.jpg', 'image/jpeg'));
  m = await sendAttached(page, before);
  check(hint && m.top === 'desk-phone-setup', `photo by drag and drop (drop hint shown: ${hint}) → ${m.top}; "${m.looksLike}"`);

  // A photographed error screen is answered by what it says, and the page shows what it read.
  before = await answeredCount(page);
  const tRead = Date.now();
  await attachByPicker(page, 'www/demo/printer-error.jpg');
  m = await sendAttached(page, before);
  check(m.top === 'printer-paper-jam' && /Reads: .*P01.*Paper jam/i.test(m.reads), `a photographed printer error screen → ${m.top}; "${m.reads}" (${Date.now() - tRead} ms)`);
  // The text read can be corrected and asked again.
  await page.click('helplens-chat .messages > li:last-child .edit-read');
  const typed = await page.evaluate(() => document.querySelector('helplens-chat').shadowRoot.querySelector('textarea').value);
  check(/P01 Paper jam/.test(typed), `"Correct and ask" puts the text read into the question box: "${typed}"`);
  m = await askText(page, typed.replace('Check cassette', 'check the paper cassette'));
  check(m.top === 'printer-paper-jam', `the corrected text asked again → ${m.top}`);

  // Bad input: a clear message in the chat, and the widget keeps working.
  let n = (await widget(page)).messages.length;
  await attachByDrop(page, { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
  w = await widget(page);
  m = w.messages.at(-1);
  check(w.messages.length === n + 1 && m.kind === 'error' && /not a photo/.test(m.text) && !(await previewShown(page)), `a dropped text file: "${m.text}"`);

  before = await answeredCount(page);
  await attachByPicker(page, { name: 'receipt.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('this is a text file named .jpg') });
  m = await sendAttached(page, before);
  check(m.kind === 'error' && /photo/i.test(m.text), `a text file named .jpg: "${m.text}"`);

  // HEIC where the browser cannot decode it (Chromium cannot): a brand box is enough to say so.
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic'), Buffer.alloc(64)]);
  before = await answeredCount(page);
  await attachByPicker(page, { name: 'IMG_0001.HEIC', mimeType: 'image/heic', buffer: heic });
  m = await sendAttached(page, before);
  check(m.kind === 'error' && /format|HEIC|JPEG/i.test(m.text), `a HEIC photo the browser cannot decode: "${m.text}"`);

  before = await answeredCount(page);
  await attachByPicker(page, { name: 'cut.jpg', mimeType: 'image/jpeg', buffer: readFileSync('tests/heldout/photos/camera-1.jpg').subarray(0, 600) });
  m = await sendAttached(page, before);
  check(m.kind === 'error' && /incomplete|cut off/.test(m.text), `a truncated JPEG: "${m.text}"`);

  n = (await widget(page)).messages.length;
  await page.fill('helplens-chat textarea', '   ');
  await page.press('helplens-chat textarea', 'Enter');
  w = await widget(page);
  check(w.messages.length === n + 1 && w.messages.at(-1).kind === 'error' && /question/.test(w.messages.at(-1).text), `an empty question: "${w.messages.at(-1).text}"`);

  before = await answeredCount(page);
  const tBig = Date.now();
  await attachByPicker(page, { name: 'huge.png', mimeType: 'image/png', buffer: bigPng() });
  m = await sendAttached(page, before);
  check(m.kind === 'answer', `a 50-megapixel photo is scaled down and answered (${m.kind}, ${Date.now() - tBig} ms)`);

  m = await askText(page, 'what is the capital of Australia?');
  const handoff = await page.evaluate(() => [...[...document.querySelector('helplens-chat').shadowRoot.querySelectorAll('.messages > li')].at(-1).querySelectorAll('.handoff a')].map((a) => a.href));
  const candidates = await page.evaluate(() => [...document.querySelector('helplens-chat').shadowRoot.querySelectorAll('.messages > li:last-child .candidates > li')].length);
  check(m.confident === 'false' && candidates >= 2 && handoff.includes('https://support.example.com/contact') && handoff.includes('mailto:help@example.com'),
    `not confident: ${candidates} candidates and a hand-off ${JSON.stringify(handoff)}`);
  await page.evaluate(() => document.querySelector('helplens-chat').shadowRoot.querySelector('.messages > li:last-child .handoff').scrollIntoView({ block: 'end' }));
  await shoot(page, '4-handoff');

  // Feedback is kept on this device.
  await page.click('helplens-chat .messages > li[data-top="printer-paper-jam"] .feedback button:first-of-type');
  const fb = await page.evaluate(() => JSON.parse(localStorage.getItem('helplens-chat:feedback') || '[]'));
  check(fb.length === 1 && fb[0].article === 'printer-paper-jam' && fb[0].helpful === true, `"Did this help?" kept locally: ${JSON.stringify(fb)}`);
  await page.click('helplens-chat .messages > li[data-top="camera-setup"] .feedback button:last-of-type');
  const no = await page.evaluate(() => {
    const root = document.querySelector('helplens-chat').shadowRoot;
    return { handoff: root.querySelectorAll('.messages > li[data-top="camera-setup"] .feedback .handoff a').length, focus: root.activeElement?.textContent };
  });
  check(no.handoff > 0 && /Thanks/.test(no.focus || ''), `"No" offers a person and keeps the keyboard's place: ${JSON.stringify(no)}`);

  await axe(page, 'open, light');
  await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
  await axe(page, 'open, dark, reduced motion');
  await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });

  // Reload: the conversation is still there, and the models come from this device.
  const kept = (await widget(page)).messages.map((x) => `${x.kind}:${x.top}`);
  const modelRequests = [];
  const onRequest = (r) => { if (/\.(gguf|safetensors)$/.test(r.url())) modelRequests.push(r.url()); };
  ctx.on('request', onRequest);
  await page.reload();
  await page.waitForSelector('helplens-chat[data-state="ready"]', { timeout: 120_000 });
  w = await widget(page);
  check(JSON.stringify(w.messages.map((x) => `${x.kind}:${x.top}`)) === JSON.stringify(kept) && w.panelOpen, `after a reload the conversation is still there (${kept.length} messages)`);
  check(w.downloaded === '0' && modelRequests.length === 0, `second visit: models and KB from the Cache API, ${w.downloaded} bytes downloaded, requests ${JSON.stringify(modelRequests)}`);
  ctx.off('request', onRequest);
  await axe(page, 'conversation restored');

  // Offline after the first visit: the server is stopped and the network is off.
  await page.waitForSelector('helplens-chat[data-offline="ready"]', { timeout: 60_000 });
  await collectCsp(page);
  offlinePhase = true;
  await stopServer();
  await ctx.setOffline(true);
  await page.reload();
  await page.waitForSelector('helplens-chat[data-state="ready"]', { timeout: 120_000 });
  m = await askText(page, 'how do I descale the espresso machine');
  before = await answeredCount(page);
  await attachByPicker(page, 'tests/heldout/photos/espresso-2.jpg');
  const m2 = await sendAttached(page, before);
  check(m.top === 'espresso-descaling' && m2.top === 'espresso-setup', `offline (server stopped): the page loads and answers → ${m.top}, photo → ${m2.top}`);
  await ctx.setOffline(false);
  await startServer();
  offlinePhase = false;

  // Clear.
  await page.click('helplens-chat [aria-label="Clear conversation"]');
  w = await widget(page);
  check(w.messages.length === 0 && w.suggestions.length > 0, 'the clear button empties the conversation and brings back the suggestions');
  await page.keyboard.press('Escape');
  const back = await page.evaluate(() => document.querySelector('helplens-chat').shadowRoot.activeElement?.classList.contains('launcher'));
  check(back && !(await widget(page)).panelOpen, 'Escape closes the panel and puts focus back on the launcher');
  await axe(page, 'closed');
  await collectCsp(page);
  await ctx.close();

  // == WebGPU (SwiftShader in headless Chromium) ==
  const gctx = await newContext(browser);
  const gpage = await gctx.newPage();
  watch(gpage, 'webgpu');
  await gpage.goto(`${origin}/?backend=webgpu`);
  await gpage.click('helplens-chat .launcher');
  await gpage.waitForFunction(() => ['ready', 'error', 'text-only'].includes(document.querySelector('helplens-chat').dataset.state), null, { timeout: 180_000 });
  w = await widget(gpage);
  if (w.backend === 'gpu') {
    const tq = Date.now();
    before = await answeredCount(gpage);
    await gpage.fill('helplens-chat textarea', 'how do I descale the espresso machine');
    await gpage.press('helplens-chat textarea', 'Enter');
    const dots = await gpage.evaluate(() => !!document.querySelector('helplens-chat').shadowRoot.querySelector('.messages > li.typing'));
    m = await waitAnswered(gpage, before);
    const tqs = Date.now() - tq;
    check(dots, 'a typing indicator while the engine works');
    before = await answeredCount(gpage);
    const tp = Date.now();
    await attachByPicker(gpage, 'tests/heldout/photos/espresso-1.jpg');
    const mp = await sendAttached(gpage, before);
    check(/WebGPU/.test(w.engine) && m.top === 'espresso-descaling' && mp.top === 'espresso-setup',
      `WebGPU "${w.engine}": question → ${m.top} (${tqs} ms), photo → ${mp.top} (${Date.now() - tp} ms)`);
    // The OCR model on the GPU: the photographed printer screen is read and answered.
    before = await answeredCount(gpage);
    const tg = Date.now();
    await attachByPicker(gpage, 'www/demo/printer-error.jpg');
    const mr = await sendAttached(gpage, before);
    check(mr.top === 'printer-paper-jam' && /Reads: .*P01.*Paper jam/i.test(mr.reads), `WebGPU: a photographed printer error screen → ${mr.top}; "${mr.reads}" (${Date.now() - tg} ms)`);
    await gpage.evaluate(() => document.querySelector('helplens-chat').simulateDeviceLoss());
    m = await askText(gpage, 'the printer keeps saying paper jam but there is no paper stuck');
    w = await widget(gpage);
    const note = w.messages.find((x) => x.kind === 'note');
    check(m.top === 'printer-paper-jam' && w.backend === 'cpu' && /CPU/.test(w.engine) && note, `a lost GPU: answered on the CPU and said so: "${note && note.text}"`);
  } else {
    console.log(`SKIPPED WebGPU: no adapter in this Chromium: ${JSON.stringify(w.messages.at(-1))}`);
  }
  await collectCsp(gpage);
  await gctx.close();

  // == WebGPU missing: a Chromium without it, asked for it ==
  const noGpu = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-features=WebGPU', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const nctx = await newContext(noGpu);
    const npage = await nctx.newPage();
    watch(npage, 'no WebGPU');
    await npage.goto(`${origin}/?backend=webgpu`);
    await npage.click('helplens-chat .launcher');
    await npage.waitForSelector('helplens-chat[data-state="error"]', { timeout: 60_000 });
    w = await widget(npage);
    const offer = await npage.locator('helplens-chat .messages button').textContent();
    check(/GPU|adapter/.test(w.messages.at(-1).text) && offer === 'Use the CPU instead', `WebGPU missing: "${w.messages.at(-1).text.slice(0, 90)}…", offers "${offer}"`);
    await npage.click('helplens-chat .messages button');
    await npage.waitForSelector('helplens-chat[data-state="ready"]', { timeout: 120_000 });
    m = await askText(npage, 'the router light is red and there is no internet');
    check(m.top === 'router-no-internet' && (await widget(npage)).backend === 'cpu', `…and then answers on the CPU → ${m.top}`);
    await collectCsp(npage);
  } finally {
    await noGpu.close();
  }

  // == A KB full of markup, from a sub-path, in Chinese; then a changed KB ==
  const xss = xssKb();
  writeSubSite(xss);
  const xctx = await newContext(browser, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const xpage = await xctx.newPage();
  watch(xpage, 'markup KB');
  // First the KB arrives damaged (same size, other bytes): a clear message and a retry button.
  const kbSize = statSync(`${SUB}/kb.safetensors`).size;
  await xctx.route('**/tmp-e2e-sub/kb.safetensors', (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body: Buffer.alloc(kbSize, 7) }));
  await xpage.goto(`${origin}/tmp-e2e-sub/`);
  await xpage.click('helplens-chat .launcher');
  await xpage.waitForSelector('helplens-chat[data-state="error"]', { timeout: 120_000 });
  w = await widget(xpage);
  check(/manifest/.test(w.messages.at(-1).text) && (await xpage.locator('helplens-chat .messages button').count()) === 1, `a damaged download is refused: "${w.messages.at(-1).text}"`);
  await xctx.unroute('**/tmp-e2e-sub/kb.safetensors');
  await xpage.click('helplens-chat .messages button');
  await xpage.waitForSelector('helplens-chat[data-state="ready"]', { timeout: 120_000 });
  check(true, 'the retry button loads it once the server sends the right file');
  w = await widget(xpage);
  check(w.backend === 'cpu' && /CPU/.test(w.engine), `auto on a software-only WebGPU runs on the CPU and says so: "${w.engine}"`);
  check(w.heading === 'Markup <b>Test</b> KB' && w.suggestions[0] === '<img src=x onerror=alert(5)> kettle crust', `KB name and suggestions shown as text: "${w.heading}", ${JSON.stringify(w.suggestions)}`);
  const camera = await xpage.evaluate(() => {
    const root = document.querySelector('helplens-chat').shadowRoot;
    return { button: !root.querySelector('button.camera').hidden, capture: root.querySelector('input[capture]')?.getAttribute('capture') };
  });
  check(camera.button && camera.capture === 'environment', `on a phone, a camera button opens the camera (capture=${camera.capture})`);
  const zh = await xpage.evaluate(() => document.querySelector('helplens-chat').shadowRoot.querySelector('textarea').placeholder);
  check(zh === '输入问题…', `strings follow the page language (zh-CN): "${zh}"`);
  m = await askText(xpage, 'there is white crust inside my kettle');
  const inert = await xpage.evaluate(() => {
    const root = document.querySelector('helplens-chat').shadowRoot;
    const li = [...root.querySelectorAll('.messages > li')].at(-1);
    return {
      title: li.querySelector('.card-title')?.textContent || '',
      body: li.querySelector('.md')?.textContent || '',
      imgs: [...root.querySelectorAll('.messages img, .suggestions img, .bar img')].map((i) => i.getAttribute('src')),
      handlers: [...root.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
      active: root.querySelectorAll('.messages script, .messages iframe, .messages object, .messages embed').length,
      hrefs: [...root.querySelectorAll('.messages a[href]')].map((a) => a.href),
      more: !!li.querySelector('a.more'),
    };
  });
  const badHref = inert.hrefs.filter((h) => !/^(https?|mailto):/.test(h));
  check(m.top === 'kettle-crust' && inert.title.includes('<img src=x onerror=alert(1)>') && inert.body.includes('<script>alert(3)</script>') &&
    inert.body.includes('<img src=x onerror=alert(1)>') && inert.imgs.length === 0 && inert.handlers === 0 && inert.active === 0 &&
    badHref.length === 0 && inert.hrefs.includes('https://support.example.com/kettle') && !inert.more && dialogs === 0,
  `KB markup renders inert: ${JSON.stringify({ ...inert, title: undefined, body: undefined, badHref })}`);
  m = await askText(xpage, 'what is the capital of Australia?');
  const contact = await xpage.evaluate(() => [...document.querySelector('helplens-chat').shadowRoot.querySelectorAll('.messages > li:last-child .handoff a')].map((a) => a.href));
  check(m.confident === 'false' && JSON.stringify(contact) === '["https://help.example.org/chat"]', `the contact attribute replaces the KB's hand-off: ${JSON.stringify(contact)}`);
  await axe(xpage, 'markup KB, zh-CN');

  // A changed KB replaces the cached one (the manifest's sha256 changed).
  const kbUrl = `${origin}/tmp-e2e-sub/kb.safetensors`;
  const firstKeys = await cacheEntries(xpage, kbUrl);
  copyFileSync('www/models/demo-kb.safetensors', `${SUB}/kb.safetensors`);
  execFileSync('python3', ['scripts/manifest.py', SUB]);
  await xpage.reload();
  await xpage.waitForSelector('helplens-chat[data-state="ready"]', { timeout: 120_000 });
  w = await widget(xpage);
  const secondKeys = await cacheEntries(xpage, kbUrl);
  check(firstKeys.length === 1 && secondKeys.length === 1 && firstKeys[0] !== secondKeys[0] && w.heading === 'Kelvara Home Support' &&
    Number(w.downloaded) === statSync('www/models/demo-kb.safetensors').size,
  `a changed KB is downloaded again (${w.downloaded} bytes: the KB only) and replaces the cached copy (${secondKeys.length} entry)`);
  await collectCsp(xpage);
  await xctx.close();

  // == The Chinese page: its KB is multilingual (e5, en,zh vocabulary), and the manifest gives
  // that KB its own text model ==
  const zctx = await newContext(browser);
  const zpage = await zctx.newPage();
  watch(zpage, 'zh page');
  const textModels = [];
  zpage.on('request', (r) => { if (/\.gguf$/.test(r.url())) textModels.push(r.url().split('/').pop()); });
  await zpage.goto(`${origin}/zh.html?backend=cpu`);
  await zpage.click('helplens-chat .launcher');
  await zpage.waitForFunction(() => ['ready', 'error', 'text-only'].includes(document.querySelector('helplens-chat').dataset.state), null, { timeout: 180_000 });
  w = await widget(zpage);
  const zq = Date.now();
  m = await askText(zpage, '打印机老是提示卡纸，可是里面明明没有纸');
  const zms = Date.now() - zq;
  const mEn = await askText(zpage, 'the router light is red and there is no internet');
  const placeholder = await zpage.evaluate(() => document.querySelector('helplens-chat').shadowRoot.querySelector('textarea').placeholder);
  check(textModels.includes('e5-small-q4-en-zh.gguf') && !textModels.includes('minilm-int8.gguf') && placeholder === '输入问题…' && w.heading.length > 0,
    `the Chinese page loads e5 for its KB (${JSON.stringify(textModels)}), strings in Chinese ("${placeholder}"), heading "${w.heading}"`);
  check(m.top === 'printer-paper-jam' && mEn.top === 'router-no-internet',
    `Chinese question → ${m.top} (${zms} ms), English question on the Chinese page → ${mEn.top}`);
  // A Chinese screen, read and answered on the Chinese page.
  before = await answeredCount(zpage);
  const zr = Date.now();
  await attachByPicker(zpage, 'tests/heldout/ocr/printer-p02-zh.jpg');
  m = await sendAttached(zpage, before);
  check(m.top === 'printer-paper-jam' && /卡纸/.test(m.reads), `a photographed Chinese printer screen on the Chinese page → ${m.top}; "${m.reads}" (${Date.now() - zr} ms)`);
  await collectCsp(zpage);
  await zctx.close();

  check(cspSeen.length === 0, `no CSP violations ${cspSeen.length ? JSON.stringify(cspSeen) : ''}`);
  check(foreign.length === 0, `no request leaves the origin ${foreign.length ? JSON.stringify(foreign.slice(0, 5)) : ''}`);
  check(problems.length === 0, `no page or console errors ${problems.length ? JSON.stringify(problems) : ''}`);
  check(dialogs === 0, 'no dialog was opened by any content');
} catch (e) {
  check(false, `the test stopped: ${e.message.split('\n')[0]}`);
} finally {
  await browser.close();
  await stopServer();
  rmSync(SUB, { recursive: true, force: true });
}
console.log(`     screenshots in ${SHOTS}/; ${elapsed()}`);
if (failures) {
  console.error(`${failures} end-to-end check(s) failed`);
  process.exit(1);
}
console.log('end-to-end: all checks passed');
