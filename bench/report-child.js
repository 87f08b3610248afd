// @ts-check
// The report bench (issue 12, issue 28), in its own node process:
//   node bench/report-child.js <runs> [png]
// With png, concurrency.svg is also shot in Chromium to that file (to look at the timeline).
// Copies fixtures/bundles/complete, replaces its state history with <runs> synthetic runs (a burst
// under limit 2, with some waiting for a slot), times building report.html, then opens it from
// file:// in Debian's Chromium and times the load. Prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { LAUNCH_ARGS } from '../dist/browser/screenshot.js';
import { buildReport } from '../dist/report/write.js';

const runs = Number(process.argv[2]);
const png = process.argv[3];
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('usage: node bench/report-child.js <runs>\n');
  process.exit(2);
}
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearse-bench-report-'));
const bundle = path.join(work, '20261126T013217Z');
fs.cpSync(path.join(repo, 'fixtures/bundles/complete'), bundle, { recursive: true });

const base = Date.parse('2026-11-26T01:00:00Z');
const at = (/** @type {number} */ ms) => new Date(base + ms).toISOString();
/** Two at a time, each RUNNING 4 s: run i starts at 2 s * i; the rest wait in AwaitingConcurrencySlot. */
const history = {
  asOf: at(runs * 2000 + 10_000),
  rehearsalRunIds: [],
  runs: Array.from({ length: runs }, (_, i) => ({
    runId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    runName: `run-${i}`,
    states: [
      { timestamp: at(0), type: 'SCHEDULED', name: 'Scheduled' },
      { timestamp: at(500), type: 'SCHEDULED', name: 'AwaitingConcurrencySlot' },
      { timestamp: at(i * 2000 + 500), type: 'PENDING', name: 'Pending' },
      { timestamp: at(i * 2000 + 1000), type: 'RUNNING', name: 'Running' },
      { timestamp: at(i * 2000 + 5000), type: 'COMPLETED', name: 'Completed' },
    ],
  })),
};
fs.writeFileSync(path.join(bundle, 'state-history.json'), JSON.stringify(history));
const summary = JSON.parse(fs.readFileSync(path.join(bundle, 'summary.json'), 'utf8'));

try {
  const started = performance.now();
  const report = await buildReport(bundle, summary);
  const buildMs = performance.now() - started;
  const file = path.join(bundle, 'report.html');
  fs.writeFileSync(file, report.html);
  const screenshotBytes = fs.statSync(path.join(bundle, 'hotpass-e2e-staging.png')).size;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: LAUNCH_ARGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const opened = performance.now();
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    // Layout and paint of the whole page, not only the parse: the timeline is the tall part.
    const rows = await page.evaluate(() => {
      // Runs in the page, on its document (the bench is typed for node, without the DOM's types).
      const { document } =
        /** @type {{ document: { body: { getBoundingClientRect(): unknown }, querySelectorAll(selector: string): { length: number } } }} */ (
          /** @type {unknown} */ (globalThis)
        );
      document.body.getBoundingClientRect();
      return document.querySelectorAll('#timeline g.run').length;
    });
    const renderMs = performance.now() - opened;
    const svg = report.svg;
    const svgBytes = Buffer.byteLength(svg ?? '');
    if (png && svg) {
      const svgFile = path.join(bundle, 'concurrency.svg');
      fs.writeFileSync(svgFile, svg);
      const [width, height] = ['width', 'height'].map((a) => Number(new RegExp(`${a}="(\\d+)`).exec(svg)?.[1]));
      await page.setViewportSize({ width: width || 1000, height: Math.min(height || 900, 8000) });
      await page.goto(pathToFileURL(svgFile).href, { waitUntil: 'load' });
      await page.screenshot({ path: png, fullPage: false });
    }
    const htmlBytes = Buffer.byteLength(report.html);
    process.stdout.write(
      `${JSON.stringify({ runs, rows, buildMs, renderMs, htmlBytes, svgBytes, screenshotBytes })}\n`,
    );
  } finally {
    await browser.close();
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
