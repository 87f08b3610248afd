import { accessSync, constants, statSync } from 'node:fs';
import type { Browser, BrowserContext } from 'playwright-core';
import { messageOf } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { sleep } from '../util/sleep.js';

export interface ScreenshotRequest {
  url: string;
  outFile: string;
  expectText?: string[];
  timeoutMs?: number;
  executablePath?: string;
  extraHeaders?: Record<string, string>;
  /** On abort the browser is closed at once, wherever opening or shooting the page has got to. */
  signal?: AbortSignal;
}

export type ScreenshotResult =
  | {
      status: 'captured';
      file: string;
      width: number;
      height: number;
      bytes: number;
      url: string;
      durationMs: number;
      matchedText?: string;
    }
  | { status: 'missing'; reason: string; url: string };

const DEFAULT_TIMEOUT_MS = 45_000;
const SYSTEM_CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
/** Also used by the report test, so the report is checked in the browser the screenshots use. */
export const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
// A loading spinner or empty app shell renders only a few characters of text.
const MIN_BODY_TEXT = 40;
// Without a text to wait for, the page is ready once the network settles (or after this long). With
// one, the text is the signal: the Prefect UI polls its API while a run page is open, so the network
// may never go idle, and waiting for it cost 1.5 s of every rehearsal's screenshot.
const NETWORK_IDLE_CAP_MS = 10_000;
const SETTLE_MS = 500;
// How long an already open page gets to show a run's final state before it is reloaded: the UI's own
// refresh shows it within half a second or after several, and a reload shows it in about 1.3 s.
const LIVE_PAGE_LOOK_MS = 1_200;
// Shown (with a long text body) when the UI's api_url points elsewhere, e.g. PREFECT_UI_API_URL unset
// on a server started with --port; waiting out the timeout would not help.
const UI_API_ERROR = "Can't connect to Server API";
// The page functions run in the browser; the project compiles without the DOM lib.
type PageGlobals = { document: { body: { innerText: string } | null } };
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chromiumCandidates(env: NodeJS.ProcessEnv): string[] {
  const fromEnv = env.REHEARSE_CHROMIUM?.trim();
  return fromEnv ? [fromEnv, ...SYSTEM_CHROMIUMS] : [...SYSTEM_CHROMIUMS];
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return chromiumCandidates(env).find(isExecutableFile);
}

export function readPngSize(buf: Buffer): { width: number; height: number } | undefined {
  if (buf.length < 24 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (buf.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  return width > 0 && height > 0 ? { width, height } : undefined;
}

function firstLine(err: unknown): string {
  const text = messageOf(err);
  return (text.split('\n').find((line) => line.trim() !== '') ?? text).trim();
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}

/** A browser already on the run's page, so the shot can be taken the moment the run ends. */
export interface RunPage {
  readonly url: string;
  capture(
    request: Omit<ScreenshotRequest, 'url' | 'executablePath' | 'extraHeaders'> & { requireAll?: boolean },
  ): Promise<ScreenshotResult>;
  close(): Promise<void>;
}

/** Launch Chromium and open the run page; a missing result when that cannot be done. */
export async function openRunPage(
  request: Pick<ScreenshotRequest, 'url' | 'executablePath' | 'extraHeaders' | 'timeoutMs' | 'signal'>,
): Promise<RunPage | Extract<ScreenshotResult, { status: 'missing' }>> {
  const { url } = request;
  const started = Date.now();
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const remaining = () => Math.max(1, started + timeoutMs - Date.now());
  const missing = (reason: string) => ({ status: 'missing' as const, reason, url });
  const executablePath = request.executablePath ?? findChromium();
  const unusable = whyChromiumUnusable(executablePath);
  if (unusable !== undefined || executablePath === undefined) return missing(unusable ?? 'no Chromium');
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch (err) {
    return missing(`playwright-core could not be loaded: ${firstLine(err)}`);
  }
  let browser: Browser | undefined;
  try {
    browser = await launchChromium(playwright, executablePath, remaining(), request.signal);
    const context = await browser.newContext({
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
      ...(request.extraHeaders ? { extraHTTPHeaders: request.extraHeaders } : {}),
    });
    await signInToUi(context, request.extraHeaders);
    const page = await context.newPage();
    const response = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: remaining() });
    if (response && response.status() >= 400) {
      await browser.close().catch(() => undefined);
      return missing(`${url} answered HTTP ${response.status()} ${response.statusText()}`.trim());
    }
    await hideUntilShot(context);
    const opened = browser;
    return {
      url,
      close: () => opened.close().catch(() => undefined),
      // The UI refreshes an open run page by itself: a short look first, a reload only if it has not.
      capture: async (shot) => {
        await page.bringToFront();
        const quick = await shootPage(
          page,
          url,
          { ...shot, timeoutMs: Math.min(LIVE_PAGE_LOOK_MS, shot.timeoutMs ?? DEFAULT_TIMEOUT_MS) },
          false,
        );
        return quick.status === 'captured' ? quick : shootPage(page, url, shot, true);
      },
    };
  } catch (err) {
    await browser?.close().catch(() => undefined);
    return missing(
      isTimeout(err)
        ? `timed out after ${timeoutMs} ms while opening ${url}`
        : `failed while opening ${url}: ${firstLine(err)}`,
    );
  }
}

/**
 * A blank tab in front of the run page while the run runs. A visible run page is redrawn and polled by
 * the UI all the time, which kept most of a core busy for as long as the runs lasted (0.6-0.8 CPU s a
 * second on two cores, measured), taken from the flow processes the rehearsal is timing. Hidden, the
 * page stays loaded and costs nothing; it comes to the front for its screenshot.
 */
async function hideUntilShot(context: BrowserContext): Promise<void> {
  const cover = await context.newPage();
  await cover.bringToFront();
}

/**
 * A server with basic auth shows its UI's login page to a browser that has not signed in: the UI
 * keeps the base64 credentials in localStorage (`prefect-password`) and sends them itself, so they
 * are put there before the page loads. Nothing of them is written anywhere else.
 */
async function signInToUi(context: BrowserContext, headers: Record<string, string> | undefined): Promise<void> {
  const basic = /^Basic (.+)$/.exec(headers?.authorization ?? '')?.[1];
  if (!basic) return;
  // Runs in the page, where localStorage exists (the project's types know Node only).
  await context.addInitScript((token: string) => {
    (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem(
      'prefect-password',
      token,
    );
  }, basic);
}

/** Why the Chromium at executablePath cannot be used, or undefined when it can. */
function whyChromiumUnusable(executablePath: string | undefined): string | undefined {
  if (executablePath === undefined) {
    const looked = chromiumCandidates(process.env).join(', ');
    return `no Chromium found (looked in ${looked}); install Debian's chromium package or set REHEARSE_CHROMIUM`;
  }
  if (!isExecutableFile(executablePath)) return `Chromium executable not found or not executable at ${executablePath}`;
  return undefined;
}

async function launchChromium(
  playwright: typeof import('playwright-core'),
  executablePath: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<Browser> {
  // Playwright's own signal handlers would close the browser and exit 130/129 before rehearse
  // could cancel its runs and record the interruption: rehearse handles signals and closes it.
  const browser = await playwright.chromium.launch({
    executablePath,
    headless: true,
    args: LAUNCH_ARGS,
    timeout,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  if (signal?.aborted) {
    await browser.close().catch(() => undefined);
    throw new Error('interrupted');
  }
  signal?.addEventListener(
    'abort',
    () => {
      void browser.close().catch(() => undefined);
    },
    { once: true },
  );
  return browser;
}

type Page = Awaited<ReturnType<Browser['newPage']>>;

/** Wait until the page shows enough text (and the expected texts), or the UI's own API error. */
async function waitForRunPage(
  page: Page,
  expectText: string[],
  requireAll: boolean,
  timeout: number,
): Promise<{ matched?: string; apiError?: string }> {
  const handle = await page.waitForFunction(
    ({ texts, all, minText, apiError }) => {
      const doc = (globalThis as unknown as PageGlobals).document;
      const text = doc.body?.innerText ?? '';
      const broken = text.split('\n').find((line) => line.includes(apiError));
      if (broken !== undefined) return { apiError: broken.trim() };
      if (text.trim().length <= minText) return false;
      if (texts.length === 0) return { matched: undefined };
      const found = texts.filter((t) => text.includes(t));
      return (all ? found.length === texts.length : found.length > 0) ? { matched: found.join(', ') } : false;
    },
    { texts: expectText, all: requireAll, minText: MIN_BODY_TEXT, apiError: UI_API_ERROR },
    { timeout, polling: 100 },
  );
  return (await handle.jsonValue()) as { matched?: string; apiError?: string };
}

/** The start of what the page shows, for a message; empty when the page does not answer soon. */
async function readPageSnippet(page: Page): Promise<string> {
  const shown = await Promise.race([
    page.evaluate(() => (globalThis as unknown as PageGlobals).document.body?.innerText ?? ''),
    sleep(2_000).then(() => ''),
  ]).catch(() => '');
  return shown.replace(/\s+/g, ' ').trim().slice(0, 120);
}

/** Network idle, waited for at most NETWORK_IDLE_CAP_MS: a page that never settles is shot all the same. */
async function settleNetwork(page: Page, timeoutMs: number): Promise<void> {
  await page
    .waitForLoadState('networkidle', { timeout: Math.min(NETWORK_IDLE_CAP_MS, timeoutMs) })
    .catch((err: unknown) => {
      if (!isTimeout(err)) throw err;
    });
}

/** What the run page failed to show in time. */
function notShown(expectText: readonly string[], requireAll: boolean | undefined): string {
  if (expectText.length === 0) return `the page never rendered more than ${MIN_BODY_TEXT} characters of text`;
  const texts = expectText.map((t) => JSON.stringify(t)).join(', ');
  return `${requireAll ? 'not all' : 'none'} of the expected texts (${texts}) appeared`;
}

async function shootPage(
  page: Page,
  url: string,
  request: Omit<ScreenshotRequest, 'url' | 'executablePath' | 'extraHeaders'> & { requireAll?: boolean },
  reload: boolean,
): Promise<ScreenshotResult> {
  const started = Date.now();
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const remaining = () => Math.max(1, started + timeoutMs - Date.now());
  const missing = (reason: string): ScreenshotResult => ({ status: 'missing', reason, url });
  const expectText = (request.expectText ?? []).filter((t) => t.trim() !== '');
  let stage = 'reloading the page';
  try {
    // A page opened before the run ended shows its old state until reloaded.
    if (reload) await page.reload({ waitUntil: 'domcontentloaded', timeout: remaining() });

    if (expectText.length === 0) {
      stage = 'waiting for the network to settle';
      await settleNetwork(page, remaining());
    }

    stage = 'waiting for the run page to render';
    let matchedText: string | undefined;
    try {
      const outcome = await waitForRunPage(page, expectText, request.requireAll ?? false, remaining());
      if (outcome.apiError !== undefined) return missing(`the Prefect UI could not reach its API: ${outcome.apiError}`);
      matchedText = outcome.matched;
    } catch (err) {
      if (!isTimeout(err)) throw err;
      const snippet = JSON.stringify(await readPageSnippet(page));
      return missing(
        `${notShown(expectText, request.requireAll)} within ${timeoutMs} ms on ${url}; page showed: ${snippet}`,
      );
    }

    await sleep(Math.min(SETTLE_MS, remaining()));

    stage = 'taking the screenshot';
    const png = await page.screenshot({ fullPage: false, type: 'png', timeout: remaining() });
    const size = readPngSize(png);
    if (!size) return missing('the browser returned a screenshot that is not a valid PNG');

    stage = `writing ${request.outFile}`;
    await writeFileAtomic(request.outFile, png);
    return {
      status: 'captured',
      file: request.outFile,
      width: size.width,
      height: size.height,
      bytes: png.length,
      url,
      durationMs: Date.now() - started,
      ...(matchedText !== undefined ? { matchedText } : {}),
    };
  } catch (err) {
    if (isTimeout(err)) return missing(`timed out after ${timeoutMs} ms while ${stage}`);
    return missing(`failed while ${stage}: ${firstLine(err)}`);
  }
}

/** Open the run page, wait until it shows the run, take the PNG, close the browser. */
export async function captureRunPage(request: ScreenshotRequest): Promise<ScreenshotResult> {
  const started = Date.now();
  const page = await openRunPage(request);
  if ('status' in page) return page;
  try {
    const timeoutMs = Math.max(1, (request.timeoutMs ?? DEFAULT_TIMEOUT_MS) - (Date.now() - started));
    return await page.capture({
      outFile: request.outFile,
      timeoutMs,
      ...(request.expectText ? { expectText: request.expectText } : {}),
    });
  } finally {
    await page.close();
  }
}
