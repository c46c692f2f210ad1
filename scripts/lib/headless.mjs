// What the browser scripts share: scripts/serve.py (the strict-CSP static server) on a free
// port, and Debian's Chromium through playwright-core with WebGPU on (SwiftShader when headless).
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

// Serves `dir` (`flags`: more of serve.py's options); resolves once the server prints its
// address. Call `server.kill()` when done.
export async function startServer(dir = 'www', flags = []) {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const server = spawn('python3', ['scripts/serve.py', '--port', String(port), ...flags, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => server.stdout.once('data', resolve));
  return { server, port, origin: `http://127.0.0.1:${port}` };
}

// Headless Chromium ($CHROMIUM or /usr/bin/chromium) with WebGPU and no background traffic;
// `extra`: more command-line switches.
export function launchChromium(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info',
      // measureUserAgentSpecificMemory answers at once rather than at the next GC (up to 20 s).
      '--enable-blink-features=ForceEagerMeasureMemory', ...extra],
  });
}
