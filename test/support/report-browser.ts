import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { LAUNCH_ARGS } from '../../src/browser/screenshot.js';

export interface OpenedReport {
  consoleErrors: string[];
  /** Every URL the page asked for, data: URIs left out. */
  requests: string[];
  runs: number;
  limits: string[];
  overflows: { limit: string | null; runs: string | null; label: string }[];
  png: Buffer;
}

/** A page of Debian's Chromium at the given size, closed with its browser once `use` is done. */
async function withPage<T>(viewport: { width: number; height: number }, use: (page: Page) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: LAUNCH_ARGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  try {
    return await use(await browser.newPage({ viewport }));
  } finally {
    await browser.close();
  }
}

export interface FirstScreen {
  /** The page's full width: more than the window's means it scrolls sideways. */
  scrollWidth: number;
  /** Per id, the top of the highest visible element whose whole text is that id; null when none is visible. */
  tops: Record<string, number | null>;
  png: Buffer;
}

/** Open report.html at a window's size and find where each check id first shows, as a reader scrolled to the top sees it. */
export async function measureFirstScreen(
  file: string,
  ids: readonly string[],
  viewport = { width: 1400, height: 900 },
): Promise<FirstScreen> {
  return withPage(viewport, async (page) => {
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const tops = await page.locator('body *').evaluateAll((nodes, wanted) => {
      const found: Record<string, number | null> = {};
      for (const id of wanted) {
        const seen = nodes
          .filter((node) => node.children.length === 0 && node.textContent?.trim() === id && node.checkVisibility())
          .map((node) => node.getBoundingClientRect().top);
        found[id] = seen.length ? Math.min(...seen) : null;
      }
      return found;
    }, ids);
    const scrollWidth = await page.locator('html').evaluate((html) => html.scrollWidth);
    return { scrollWidth, tops, png: await page.screenshot() };
  });
}

/** Open report.html from file:// in Debian's Chromium and record what it asked for and what it drew. */
export async function openReport(file: string): Promise<OpenedReport> {
  return withPage({ width: 1100, height: 900 }, async (page) => {
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
  });
}
