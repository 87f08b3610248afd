import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { LAUNCH_ARGS } from '../../src/evidence/screenshot.js';

export interface OpenedReport {
  consoleErrors: string[];
  /** Every URL the page asked for, data: URIs left out. */
  requests: string[];
  runs: number;
  limits: string[];
  overflows: { limit: string | null; runs: string | null; label: string }[];
  png: Buffer;
}

/** Open report.html from file:// in Debian's Chromium and record what it asked for and what it drew. */
export async function openReport(file: string): Promise<OpenedReport> {
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
    page.on('request', (request) => {
      if (!request.url().startsWith('data:')) requests.push(request.url());
    });
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
