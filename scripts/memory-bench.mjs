// Tab memory with every model loaded (issue 18: <= 300 MB): the demo page (www/index.html:
// MiniLM, EfficientNet-Lite0, PP-OCRv5) and the Chinese one (www/zh.html: e5 instead of MiniLM)
// in headless Chromium on the CPU backend, served by scripts/serve.py under its CSP. Each load:
// a fresh browser context, the widget opened (the text model and the KB, then the image model),
// a typed question answered, a photo of a screen sent (which loads the OCR model and reads it);
// then the tab is measured:
// * the renderer process(es) the page added (pids from CDP SystemInfo.getProcessInfo; the
//   engine's Web Worker runs inside the page's renderer): Pss and Rss from
//   /proc/<pid>/smaps_rollup (Linux), and its private memory (what no other process shares);
//   the verdict is on Pss;
// * performance.measureUserAgentSpecificMemory: the JS heaps of the page and of its worker
//   (Chromium 156 counts no wasm memory in it; the server isolates every page for it);
// * the page's main-thread JS heap (CDP Performance.getMetrics JSHeapUsedSize);
// * the engine's wasm memory (WebAssembly.Memory.buffer.byteLength, read in the worker).
// Median of --loads (3) page loads per page. MB = 10^6 bytes.
//   node scripts/memory-bench.mjs [--loads 3] [--check]   --check: exit 1 above the bound
import { readFileSync } from 'node:fs';
import { launchChromium, startServer } from './lib/headless.mjs';

const argv = process.argv.slice(2);
const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const BOUND_MB = 300;
const PAGES = [
  { name: 'index.html (MiniLM, EfficientNet, PP-OCRv5)', path: '/?backend=cpu', question: 'the printer keeps saying paper jam but there is no paper stuck', photo: 'tests/heldout/ocr/printer-p02.jpg', reads: /P02/ },
  { name: 'zh.html (e5, EfficientNet, PP-OCRv5)', path: '/zh.html?backend=cpu', question: '打印机一直提示卡纸', photo: 'tests/heldout/ocr/printer-p02-zh.jpg', reads: /P02/ },
];
const W = 'helplens-chat';

async function smaps(pid) {
  const kb = (text, key) => Number((text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0) * 1024;
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { pss: kb(t, 'Pss'), rss: kb(t, 'Rss'), uss: kb(t, 'Private_Clean') + kb(t, 'Private_Dirty') };
  } catch {
    return null; // gone, or not Linux
  }
}

async function processes(cdp, type) {
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  return processInfo.filter((p) => !type || p.type.toLowerCase() === type).map((p) => ({ type: p.type, pid: p.id }));
}

// Chromium's own WebUI renderer (--top-chrome-webui: the omnibox popup), started with each
// context's first page, is no part of the page. (Chromium rewrites its command line: one
// space-separated string in /proc/<pid>/cmdline.)
function browserUi(pid) {
  try {
    return /(^|[\s\0])--(top-chrome-webui|extension-process)([\s\0]|$)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

const answered = (page) => page.evaluate((w) => Number(document.querySelector(w).dataset.answered || 0), W);
async function waitAnswered(page, before) {
  await page.waitForFunction(([w, n]) => Number(document.querySelector(w).dataset.answered || 0) > n, [W, before], { timeout: 300_000 });
  return page.evaluate((w) => {
    const li = [...document.querySelector(w).shadowRoot.querySelectorAll('.messages > li')].at(-1);
    return { top: li.dataset.top || '', reads: li.querySelector('.reads')?.textContent || '' };
  }, W);
}

async function measureOnce(browser, bcdp, origin, spec) {
  const problems = [];
  const before = new Set((await processes(bcdp, 'renderer')).map((p) => p.pid));
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    context.on('request', (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`request to another origin: ${r.url()}`); });
    await page.goto(`${origin}${spec.path}`);
    await page.waitForLoadState('load');
    const tabPids = async () => (await processes(bcdp, 'renderer')).filter((p) => !before.has(p.pid) && !browserUi(p.pid));
    // The page before the widget is opened (nothing of the engine loaded yet), for reference.
    const idle = (await Promise.all((await tabPids()).map((p) => smaps(p.pid)))).reduce((s, m) => s + (m?.pss || 0), 0);
    await page.click(`${W} .launcher`);
    await page.waitForSelector(`${W}[data-state="ready"]`, { timeout: 300_000 });
    let n = await answered(page);
    await page.fill(`${W} textarea`, spec.question);
    await page.press(`${W} textarea`, 'Enter');
    const text = await waitAnswered(page, n);
    n = await answered(page);
    await page.setInputFiles(`${W} input[type=file]:not([capture])`, spec.photo);
    await page.click(`${W} button.send`);
    const photo = await waitAnswered(page, n);
    if (!spec.reads.test(photo.reads)) problems.push(`the photo was not read as expected: "${photo.reads}"`);
    await page.waitForTimeout(1000); // let the page settle (thumbnails, idle tasks)

    const renderers = await tabPids();
    const mem = await Promise.all(renderers.map((p) => smaps(p.pid)));
    const tab = mem.reduce((s, m) => ({ pss: s.pss + (m?.pss || 0), rss: s.rss + (m?.rss || 0), uss: s.uss + (m?.uss || 0) }), { pss: 0, rss: 0, uss: 0 });
    const pcdp = await context.newCDPSession(page);
    await pcdp.send('Performance.enable');
    const { metrics } = await pcdp.send('Performance.getMetrics');
    const metric = (k) => metrics.find((m) => m.name === k)?.value;
    // The engine's wasm memory, as its worker reports it (the widget's EngineClient.stats).
    const wasmBytes = await page.evaluate(async () => (await document.querySelector('helplens-chat')?.engine?.stats())?.wasm_memory ?? null);
    const ua = await page.evaluate(async () => {
      if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
      const r = await performance.measureUserAgentSpecificMemory();
      const by = {};
      for (const b of r.breakdown) {
        const scope = b.attribution[0]?.scope || (b.types.length ? b.types.join('+') : 'other');
        by[scope] = (by[scope] || 0) + b.bytes;
      }
      return { bytes: r.bytes, by };
    });
    const others = await processes(bcdp);
    const gpu = others.find((p) => /gpu/i.test(p.type));
    return {
      text_top: text.top, photo_top: photo.top, reads: photo.reads,
      renderers: renderers.map((p, i) => ({ pid: p.pid, ...mem[i] })),
      pss: tab.pss, rss: tab.rss, uss: tab.uss, idle_pss: idle,
      js_heap_main: metric('JSHeapUsedSize'), wasm: wasmBytes, ua,
      gpu_pss: gpu ? (await smaps(gpu.pid))?.pss : null,
      problems,
    };
  } finally {
    await context.close();
  }
}

const median = (xs) => { const s = xs.filter((x) => x != null).sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : null; };
const mb = (b) => (b == null ? 'n/a' : (b / 1e6).toFixed(0));

async function main() {
  const loads = Number(arg('--loads', 3));
  const check = argv.includes('--check');
  const { server, origin } = await startServer('www', ['--isolate-all']);
  // No spare renderer kept warm: every renderer that appears belongs to the page.
  const browser = await launchChromium(['--disable-features=SpareRendererForSitePerProcess']);
  let bad = 0;
  try {
    const bcdp = await browser.newBrowserCDPSession();
    console.log(`browser: Chromium ${browser.version()}; ${loads} loads per page, a fresh context each; CPU backend; MB = 10^6 bytes`);
    console.log(`${'page'.padEnd(46)}${'Pss'.padStart(7)}${'Rss'.padStart(7)}${'private'.padStart(9)}${'wasm'.padStart(7)}${'JS page'.padStart(9)}${'JS worker'.padStart(11)}   verdict (Pss <= ${BOUND_MB} MB)`);
    for (const spec of PAGES) {
      const rs = [];
      for (let i = 0; i < loads; i++) rs.push(await measureOnce(browser, bcdp, origin, spec));
      const scope = (r, re) => (r.ua ? Object.entries(r.ua.by).filter(([k]) => re.test(k)).reduce((s, [, v]) => s + v, 0) : null);
      const m = {
        pss: median(rs.map((r) => r.pss)), rss: median(rs.map((r) => r.rss)), uss: median(rs.map((r) => r.uss)), wasm: median(rs.map((r) => r.wasm)),
        page: median(rs.map((r) => scope(r, /^Window$/))), worker: median(rs.map((r) => scope(r, /Worker/))),
      };
      const ok = m.pss != null && m.pss <= BOUND_MB * 1e6;
      if (!ok) bad++;
      console.log(`${spec.name.padEnd(46)}${mb(m.pss).padStart(7)}${mb(m.rss).padStart(7)}${mb(m.uss).padStart(9)}${mb(m.wasm).padStart(7)}${mb(m.page).padStart(9)}${mb(m.worker).padStart(11)}   ${ok ? 'ok' : 'ABOVE'}`);
      for (const r of rs) {
        console.log(`  load: Pss ${mb(r.pss)} (before the widget opened ${mb(r.idle_pss)}) Rss ${mb(r.rss)} (renderer ${r.renderers.map((p) => `pid ${p.pid} Pss ${mb(p.pss)}`).join(', ')}), ` +
          `main-thread JS heap (CDP) ${mb(r.js_heap_main)}, UA total ${mb(r.ua?.bytes)}, GPU process Pss ${mb(r.gpu_pss)}; question → ${r.text_top}; photo → ${r.photo_top}; ${r.reads}`);
        for (const p of r.problems) { console.log(`  problem: ${p}`); bad++; }
      }
    }
    console.log('(medians. Pss/Rss/private (Private_Clean + Private_Dirty): /proc/<pid>/smaps_rollup of the page\'s renderer process, its engine worker included; ' +
      'Pss shares Chromium\'s library pages among the processes mapping them, so it is lower while other Chromiums run; wasm: the engine\'s ' +
      'WebAssembly.Memory; JS page / JS worker: measureUserAgentSpecificMemory\'s JS heaps of the page and of the engine worker, which exclude the wasm memory)');
  } finally {
    await browser.close();
    server.kill();
  }
  if (check && bad) process.exit(1);
}

await main();
