// @ts-check
import { reportChild } from '../lib/children.js';
import { addRow, figuresAt, judge, log, ms, raw } from '../lib/table.js';

/** Row 6: report.html, built in process and opened in Chromium (issue 12), for a 3-run and a 1,000-run bundle. */
function reportRows() {
  const sizes = [3, 1000];
  log('row 6: report.html for 3 and 1,000 synthetic runs (build, Chromium load)');
  /** @type {Record<number, import('../lib/children.js').ReportFigures>} */
  const results = {};
  for (const size of sizes) {
    results[size] = reportChild(size);
  }
  raw.report = results;
  const small = figuresAt(results, 3, 'row 6');
  // The screenshot is embedded as base64: 4 bytes for every 3.
  const ownKB = (small.htmlBytes - Math.ceil(small.screenshotBytes / 3) * 4) / 1024;
  addRow({
    row: '6 report, 3 runs: size',
    figure: `${ownKB.toFixed(0)} KB plus the embedded screenshot (${(small.htmlBytes / 1024).toFixed(0)} KB in all)`,
    goal: '< 300 KB + screenshot',
    ...judge(ownKB < 300, `${ownKB.toFixed(0)} KB`),
  });
  const big = figuresAt(results, 1000, 'row 6');
  addRow({
    row: '6 report, 1,000 runs: render',
    figure: `${ms(big.renderMs)} in Chromium (${big.rows} rows, ${(big.htmlBytes / 1048576).toFixed(1)} MB); built in ${ms(big.buildMs)}`,
    goal: '< 2 s',
    ...judge(big.renderMs < 2000 && big.rows === 1000, `${ms(big.renderMs)}, ${big.rows} rows`),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 6,
  title: '6 report',
  needs: 'none',
  run: reportRows,
};
