import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fs from 'fs-extra';
import { chromium } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { report } from '../../../src/commands/report.js';
import { CHECKSUM_FILE, digestBundle, formatChecksums } from '../../../src/evidence/checksums.js';
import { REPORT_FILE } from '../../../src/evidence/report/write.js';
import { LAUNCH_ARGS } from '../../../src/evidence/screenshot.js';
import type { Summary } from '../../../src/evidence/summary.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle (burst 3, limit 2, peak 2): a healthy burst. */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-report-browser-'));
  bundle = path.join(work, '20261126T013217Z');
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Opened {
  consoleErrors: string[];
  requests: string[];
  runs: number;
  limits: string[];
  overflows: { limit: string | null; runs: string | null; label: string }[];
  png: Buffer;
}

/** Open report.html from file:// in Debian's Chromium and record what it asked for and what it drew. */
async function openReport(file: string): Promise<Opened> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: LAUNCH_ARGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const consoleErrors: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const overflows = await page.locator('#timeline g.overflow').evaluateAll((nodes) =>
      nodes.map((node) => ({
        limit: node.getAttribute('data-limit'),
        runs: node.getAttribute('data-runs'),
        label: node.textContent ?? '',
      })),
    );
    return {
      consoleErrors,
      requests,
      runs: await page.locator('#timeline g.run').count(),
      limits: await page
        .locator('#timeline g.limit')
        .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-limit') ?? '')),
      overflows,
      png: await page.screenshot({ fullPage: true }),
    };
  } finally {
    await browser.close();
  }
}

describe('report.html in Chromium', () => {
  it('opens offline with no console error and no request beyond itself, one row per run, no overflow', async () => {
    await report({ cwd: work, bundle });
    const file = path.join(bundle, REPORT_FILE);
    const opened = await openReport(file);
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.requests.filter((url) => !url.startsWith('data:'))).toEqual([pathToFileURL(file).href]);
    const history = JSON.parse(await readFile(path.join(bundle, 'state-history.json'), 'utf8')) as {
      runs: unknown[];
    };
    expect(opened.runs).toBe(history.runs.length);
    expect(opened.limits).toEqual(['2']);
    expect(opened.overflows).toEqual([]);
    expect(opened.png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  });

  it('shades the one window where a loosened throttle let two runs exceed limit 1, naming them', async () => {
    const summaryFile = path.join(bundle, 'summary.json');
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as Summary;
    const validate = summary.steps.find((s) => s.name === 'validate');
    if (!validate?.data) throw new Error('the fixture has no validate data');
    validate.data.limits = { 'concurrency.deployment_limit': 1 };
    await writeFile(summaryFile, JSON.stringify(summary, null, 2));
    await writeFile(path.join(bundle, CHECKSUM_FILE), formatChecksums(await digestBundle(bundle)));
    await report({ cwd: work, bundle });
    const opened = await openReport(path.join(bundle, REPORT_FILE));
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.overflows).toHaveLength(1);
    expect(opened.overflows[0]).toMatchObject({
      limit: '1',
      runs: '227cc465-6225-4864-a4c8-60a5ecf04b08 ad46935e-6ffc-4cda-b7b0-48544c3ea7e3',
    });
    expect(opened.overflows[0]?.label).toContain('above 1: rare-hound, knowing-jacamar');
  });
});
