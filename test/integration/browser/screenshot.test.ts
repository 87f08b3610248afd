import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureRunPage, findChromium, readPngSize } from '../../../src/browser/screenshot.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// Mimics the Prefect SPA: a near-empty loading shell first, the real run page ~800 ms later.
const RUN_PAGE = `<!doctype html>
<html><head><title>Prefect</title></head>
<body><div id="app">Loading...</div>
<script>
  setTimeout(() => {
    document.body.innerHTML =
      '<h1>finicky-cheetah</h1>' +
      '<p>Flow run of hotpass-backfill, state Completed. Started 2024-01-01, finished 2024-01-03.</p>';
  }, 800);
</script>
</body></html>`;

// What the Prefect UI renders when its advertised api_url (ui-settings) points at the wrong port.
const API_DOWN_PAGE = `<!doctype html><html><body>
<p>Can't connect to Server API at http://127.0.0.1:4200/api. Check that it's accessible from your machine.</p>
<nav>Dashboard Runs Flows Deployments Work Pools</nav></body></html>`;

let server: Server;
let baseUrl: string;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'rehearse-screenshot-'));
  server = createServer((req, res) => {
    if (req.url?.startsWith('/runs/flow-run/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(RUN_PAGE);
      return;
    }
    if (req.url?.startsWith('/api-down/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(API_DOWN_PAGE);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(workDir, { recursive: true, force: true });
});

describe('captureRunPage', () => {
  it('waits for the run page to render, then writes a 1440x900 PNG', async () => {
    const outFile = path.join(workDir, 'ok', 'run-page.png');
    const url = `${baseUrl}/runs/flow-run/43fba3f4-0ca6-49a0-a00e-bfeb335a1d0c`;
    const result = await captureRunPage({ url, outFile, expectText: ['finicky-cheetah'], timeoutMs: 120_000 });

    expect(result, JSON.stringify(result)).toMatchObject({
      status: 'captured',
      file: outFile,
      width: 1440,
      height: 900,
      url,
      matchedText: 'finicky-cheetah',
    });
    expect(existsSync(outFile)).toBe(true);
    const png = await readFile(outFile);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(readPngSize(png)).toEqual({ width: 1440, height: 900 });
    if (result.status === 'captured') expect(result.bytes).toBe(png.length);
    // Only the PNG itself: the temp file was renamed, not left beside it.
    expect(await readdir(path.dirname(outFile))).toEqual(['run-page.png']);
  });

  it('reports missing, naming the text, when the expected text never appears', async () => {
    const outDir = path.join(workDir, 'never');
    const outFile = path.join(outDir, 'run-page.png');
    const result = await captureRunPage({
      url: `${baseUrl}/runs/flow-run/00000000-0000-0000-0000-000000000000`,
      outFile,
      expectText: ['no-such-run-name'],
      // Long enough that starting Chromium on a busy machine fits in it: the text's absence ends it, not the launch.
      timeoutMs: 20_000,
    });

    expect(result.status, JSON.stringify(result)).toBe('missing');
    if (result.status === 'missing') expect(result.reason).toContain('no-such-run-name');
    expect(existsSync(outFile)).toBe(false);
    expect(existsSync(outDir) ? await readdir(outDir) : []).toEqual([]);
  });

  it('fails fast when the Prefect UI says it cannot reach its API', async () => {
    const outFile = path.join(workDir, 'apidown', 'run-page.png');
    // A deadline past the test's own timeout: only failing fast on the page's message can end it in time.
    const result = await captureRunPage({
      url: `${baseUrl}/api-down/runs/flow-run/x`,
      outFile,
      expectText: ['finicky-cheetah'],
      timeoutMs: 3_600_000,
    });

    expect(result.status, JSON.stringify(result)).toBe('missing');
    if (result.status === 'missing')
      expect(result.reason).toContain("Can't connect to Server API at http://127.0.0.1:4200/api");
    expect(existsSync(outFile)).toBe(false);
  });

  it('reports missing when the Chromium executable does not exist', async () => {
    const executablePath = path.join(workDir, 'no-such-chromium');
    const result = await captureRunPage({
      url: `${baseUrl}/runs/flow-run/x`,
      outFile: path.join(workDir, 'nobrowser', 'run-page.png'),
      executablePath,
    });

    expect(result.status).toBe('missing');
    if (result.status === 'missing') expect(result.reason).toContain(executablePath);
    expect(existsSync(path.join(workDir, 'nobrowser'))).toBe(false);
  });
});

describe('readPngSize', () => {
  it('rejects a buffer that is not a PNG', () => {
    expect(readPngSize(Buffer.from('<html>definitely not a png image at all</html>'))).toBeUndefined();
    expect(readPngSize(Buffer.alloc(0))).toBeUndefined();
    expect(readPngSize(PNG_SIGNATURE)).toBeUndefined();
  });
});

describe('findChromium', () => {
  it('prefers REHEARSE_CHROMIUM when it points at an executable file', async () => {
    const fake = path.join(workDir, 'my-chromium');
    await writeFile(fake, '#!/bin/sh\n');
    await chmod(fake, 0o755);
    expect(findChromium({ REHEARSE_CHROMIUM: fake })).toBe(fake);
  });

  it('falls back to the system Chromium when REHEARSE_CHROMIUM does not exist', () => {
    // Chromium is installed on dev machines and in CI; its absence is a failure, not a skip.
    expect(findChromium({ REHEARSE_CHROMIUM: path.join(workDir, 'missing') })).toBe('/usr/bin/chromium');
  });
});
