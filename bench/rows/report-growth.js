// @ts-check
import { reportChild } from '../lib/children.js';
import { quick } from '../lib/options.js';
import { addRow, curve, figuresAt, judge, log, ms, raw } from '../lib/table.js';

/** @typedef {import('../lib/children.js').ReportFigures} ReportFigures */

/**
 * Row 10 (issue 28): report.html and concurrency.svg as the report grows, 10, 100 and 1,000 runs: sizes
 * (the report without its embedded screenshot), per-run bytes and Chromium load time, the ratio of the
 * largest size's per-run figure over the smallest's.
 */
function reportGrowthRows() {
  const sizes = quick ? [10] : [10, 100, 1000];
  log(`row 10: report.html and concurrency.svg for ${sizes.join(', ')} synthetic runs`);
  const results = Object.fromEntries(sizes.map((size) => [size, reportChild(size)]));
  raw.reportGrowth = results;
  // The screenshot is embedded as base64: 4 bytes for every 3; it does not grow with the runs.
  const own = (/** @type {ReportFigures} */ r) => r.htmlBytes - Math.ceil(r.screenshotBytes / 3) * 4;
  const kb = (/** @type {number} */ bytes) => `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KB`;
  const at = (/** @type {number | undefined} */ size) => figuresAt(results, size, 'row 10');
  const html = curve(sizes, (size) => own(at(size)) / size);
  const svg = curve(sizes, (size) => at(size).svgBytes / size);
  const render = curve(sizes, (size) => at(size).renderMs / size);
  const largest = at(sizes.at(-1));
  const list = (/** @type {(r: ReportFigures) => string} */ f) =>
    sizes.map((size) => `${size}: ${f(at(size))}`).join(', ');
  addRow({
    row: '10 report growth: size',
    figure:
      `report.html ${list((r) => kb(r.htmlBytes))} (${list((r) => `${kb(own(r) / r.runs)}/run`)} without the screenshot); ` +
      `concurrency.svg ${list((r) => kb(r.svgBytes))}; per run largest/smallest: html ${html.ratio.toFixed(2)}x, svg ${svg.ratio.toFixed(2)}x`,
    goal: '1,000 runs < 2 MB; per run ≤ 1.5x',
    ratio: html.ratio,
    ...judge(
      largest.htmlBytes < 2 * 1048576 && html.ratio <= 1.5 && svg.ratio <= 1.5,
      `${(largest.htmlBytes / 1048576).toFixed(2)} MB, ${html.ratio.toFixed(2)}x, ${svg.ratio.toFixed(2)}x`,
    ),
  });
  addRow({
    row: '10 report growth: render',
    figure:
      `Chromium load ${list((r) => ms(r.renderMs))}; built ${list((r) => ms(r.buildMs))}; ` +
      `per run largest/smallest ${render.ratio.toFixed(2)}x`,
    goal: '1,000 runs < 2 s',
    ratio: render.ratio,
    ...judge(largest.renderMs < 2000 && largest.rows === largest.runs, `${ms(largest.renderMs)}, ${largest.rows} rows`),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 10,
  title: '10 report growth',
  needs: 'none',
  run: reportGrowthRows,
};
