// @ts-check
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchDir, node, quick, repo } from '../lib/options.js';
import { addRow, curve, figuresAt, judge, log, raw, tail } from '../lib/table.js';

/**
 * What window-child.js prints for a window: its days, the parameters' build time and bytes, the bundle's and the
 * report's bytes without the screenshot.
 * @typedef {{ days: number, buildMs: number, parameterBytes: number, bundleBytes: number, reportBytes: number }} WindowFigures
 */

/**
 * Row 11 (issue 28): windows of 7, 90 and 365 days on the upstream-shaped flow (a `runs` list, one entry a
 * day): the parameters' build time and bytes per day, the bundle's bytes per added day, the report's size.
 * rehearse's own code only: no sandbox.
 */
function windowRows() {
  const sizes = quick ? [7] : [7, 90, 365];
  log(`row 11: windows of ${sizes.join(', ')} days on the upstream flow's runs list`);
  const child = spawnSync(node, [path.join(benchDir, 'window-child.js'), ...sizes.map(String)], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0)
    throw new Error(`window-child exited ${child.status ?? child.signal}: ${tail(child.stderr ?? '', 8)}`);
  /** @type {Record<number, WindowFigures>} */
  const results = Object.fromEntries(
    child.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .map((r) => [r.days, r]),
  );
  raw.window = results;
  const at = (/** @type {number | undefined} */ days) => figuresAt(results, days, 'row 11');
  const list = (/** @type {(r: WindowFigures) => string} */ f) =>
    sizes.map((days) => `${days} d: ${f(at(days))}`).join(', ');
  const build = curve(sizes, (days) => at(days).buildMs / days);
  const bytes = curve(sizes, (days) => at(days).parameterBytes / days);
  addRow({
    row: '11 window: parameters',
    figure:
      `built in ${list((r) => `${(r.buildMs * 1000).toFixed(0)} µs`)} (${list((r) => `${((r.buildMs * 1000) / r.days).toFixed(1)} µs/day`)}); ` +
      `${list((r) => `${(r.parameterBytes / r.days).toFixed(1)} B/day`)}; per day largest/smallest: time ${build.ratio.toFixed(2)}x, bytes ${bytes.ratio.toFixed(2)}x`,
    goal: 'per day ≤ 1.5x',
    ratio: Math.max(build.ratio, bytes.ratio),
    ...judge(
      build.ratio <= 1.5 && bytes.ratio <= 1.5,
      `time ${build.ratio.toFixed(2)}x, bytes ${bytes.ratio.toFixed(2)}x`,
    ),
  });
  const first = at(sizes[0]);
  const last = at(sizes.at(-1));
  const perDay = (/** @type {WindowFigures} */ r) =>
    r.days === first.days ? 0 : (r.bundleBytes - first.bundleBytes) / (r.days - first.days);
  const added = sizes.slice(1).map((days) => perDay(at(days)));
  const addedRatio = added.length > 1 ? (added.at(-1) ?? Number.NaN) / (added[0] ?? Number.NaN) : 1;
  const reportRatio = last.reportBytes / first.reportBytes;
  addRow({
    row: '11 window: bundle, report',
    figure:
      `bundle without its screenshot ${list((r) => `${(r.bundleBytes / 1024).toFixed(0)} KB`)} (${list((r) => `${perDay(r).toFixed(0)} B per added day`)}); ` +
      `report.html without the screenshot ${list((r) => `${(r.reportBytes / 1024).toFixed(1)} KB`)} (${reportRatio.toFixed(2)}x)`,
    goal: 'bytes per added day ≤ 1.5x; report ≤ 1.5x',
    ratio: Math.max(addedRatio, reportRatio),
    ...judge(
      addedRatio <= 1.5 && reportRatio <= 1.5,
      `added ${addedRatio.toFixed(2)}x, report ${reportRatio.toFixed(2)}x`,
    ),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 11,
  title: '11 window',
  needs: 'none',
  run: windowRows,
};
