#!/usr/bin/env node
// @ts-check
// The slowest tests of the last run, each beside the timeout it ran under, so a margin shrinking is seen
// before a test fails for it. .ci/run prints it after the tests; scripts/ci-under-load.sh too.
//
//   node scripts/slow-tests.js [test-results/vitest.json] [count]
//
// The timeout of a test is what test/support/record-timeout.ts wrote into its JSON meta (its own or its
// project's). A test without one (a report from before that file, or a test that never ran its hooks)
// gets its project's testTimeout, read from vitest.config.ts by the folder the test file is in
// (test/unit, test/integration, test/e2e): a per-test override is then not seen, and is marked "?".
// Hooks (beforeAll, afterAll) have no duration in the report, so they are not listed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** A margin below this is printed as a warning: the suite promises 3x over the slowest time seen. */
const MIN_MARGIN = 3;

/**
 * @typedef {{ title: string; ancestorTitles?: string[]; status: string; duration?: number | null; meta?: { timeoutMs?: number } }} AssertionResult
 * @typedef {{ name: string; assertionResults: AssertionResult[] }} FileResult
 * @typedef {{ testResults: FileResult[] }} Report
 * @typedef {{ file: string; name: string; project: string; status: string; ms: number; timeoutMs: number | undefined; guessed: boolean }} SlowTest
 */

/**
 * Each project's testTimeout as vitest.config.ts writes it (`name: 'unit'` ... `testTimeout: 30_000`).
 * @param {string} configText
 * @returns {Record<string, number>}
 */
export function projectTimeouts(configText) {
  /** @type {Record<string, number>} */
  const timeouts = {};
  const blocks = configText.split(/\bname:\s*'/).slice(1);
  for (const block of blocks) {
    const name = block.slice(0, block.indexOf("'"));
    const timeout = /\btestTimeout:\s*([\d_]+)/.exec(block);
    if (timeout?.[1]) timeouts[name] = Number(timeout[1].replaceAll('_', ''));
  }
  return timeouts;
}

/**
 * @param {string} file
 * @returns {string}
 */
const projectOf = (file) => /(?:^|\/)test\/(unit|integration|e2e)\//.exec(file)?.[1] ?? 'other';

/**
 * The tests that ran, slowest first.
 * @param {Report} report
 * @param {Record<string, number>} defaults each project's testTimeout, for tests whose report has none
 * @param {string} root the repository, so file names print relative to it
 * @param {number} count
 * @returns {SlowTest[]}
 */
export function slowestTests(report, defaults, root, count = 10) {
  /** @type {SlowTest[]} */
  const tests = [];
  for (const file of report.testResults) {
    const rel = path.relative(root, file.name) || file.name;
    const project = projectOf(rel);
    for (const test of file.assertionResults) {
      if (typeof test.duration !== 'number') continue;
      const recorded = test.meta?.timeoutMs;
      tests.push({
        file: rel,
        name: [...(test.ancestorTitles ?? []), test.title].join(' > '),
        project,
        status: test.status,
        ms: test.duration,
        timeoutMs: recorded ?? defaults[project],
        guessed: recorded === undefined,
      });
    }
  }
  return tests.sort((a, b) => b.ms - a.ms).slice(0, count);
}

/**
 * @param {number} ms
 * @returns {string}
 */
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * One line per test: its time, its timeout and the margin between them.
 * @param {SlowTest[]} tests
 * @returns {string[]}
 */
export function formatSlowTests(tests) {
  return tests.map((t) => {
    const timeout = t.timeoutMs === undefined ? '?' : `${seconds(t.timeoutMs)}${t.guessed ? '?' : ''}`;
    const margin = t.timeoutMs === undefined || t.ms <= 0 ? undefined : t.timeoutMs / t.ms;
    const ratio = margin === undefined ? '' : `${margin >= 100 ? '>99' : margin.toFixed(1)}x`;
    const warn = margin !== undefined && margin < MIN_MARGIN ? `  BELOW ${MIN_MARGIN}x` : '';
    const failed = t.status === 'failed' ? ' [failed]' : '';
    const name = t.name.length > 100 ? `${t.name.slice(0, 99)}…` : t.name;
    return `${seconds(t.ms).padStart(8)} of ${timeout.padStart(8)} ${ratio.padStart(6)}${warn}  ${t.file} > ${name}${failed}`;
  });
}

function main() {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const file = process.argv[2] ?? path.join(root, 'test-results', 'vitest.json');
  const count = Number(process.argv[3] ?? 10) || 10;
  /** @type {Report} */
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const defaults = projectTimeouts(readFileSync(path.join(root, 'vitest.config.ts'), 'utf8'));
  const slow = slowestTests(report, defaults, root, count);
  console.log(`the ${slow.length} slowest tests: time, of its timeout (? = the project's, guessed), margin`);
  for (const line of formatSlowTests(slow)) console.log(line);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
