// Runs www/bench.html in headless Chromium (Debian's /usr/bin/chromium via playwright-core)
// against scripts/serve.py and prints the figures.
//   node scripts/browser-bench.mjs [--runs 20]
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const port = 18000 + Math.floor(Math.random() * 1000);
const server = spawn('python3', ['scripts/serve.py', '--port', String(port), 'www'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => server.stdout.once('data', resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
  await page.goto(`http://127.0.0.1:${port}/bench.html?runs=${runs}${process.env.BENCH_PHOTO ? '&photo=' + process.env.BENCH_PHOTO : ''}`);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
  const r = await page.evaluate(() => window.benchResult);
  if (r.error) throw new Error(r.error);
  const row = (name, t) => `${name.padEnd(36)} ${t.median.toFixed(2).padStart(10)} ${t.p95.toFixed(2).padStart(10)}`;
  console.log(`browser: ${r.user_agent}`);
  console.log(`backend ${r.backend} | ${r.runs} runs | load (instantiate + parse models and KB) ${r.load_ms.toFixed(0)} ms | int8 models ${r.model_mb.toFixed(1)} MB`);
  console.log(`${''.padEnd(36)} ${'median ms'.padStart(10)} ${'p95 ms'.padStart(10)}`);
  console.log(row('text embed (short question)', r.text_embed));
  console.log(row('image embed (preprocess + encoder)', r.image_embed));
  console.log(row('KB search', r.kb_search));
  console.log(`wasm memory ${r.wasm_memory_mb.toFixed(0)} MB, JS heap ${r.js_heap_mb == null ? 'n/a' : r.js_heap_mb.toFixed(0) + ' MB'}`);
} finally {
  await browser.close();
  server.kill();
}
