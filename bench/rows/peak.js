// @ts-check
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchDir, node, quick, repo } from '../lib/options.js';
import { addRow, figuresAt, judge, log, mb, median, ms, raw, tail, x } from '../lib/table.js';

/**
 * What peak-child.js prints for one size: the read, the cold sweep and the timed ones, the memory.
 * @typedef {{ runs: number, states: number, mode: string, fileBytes: number, repeats: number, collectMs: number,
 *   coldMs: number, timesMs: number[], medianMs: number, peak: number, windows: number, intervals: number,
 *   rssWithSpansBytes: number, maxRssKB: number }} PeakSample
 * @typedef {'medianMs' | 'coldMs' | 'collectMs' | 'maxRssKB' | 'rssWithSpansBytes' | 'fileBytes'} PeakKey
 * @typedef {Record<PeakKey, number> & { runs: number, rounds: number, samples: PeakSample[] }} PeakFigures medians over the rounds
 * @typedef {{ runs: number, mode: string, writeMs: number, fileBytes: number, rssBeforeBytes: number, maxRssKB: number }} WriteSample what write-child.js prints
 */

/**
 * Row 3: the peak of RUNNING runs in process, as `rehearse verify` computes it: state-history.json read one run at
 * a time into the RUNNING stretches the sweep needs, then the sweep. Each measurement is a fresh child node per
 * size (sizes never share a heap), and the sizes take turns round after round, so a busy spell on the machine
 * lands on every size alike instead of on the one that happened to run then: growth factors stay side by side.
 */
/**
 * @param {number} size
 * @param {'file' | 'direct'} mode
 * @returns {PeakSample}
 */
function peakChild(size, mode) {
  const child = spawnSync(node, ['--expose-gc', path.join(benchDir, 'peak-child.js'), String(size), '3', mode], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0)
    throw new Error(`peak-child ${size} exited ${child.status ?? child.signal}: ${tail(child.stderr ?? '', 8)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '');
}

async function peakRows() {
  const sizes = quick ? [1000, 10_000] : [1000, 10_000, 100_000];
  const rounds = quick ? 1 : 5;
  /** @type {Record<number, PeakSample[]>} */
  const samples = Object.fromEntries(sizes.map((size) => [size, []]));
  log(
    `row 3: peak concurrency over ${sizes.map((n) => n.toLocaleString('en')).join(', ')} synthetic runs read from state-history.json, ${rounds} interleaved round(s)`,
  );
  for (let round = 0; round < rounds; round += 1) {
    for (let k = 0; k < sizes.length; k += 1) {
      const size = /** @type {number} an index below sizes.length */ (sizes[(round + k) % sizes.length]);
      figuresAt(samples, size, 'row 3').push(peakChild(size, 'file'));
    }
  }
  /** @type {Record<number, PeakFigures>} */
  const results = Object.fromEntries(
    sizes.map((size) => {
      const sampled = figuresAt(samples, size, 'row 3');
      const of = (/** @type {PeakKey} */ key) => median(sampled.map((sample) => sample[key]));
      /** @type {PeakKey[]} */
      const keys = ['medianMs', 'coldMs', 'collectMs', 'maxRssKB', 'rssWithSpansBytes', 'fileBytes'];
      const medians = /** @type {Record<PeakKey, number>} */ (Object.fromEntries(keys.map((key) => [key, of(key)])));
      return [size, { runs: size, rounds, ...medians, samples: sampled }];
    }),
  );
  raw.peak = results;
  for (const size of sizes) {
    const r = figuresAt(results, size, 'row 3');
    const base = figuresAt(results, sizes[0], 'row 3');
    const growth = size === sizes[0] ? '' : `, ${x(r.medianMs / base.medianMs)} the 1k time`;
    addRow({
      row: `3 peak, ${size.toLocaleString('en')} runs`,
      figure: `sweep ${ms(r.medianMs)}${growth} (cold ${ms(r.coldMs)}); read of ${(r.fileBytes / 1048576).toFixed(1)} MB state-history.json ${ms(r.collectMs)}; peak RSS ${mb(r.maxRssKB)}`,
      goal: '—',
      met: null,
      verdict: quick ? 'completed' : '—',
    });
  }
  if (quick) return;
  const big = figuresAt(results, 100_000, 'row 3');
  const mid = figuresAt(results, 10_000, 'row 3');
  const growth = big.medianMs / mid.medianMs;
  addRow({
    row: '3 peak, 100k runs: time',
    figure: `${ms(big.medianMs)} (${x(growth)} the 10k time, median of ${rounds}; cold first sweep ${ms(big.coldMs)})`,
    goal: '≤ 0.3 s',
    ...judge(big.medianMs <= 300, `${ms(big.medianMs)}`),
  });
  addRow({
    row: '3 peak, 100k runs: memory',
    figure: `${mb(big.maxRssKB)} peak RSS of the whole process (${x(big.maxRssKB / mid.maxRssKB)} the 10k), reading the ${(big.fileBytes / 1048576).toFixed(0)} MB file one run at a time`,
    goal: '≤ 150 MB',
    ...judge(
      big.maxRssKB <= 150 * 1024,
      `the RUNNING stretches of 100k runs left ${mb(big.rssWithSpansBytes / 1024)} resident`,
    ),
  });
  addRow({
    row: '3 peak growth 10k → 100k',
    figure: `${x(growth)} (${ms(big.medianMs)} vs ${ms(mid.medianMs)})`,
    goal: '≤ 12x',
    ratio: growth,
    ...judge(growth <= 12, `${x(growth)} for 10x the runs: worse than linear`),
  });
  log('row 3: 1,000,000 synthetic runs handed straight to the collector (as a file they would be ~1 GB)');
  const million = peakChild(1_000_000, 'direct');
  raw.peak.million = million;
  addRow({
    row: '3 peak, 1M runs (a row, not a goal)',
    figure: `sweep ${ms(million.medianMs)} (cold ${ms(million.coldMs)}); peak RSS ${mb(million.maxRssKB)}`,
    goal: '≤ 3 s, ≤ 600 MB',
    ...judge(
      million.medianMs <= 3000 && million.maxRssKB <= 600 * 1024,
      `${ms(million.medianMs)}, ${mb(million.maxRssKB)}`,
    ),
  });
}

/** Row 3's write half: state-history.json of <size> runs written piece by piece vs as one string, in fresh processes. */
/**
 * @param {number} size
 * @param {'stream' | 'whole'} mode
 * @returns {WriteSample}
 */
function writeChild(size, mode) {
  const child = spawnSync(node, ['--expose-gc', path.join(benchDir, 'write-child.js'), String(size), mode], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (child.status !== 0)
    throw new Error(
      `write-child ${size} ${mode} exited ${child.status ?? child.signal}: ${tail(child.stderr ?? '', 8)}`,
    );
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '');
}

/**
 * Row 3, writing: what the capture and validate steps do with the histories they hold, streamed through
 * writeEvidenceJson, beside the one-string write they did before, in turns. The goal is the stream's memory
 * over what the histories already hold: a small fraction of the one string's.
 */
function writeRows() {
  const size = quick ? 10_000 : 100_000;
  const rounds = quick ? 1 : 3;
  log(
    `row 3: state-history.json of ${size.toLocaleString('en')} runs written streamed and as one string, ${rounds} round(s)`,
  );
  /** @type {Record<'stream' | 'whole', WriteSample[]>} */
  const samples = { stream: [], whole: [] };
  for (let round = 0; round < rounds; round += 1) {
    /** @type {('stream' | 'whole')[]} */
    const order = round % 2 ? ['whole', 'stream'] : ['stream', 'whole'];
    for (const mode of order) samples[mode].push(writeChild(size, mode));
  }
  /**
   * @param {'stream' | 'whole'} mode
   * @param {'maxRssKB' | 'rssBeforeBytes' | 'writeMs' | 'fileBytes'} key
   */
  const of = (mode, key) => median(samples[mode].map((sample) => sample[key]));
  const extra = (/** @type {'stream' | 'whole'} */ mode) => of(mode, 'maxRssKB') - of(mode, 'rssBeforeBytes') / 1024;
  const ratio = extra('stream') / extra('whole');
  raw.write = { size, rounds, samples };
  addRow({
    row: `3 write, ${size.toLocaleString('en')} runs: streamed vs one string`,
    figure: `${mb(extra('stream'))} over the ${mb(of('stream', 'rssBeforeBytes') / 1024)} the histories hold vs ${mb(extra('whole'))} (${x(ratio)}); ${ms(of('stream', 'writeMs'))} vs ${ms(of('whole', 'writeMs'))} for ${(of('stream', 'fileBytes') / 1048576).toFixed(0)} MB`,
    goal: quick ? '—' : '≤ 0.25x the memory',
    ratio,
    ...(quick
      ? { met: null, verdict: 'completed' }
      : judge(ratio <= 0.25, `${x(ratio)} the one string's extra memory`)),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 3,
  title: '3 peak (in process)',
  needs: 'none',
  async run() {
    await peakRows();
    writeRows();
  },
};
