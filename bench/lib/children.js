// @ts-check
// The in-process measurements that run in a child node of their own (report-child.js).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchDir, node, repo } from './options.js';
import { tail } from './table.js';

/**
 * What report-child.js prints: the runs, the table rows Chromium counted, build and load time, the files' bytes.
 * @typedef {{ runs: number, rows: number, buildMs: number, renderMs: number, htmlBytes: number, svgBytes: number, screenshotBytes: number }} ReportFigures
 */

/** One report-child run: the bundle's report and timeline for `size` synthetic runs, built and loaded in Chromium. */
/**
 * @param {number} size
 * @returns {ReportFigures} the child's last stdout line, parsed
 */
export function reportChild(size) {
  const child = spawnSync(node, [path.join(benchDir, 'report-child.js'), String(size)], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (child.status !== 0)
    throw new Error(`report-child ${size} exited ${child.status ?? child.signal}: ${tail(child.stderr ?? '', 8)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '');
}
