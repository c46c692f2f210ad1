// End-to-end test of the demo page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), served by scripts/serve.py with its strict Content-Security-Policy.
//   node scripts/e2e.mjs
// Checks: the page loads both models and the KB in its worker; a typed question and a photo
// each get the right article; KB text that looks like HTML is shown as text and runs nothing;
// a bad photo is a clear error and the page keeps working; no CSP violation, no page error,
// and no request leaves the page's own origin.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const port = 19000 + Math.floor(Math.random() * 1000);
const origin = `http://127.0.0.1:${port}`;
const server = spawn('python3', ['scripts/serve.py', '--port', String(port), 'www'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => server.stdout.once('data', resolve));

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const foreign = [];
  const problems = [];
  let dialogs = 0;
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url()); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('dialog', (d) => { dialogs++; d.dismiss(); });
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const res = await page.goto(`${origin}/`);
  check((res.headers()['content-security-policy'] || '').includes("default-src 'self'"), 'served with a strict Content-Security-Policy');
  const t0 = Date.now();
  await page.waitForSelector('body[data-ready="photos"]', { timeout: 180_000 });
  console.log(`     page ready with both models in ${Date.now() - t0} ms`);

  async function ask(question, photo) {
    const before = await page.evaluate(() => document.body.dataset.answered || '');
    await page.fill('#question', question);
    await page.setInputFiles('#photo', photo ? [photo] : []);
    await page.click('#send');
    await page.waitForFunction((b) => (document.body.dataset.answered || '') !== b, before, { timeout: 60_000 });
    return page.evaluate(() => ({
      ids: [...document.querySelectorAll('#answers li')].map((li) => li.dataset.id),
      error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
      handoff: !document.getElementById('handoff').hidden,
      labels: document.getElementById('labels').textContent,
    }));
  }

  let r = await ask('the printer keeps saying paper jam but there is no paper stuck');
  check(r.ids[0] === 'printer-paper-jam', `question → ${r.ids[0]} (expected printer-paper-jam)`);

  r = await ask('', 'tests/heldout/photos/desk-phone-1.jpg');
  check(r.ids[0] === 'desk-phone-setup', `photo only → ${r.ids[0]} (expected desk-phone-setup); ${r.labels}`);

  r = await ask('some e-mails show code instead of pictures on the TV mail app');
  const body = await page.evaluate(() => document.querySelector('#answers li .body')?.textContent || '');
  const injected = await page.evaluate(() => document.querySelectorAll('#answers img').length);
  check(r.ids[0] === 'television-apps-software' && body.includes('<img src=x onerror=alert(1)>') && injected === 0 && dialogs === 0,
    'KB text that looks like HTML is shown as text and runs nothing');

  r = await ask('', { name: 'receipt.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('this is a text file named .jpg') });
  check(r.error !== '' && /image|photo|decode|format/i.test(r.error), `a text file named .jpg is a clear error: "${r.error}"`);

  const jpeg = readFileSync('tests/heldout/photos/camera-1.jpg');
  r = await ask('', { name: 'cut.jpg', mimeType: 'image/jpeg', buffer: jpeg.subarray(0, 600) });
  check(r.error !== '', `a truncated JPEG is a clear error: "${r.error}"`);

  r = await ask('off-topic: what is the capital of Australia?');
  check(r.handoff, 'an off-topic question offers hand-off to a person');

  r = await ask('how do I descale the espresso machine');
  check(r.ids[0] === 'espresso-descaling' && r.error === '', `still answering after the errors → ${r.ids[0]}`);

  // Headless Chromium's only WebGPU adapter is SwiftShader (software): 'auto' stays on the CPU
  // and says why; ?backend=webgpu forces it, and the page says so and still answers.
  const shown = await page.evaluate(() => ({ backend: document.body.dataset.backend, text: document.getElementById('backend').textContent }));
  check(shown.backend === 'cpu' && /CPU/.test(shown.text), `auto on a software-only WebGPU runs on the CPU and shows it: "${shown.text}"`);

  const gpuPage = await browser.newPage();
  gpuPage.on('pageerror', (e) => problems.push(`page error (webgpu): ${e.message}`));
  await gpuPage.goto(`${origin}/?backend=webgpu`);
  await gpuPage.waitForFunction(() => document.body.dataset.ready || !document.getElementById('error').hidden, null, { timeout: 180_000 });
  const g = await gpuPage.evaluate(() => ({ backend: document.body.dataset.backend, text: document.getElementById('backend').textContent }));
  if (g.backend === 'gpu') {
    await gpuPage.fill('#question', 'how do I descale the espresso machine');
    await gpuPage.click('#send');
    await gpuPage.waitForFunction(() => document.body.dataset.answered, null, { timeout: 120_000 });
    const id = await gpuPage.evaluate(() => document.querySelector('#answers li')?.dataset.id);
    check(/WebGPU/.test(g.text) && id === 'espresso-descaling', `?backend=webgpu runs on "${g.text}" and answers → ${id}`);
  } else {
    const err = await gpuPage.evaluate(() => document.getElementById('error').textContent);
    console.log(`SKIPPED: no WebGPU adapter in this Chromium: "${err}"`);
  }
  await gpuPage.close();

  const csp = await page.evaluate(() => window.cspViolations);
  check(csp.length === 0, `no CSP violations ${csp.length ? JSON.stringify(csp) : ''}`);
  check(foreign.length === 0, `no request leaves the origin ${foreign.length ? JSON.stringify(foreign) : ''}`);
  check(problems.length === 0, `no page or console errors ${problems.length ? JSON.stringify(problems) : ''}`);
} finally {
  await browser.close();
  server.kill();
}
if (failures) {
  console.error(`${failures} end-to-end check(s) failed`);
  process.exit(1);
}
console.log('end-to-end: all checks passed');
