// @ts-check
// One size of the in-process peak bench, in its own node process so sizes do not share a heap:
//   node --expose-gc bench/peak-child.js <runs> <repeats> [file|direct]
// Makes a synthetic state history of <runs> runs (5 states each, Prefect-shaped: ISO timestamps with
// microseconds, state ids), one run at a time so nothing holds them all. `file` (the default) writes it as
// state-history.json in the layout the steps write, then reads it back as `rehearse verify` does, one run at a
// time into the RUNNING stretches the sweep needs; `direct` hands the runs straight to the collector (1M runs
// would be a 1 GB file). Then it times the sweep once cold and <repeats> times, and prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStateHistory } from '../dist/bundle/state-history.js';
import { peakOf, runningSpanCollector } from '../dist/guardrails/peak.js';
import { lastInstant, synthetic } from './synthetic.js';

const runs = Number(process.argv[2]);
const repeats = Number(process.argv[3] ?? 5);
const mode = process.argv[4] ?? 'file';
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(repeats) || repeats < 1 || !/^(file|direct)$/.test(mode)) {
  process.stderr.write('usage: node bench/peak-child.js <runs> <repeats> [file|direct]\n');
  process.exit(2);
}

/** state-history.json in the steps' layout (JSON.stringify with two spaces), written one run at a time. */
/**
 * @param {string} file
 * @param {number} count
 * @param {string} asOf
 */
function writeHistoryFile(file, count, asOf) {
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, `{\n  "asOf": "${asOf}",\n  "deploymentId": null,\n  "rehearsalRunIds": [],\n  "runs": [\n`);
  let written = 0;
  for (const run of synthetic(count)) {
    written += 1;
    const text = JSON.stringify(run, null, 2).replace(/\n/g, '\n    ');
    fs.writeSync(fd, `    ${text}${written < count ? ',' : ''}\n`);
  }
  fs.writeSync(fd, '  ]\n}\n');
  fs.closeSync(fd);
  return fs.statSync(file).size;
}

const asOf = lastInstant(runs);
let fileBytes = null;
let dir;
let collectMs;
const collector = runningSpanCollector(asOf);
const collectStarted = performance.now();
if (mode === 'file') {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearse-bench-peak-'));
  const file = path.join(dir, 'state-history.json');
  fileBytes = writeHistoryFile(file, runs, asOf);
  // The generator's garbage is collected before the read, so the read's peak is the read's own.
  global.gc?.();
  const readStarted = performance.now();
  const reader = await openStateHistory(file);
  for await (const run of reader.runs) collector.add(run);
  collectMs = performance.now() - readStarted;
} else {
  // Through JSON, as a reader or the API hands runs over: flat strings, not the generator's concatenations.
  for (const run of synthetic(runs)) collector.add(JSON.parse(JSON.stringify(run)));
  collectMs = performance.now() - collectStarted;
}
const spans = collector.finish();
if (dir) fs.rmSync(dir, { recursive: true, force: true });
const rssWithSpansBytes = process.memoryUsage().rss;

// The first sweep runs cold (as in `rehearse validate`, which computes once per process); it is reported
// apart, and the timed sweeps that follow measure the algorithm rather than the JIT warming up.
const coldStarted = performance.now();
let result = peakOf(spans);
const coldMs = performance.now() - coldStarted;
const timesMs = [];
for (let i = 0; i < repeats; i += 1) {
  const started = performance.now();
  result = peakOf(spans);
  timesMs.push(performance.now() - started);
}
const sorted = [...timesMs].sort((a, b) => a - b);
const at = (/** @type {number} */ i) => sorted[i] ?? Number.NaN;
const median =
  sorted.length % 2 ? at((sorted.length - 1) / 2) : (at(sorted.length / 2 - 1) + at(sorted.length / 2)) / 2;
process.stdout.write(
  `${JSON.stringify({
    runs,
    states: runs * 5,
    mode,
    fileBytes,
    repeats,
    collectMs,
    coldMs,
    timesMs,
    medianMs: median,
    peak: result.peak,
    windows: result.windows.length,
    intervals: result.intervals.length,
    rssWithSpansBytes,
    // The whole process at its largest: node, the generator, the reader and the sweep.
    maxRssKB: process.resourceUsage().maxRSS,
  })}\n`,
);
