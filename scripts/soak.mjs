// The soak test (./build.sh test): www/bench/soak.html in headless Chromium, 1,000 questions and
// 100 photos through the widget's worker in one page. Fails on any error or CSP violation, and
// when memory grows beyond the bounds below between the warm-up and the end.
//   node scripts/soak.mjs [--questions 1000] [--photos 100] [--backend cpu]
// The bounds are set to catch leaks, not to fit a measurement: 16 MB is four thousand of the
// smallest allocation a question makes that could leak (a 4 KB token buffer) and less than four
// photos' RGBA pixels (a 1280x960 photo is 4.9 MB), so leaking anything per photo, or a few KB
// per question, fails.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './lib/headless.mjs';

const argv = process.argv.slice(2);
const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const MB = 1 << 20;
// The renderer's resident memory moves with V8's and the allocator's own bookkeeping too: its
// bound is four times as wide (still a dozen photos' pixels).
const BOUND = { wasm_memory: 16 * MB, page_heap: 16 * MB, renderer_rss: 64 * MB };

const { server, origin } = await startServer();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--enable-precise-memory-info', '--js-flags=--expose-gc'],
});
let failed = false;
try {
  const page = await browser.newPage();
  const cdp = await browser.newBrowserCDPSession();
  // Resident memory of the renderer processes (Linux /proc), in bytes.
  await page.exposeFunction('rendererRss', async () => {
    const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
    let rss = 0;
    for (const p of processInfo.filter((x) => x.type === 'renderer')) {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.id}/status`, 'utf8'));
      if (m) rss += Number(m[1]) * 1024;
    }
    return rss;
  });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url())) problems.push(`request to another origin: ${r.url()}`); });
  const q = new URLSearchParams({ questions: arg('--questions', '1000'), photos: arg('--photos', '100'), backend: arg('--backend', 'cpu') });
  const t0 = Date.now();
  await page.goto(`${origin}/bench/soak.html?${q}`);
  await page.waitForFunction(() => window.soakResult, null, { timeout: 1_500_000, polling: 1000 });
  const r = await page.evaluate(() => window.soakResult);
  if (r.error) throw new Error(`${r.error}\n${problems.join('\n')}`);
  const mb = (b) => (b == null ? 'n/a' : `${(b / MB).toFixed(1)} MB`);
  console.log(`soak: ${r.questions} questions and ${r.photos} photos in ${r.seconds.toFixed(0)} s (${((Date.now() - t0) / 1000).toFixed(0)} s with loading), ${r.answered} answered, ${r.errors.length} errors, gc ${r.gc ? 'forced' : 'not exposed'}`);
  for (const k of Object.keys(BOUND)) {
    const grew = r.start[k] == null ? null : r.end[k] - r.start[k];
    const ok = grew == null ? false : grew <= BOUND[k];
    console.log(`  ${k.padEnd(12)} ${mb(r.start[k])} after warm-up → ${mb(r.end[k])} at the end: ${grew == null ? 'not measured' : `grew ${mb(grew)}`} (bound ${mb(BOUND[k])}) ${ok ? 'ok' : 'FAIL'}`);
    if (!ok) failed = true;
  }
  for (const e of r.errors.slice(0, 10)) console.log(`  error: ${e}`);
  for (const w of r.warnings) console.log(`  warning: ${w}`);
  for (const p of problems) console.log(`  ${p}`);
  if (r.errors.length || r.warnings.length || problems.length || r.answered !== r.asked) failed = true;
} finally {
  await browser.close();
  server.kill();
}
if (failed) { console.error('soak test FAILED'); process.exit(1); }
console.log('soak test passed');
