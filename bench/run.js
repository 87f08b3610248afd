#!/usr/bin/env node
// rehearse's performance bench (issue 5). Every figure is a ratio or growth factor measured side by
// side in this run; each row prints its goal beside its figure and says met / not met.
//
//   npm run bench                 build, then every row (starts and stops its sandboxes; ~40 min, 25 of them row 13's writes)
//   node bench/run.js --quick     CI smoke: small sizes, < 60 s, checks completion only (rows 12, 13 only if named)
//   node bench/run.js --strict    exit 1 when a goal is not met (default: exit 1 only if something crashed)
//   node bench/run.js --keep      keep the temporary working directories (bundles, logs) for a look
//   node bench/run.js --row=7     only the rows named (comma-separated); results.json is kept for full runs
//
// Writes bench/results.json (gitignored) with every raw number, the machine and the date.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import burstGrowthRow from './rows/burst-growth.js'; // issue 28 glue
import historyRow from './rows/history.js'; // issue 28 glue

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(benchDir, '..');
const cli = path.join(repo, 'bin', 'rehearse.js');
const node = process.execPath;
const rssHook = pathToFileURL(path.join(benchDir, 'rss-hook.js')).href;
const runbook = path.join(benchDir, 'runbook.sh');
const resultsFile = path.join(benchDir, 'results.json');

const argv = new Set(process.argv.slice(2));
if (argv.has('--help') || argv.has('-h')) {
  process.stdout.write(
    `${fs
      .readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 10)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n')}\n`,
  );
  process.exit(0);
}
/** `--row=7` or `--row=2,4`: only those rows (and what they need); the whole bench by default. */
const onlyRows = new Set(
  [...argv]
    .filter((flag) => flag.startsWith('--row='))
    .flatMap((flag) => flag.slice('--row='.length).split(','))
    .map(Number),
);
for (const flag of argv) {
  const rowFlag = /^--row=\d+(,\d+)*$/.test(flag);
  if (!rowFlag && !['--quick', '--strict', '--keep'].includes(flag)) {
    process.stderr.write(`bench: unknown option ${flag} (--quick, --strict, --keep, --row=N[,N])\n`);
    process.exit(2);
  }
}
const wanted = (row) => onlyRows.size === 0 || onlyRows.has(row);
const quick = argv.has('--quick');
const strict = argv.has('--strict');
const keep = argv.has('--keep');

// ---------------------------------------------------------------------------------------------
// helpers

const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round = (n, digits = 2) => (n === undefined || n === null || Number.isNaN(n) ? null : Number(n.toFixed(digits)));
const ms = (n) =>
  n >= 10_000
    ? `${(n / 1000).toFixed(1)} s`
    : n >= 1000
      ? `${(n / 1000).toFixed(2)} s`
      : `${n.toFixed(n < 10 ? 1 : 0)} ms`;
const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
const x = (ratio) => `${ratio.toFixed(2)}x`;
const tail = (text, lines = 15) => text.trim().split('\n').slice(-lines).join('\n');

/** The machine's load when each row starts: single-run timings mean little on a busy machine. */
const loads = [];
function noteLoad(row) {
  const [one, five] = os.loadavg();
  loads.push({ row, load1: round(one), load5: round(five) });
}

/** Children that may outlive a crash: their process groups are stopped on exit. */
const live = new Set();

/**
 * Runs a command in its own process group, timing it from spawn to exit. Stdout/stderr are collected;
 * each complete stderr line is stamped with its arrival time (ms since spawn).
 */
function runProcess(file, args, { cwd = repo, env = process.env, timeoutMs = 600_000, label = file } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    const stderrLines = [];
    let exitedAt;
    let timedOut = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      const at = performance.now() - started;
      stderr += chunk;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop();
      for (const text of parts) stderrLines.push({ at, text });
    });
    const timer = setTimeout(() => {
      timedOut = true;
      log(`${label}: no end after ${Math.round(timeoutMs / 1000)} s, stopping it`);
      stopGroup(child);
    }, timeoutMs);
    child.on('exit', () => {
      exitedAt = performance.now();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({
        code: null,
        signal: null,
        error: error.message,
        ms: performance.now() - started,
        stdout,
        stderr,
        stderrLines,
        timedOut,
      });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (partial) stderrLines.push({ at: (exitedAt ?? performance.now()) - started, text: partial });
      resolve({ code, signal, ms: (exitedAt ?? performance.now()) - started, stdout, stderr, stderrLines, timedOut });
    });
  });
}

function stopGroup(child) {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000).unref();
}

function mkdtemp(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The newest bundle under a working directory's evidence root. */
function bundleIn(cwd) {
  const root = path.join(cwd, 'dist', 'staging', 'backfill');
  const names = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((n) => /^\d{8}T\d{6}Z/.test(n))
        .sort()
    : [];
  return names.length ? path.join(root, names.at(-1)) : undefined;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function readRssKB(file) {
  try {
    const kb = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(kb) && kb > 0 ? kb : undefined;
  } catch {
    return undefined;
  }
}

/** Commands recorded in a bundle's summary.json, with the step that ran them. */
function recordedCommands(summary) {
  return summary.steps.flatMap((step) => (step.commands ?? []).map((command) => ({ step: step.name, ...command })));
}
const startsPython = (command) => command.kind === 'process' && command.file === 'uv' && command.args?.[0] === 'run';

/** `uv run prefect deployment inspect ...` → `prefect deployment inspect` (for notes). */
const shortCommand = (args) =>
  args
    .slice(1)
    .filter((a) => !a.startsWith('-') && !/^[{[]/.test(a) && !/[/]/.test(a) && !/^[0-9a-f-]{36}$/.test(a))
    .slice(0, 3)
    .join(' ');

// ---------------------------------------------------------------------------------------------
// rows

const rows = [];
const notes = [];
const raw = {};
let crashed = false;

/** A row: `met` is true/false, or null when there is no goal or it is not judged (--quick). */
function addRow(row) {
  rows.push(row);
  return row;
}
function judge(goalMet, reason) {
  if (quick) return { met: null, verdict: 'not judged (--quick)' };
  return goalMet ? { met: true, verdict: 'met' } : { met: false, verdict: `not met: ${reason}` };
}
function failRow(row, error) {
  crashed = true;
  const message = error instanceof Error ? error.message : String(error);
  log(`${row}: ERROR ${message}`);
  addRow({
    row,
    figure: `error: ${message.split('\n')[0]}`,
    goal: '',
    met: false,
    verdict: 'not met: the bench could not measure it',
    error: message,
  });
}

/** Row 1: start-up of the CLI against bare node, interleaved so drift hits every command alike. */
async function startupRows() {
  const runs = quick ? 5 : 15;
  const commands = {
    'node -e ""': ['-e', ''],
    'rehearse --version': [cli, '--version'],
    'rehearse --help': [cli, '--help'],
  };
  const names = Object.keys(commands);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const once = (name) => {
    const started = performance.now();
    const result = spawnSync(node, commands[name], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const elapsed = performance.now() - started;
    if (result.status !== 0) throw new Error(`${name} exited ${result.status}: ${tail(String(result.stderr), 5)}`);
    return elapsed;
  };
  for (const name of names) once(name); // warm the file cache, untimed
  for (let i = 0; i < runs; i += 1) {
    for (let k = 0; k < names.length; k += 1) {
      const name = names[(i + k) % names.length];
      times[name].push(once(name));
    }
  }
  const bare = median(times['node -e ""']);
  raw.startup = { runs, timesMs: times, medianMs: Object.fromEntries(names.map((n) => [n, median(times[n])])) };
  for (const name of ['rehearse --version', 'rehearse --help']) {
    const m = median(times[name]);
    const ratio = m / bare;
    const why = `${ms(m - bare)} over bare node; see the note on start-up`;
    addRow({
      row: `1 start-up ${name.replace('rehearse ', '')}`,
      figure: `${x(ratio)} bare node (${ms(m)} vs ${ms(bare)}, median of ${runs})`,
      goal: '≤ 1.3x',
      ratio,
      ...judge(ratio <= 1.3, why),
    });
  }
  if (!quick && (median(times['rehearse --version']) / bare > 1.3 || median(times['rehearse --help']) / bare > 1.3)) {
    notes.push(startupNote());
  }
}

/** The modules `import`ed statically from a compiled file (dynamic import() calls are not followed). */
function staticImports(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s+(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]);
}

/** Every file and package that loading `entry` loads, with the chain of files that pulls each package in. */
function importGraph(entry) {
  const seen = new Set([entry]);
  const packages = new Map();
  const queue = [[entry, []]];
  while (queue.length) {
    const [file, chain] = queue.shift();
    const here = [...chain, path.relative(path.join(repo, 'dist'), file)];
    for (const spec of staticImports(file)) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const next = path.resolve(path.dirname(file), spec);
        if (!seen.has(next) && fs.existsSync(next)) {
          seen.add(next);
          queue.push([next, here]);
        }
      } else {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!packages.has(name)) packages.set(name, here);
      }
    }
  }
  return { files: [...seen].map((f) => path.relative(repo, f)), packages };
}

/** Milliseconds to import a module in a fresh node (median of 3). */
function importMs(specifier) {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t);`;
  const times = [];
  for (let i = 0; i < 3; i += 1) {
    const result = spawnSync(node, ['--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8' });
    if (result.status !== 0) return undefined;
    times.push(Number(result.stdout.trim()));
  }
  return median(times);
}

/** Where start-up goes: what `--version` and `--help` load before they can answer. */
function startupNote() {
  const entry = path.join(repo, 'dist', 'cli.js');
  const graph = importGraph(entry);
  const total = importMs(pathToFileURL(entry).href);
  const packages = [...graph.packages.entries()]
    .map(([name, chain]) => ({ name, chain, ms: importMs(name) }))
    .filter((p) => p.ms !== undefined)
    .sort((a, b) => b.ms - a.ms);
  raw.startupImports = { distCliMs: total, files: graph.files, packages };
  const list = packages
    .map((p) => `${p.name} ${ms(p.ms)}${p.chain.length > 1 ? ` (via ${p.chain.slice(1).join(' → ')})` : ''}`)
    .join(', ');
  return `start-up: \`rehearse --version\` and \`--help\` load dist/cli.js and ${graph.files.length - 1} more file(s) statically (${total === undefined ? '?' : ms(total)} to import in a fresh node); the packages among them, each imported alone: ${list}.`;
}

/**
 * Row 3: the peak of RUNNING runs in process, as `rehearse verify` computes it: state-history.json read one run at
 * a time into the RUNNING stretches the sweep needs, then the sweep. Each measurement is a fresh child node per
 * size (sizes never share a heap), and the sizes take turns round after round, so a busy spell on the machine
 * lands on every size alike instead of on the one that happened to run then: growth factors stay side by side.
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
  return JSON.parse(child.stdout.trim().split('\n').at(-1));
}

async function peakRows() {
  const sizes = quick ? [1000, 10_000] : [1000, 10_000, 100_000];
  const rounds = quick ? 1 : 5;
  const samples = Object.fromEntries(sizes.map((size) => [size, []]));
  log(
    `row 3: peak concurrency over ${sizes.map((n) => n.toLocaleString('en')).join(', ')} synthetic runs read from state-history.json, ${rounds} interleaved round(s)`,
  );
  for (let round = 0; round < rounds; round += 1) {
    for (let k = 0; k < sizes.length; k += 1) {
      const size = sizes[(round + k) % sizes.length];
      samples[size].push(peakChild(size, 'file'));
    }
  }
  const results = Object.fromEntries(
    sizes.map((size) => {
      const of = (key) => median(samples[size].map((sample) => sample[key]));
      const keys = ['medianMs', 'coldMs', 'collectMs', 'maxRssKB', 'rssWithSpansBytes', 'fileBytes'];
      return [
        size,
        { runs: size, rounds, ...Object.fromEntries(keys.map((key) => [key, of(key)])), samples: samples[size] },
      ];
    }),
  );
  raw.peak = results;
  for (const size of sizes) {
    const r = results[size];
    const base = results[sizes[0]];
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
  const big = results[100_000];
  const mid = results[10_000];
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
  return JSON.parse(child.stdout.trim().split('\n').at(-1));
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
  const samples = { stream: [], whole: [] };
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 ? ['whole', 'stream'] : ['stream', 'whole'];
    for (const mode of order) samples[mode].push(writeChild(size, mode));
  }
  const of = (mode, key) => median(samples[mode].map((sample) => sample[key]));
  const extra = (mode) => of(mode, 'maxRssKB') - of(mode, 'rssBeforeBytes') / 1024;
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

/** Row 6: report.html, built in process and opened in Chromium (issue 12), for a 3-run and a 1,000-run bundle. */
function reportRows() {
  const sizes = [3, 1000];
  log('row 6: report.html for 3 and 1,000 synthetic runs (build, Chromium load)');
  const results = {};
  for (const size of sizes) {
    const child = spawnSync(node, [path.join(benchDir, 'report-child.js'), String(size)], {
      cwd: repo,
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (child.status !== 0)
      throw new Error(`report-child ${size} exited ${child.status ?? child.signal}: ${tail(child.stderr ?? '', 8)}`);
    results[size] = JSON.parse(child.stdout.trim().split('\n').at(-1));
  }
  raw.report = results;
  const small = results[3];
  // The screenshot is embedded as base64: 4 bytes for every 3.
  const ownKB = (small.htmlBytes - Math.ceil(small.screenshotBytes / 3) * 4) / 1024;
  addRow({
    row: '6 report, 3 runs: size',
    figure: `${ownKB.toFixed(0)} KB plus the embedded screenshot (${(small.htmlBytes / 1024).toFixed(0)} KB in all)`,
    goal: '< 300 KB + screenshot',
    ...judge(ownKB < 300, `${ownKB.toFixed(0)} KB`),
  });
  const big = results[1000];
  addRow({
    row: '6 report, 1,000 runs: render',
    figure: `${ms(big.renderMs)} in Chromium (${big.rows} rows, ${(big.htmlBytes / 1048576).toFixed(1)} MB); built in ${ms(big.buildMs)}`,
    goal: '< 2 s',
    ...judge(big.renderMs < 2000 && big.rows === 1000, `${ms(big.renderMs)}, ${big.rows} rows`),
  });
}

/** One report-child run: the bundle's report and timeline for `size` synthetic runs, built and loaded in Chromium. */
function reportChild(size) {
  const child = spawnSync(node, [path.join(benchDir, 'report-child.js'), String(size)], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (child.status !== 0)
    throw new Error(`report-child ${size} exited ${child.status ?? child.signal}: ${tail(child.stderr ?? '', 8)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1));
}

/** A curve's per-unit figures, and the largest size's over the smallest's (flat means about 1). */
function curve(sizes, perUnit) {
  const values = sizes.map(perUnit);
  return { values, ratio: values.at(-1) / values[0] };
}

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
  const own = (r) => r.htmlBytes - Math.ceil(r.screenshotBytes / 3) * 4;
  const kb = (bytes) => `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KB`;
  const html = curve(sizes, (size) => own(results[size]) / size);
  const svg = curve(sizes, (size) => results[size].svgBytes / size);
  const render = curve(sizes, (size) => results[size].renderMs / size);
  const largest = results[sizes.at(-1)];
  const list = (f) => sizes.map((size) => `${size}: ${f(results[size])}`).join(', ');
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
  const results = Object.fromEntries(
    child.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .map((r) => [r.days, r]),
  );
  raw.window = results;
  const list = (f) => sizes.map((days) => `${days} d: ${f(results[days])}`).join(', ');
  const build = curve(sizes, (days) => results[days].buildMs / days);
  const bytes = curve(sizes, (days) => results[days].parameterBytes / days);
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
  const first = results[sizes[0]];
  const last = results[sizes.at(-1)];
  const perDay = (r) => (r.days === first.days ? 0 : (r.bundleBytes - first.bundleBytes) / (r.days - first.days));
  const added = sizes.slice(1).map((days) => perDay(results[days]));
  const addedRatio = added.length > 1 ? added.at(-1) / added[0] : 1;
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

// ---------------------------------------------------------------------------------------------
// rows that need the sandbox

/** `export KEY="value"` lines of `rehearse sandbox env`. */
function parseExports(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const match = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!match) continue;
    try {
      env[match[1]] = String(JSON.parse(match[2]));
    } catch {
      env[match[1]] = match[2].replace(/^['"]|['"]$/g, '');
    }
  }
  return env;
}

/** The bench's environment without an inherited REHEARSE_BENCH_RSS_FILE, plus `extra`. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  delete env.REHEARSE_BENCH_RSS_FILE;
  return { ...env, ...extra };
}

/** Row 2 (and the backfill half of row 5): the runbook script against `rehearse backfill`. */
/** Row 2's goal (issue 14): a sandbox rehearsal in 0.4x the runbook script's wall time. */
const GOAL_RATIO = 0.4;

async function rehearsalRows(sandbox) {
  const work = path.join(sandbox.work, 'rehearsal');
  fs.mkdirSync(work, { recursive: true });
  log('row 2: warm-up `uv run prefect --version`');
  const warm = await runProcess('uv', ['run', 'prefect', '--version'], {
    cwd: sandbox.projectDir,
    env: sandbox.scriptEnv,
    timeoutMs: 300_000,
    label: 'warm-up',
  });
  if (warm.code !== 0)
    throw new Error(`warm-up uv run prefect --version exited ${warm.code}: ${tail(warm.stdout + warm.stderr, 5)}`);

  // The runbook script, as an operator runs it (bash -x: its trace tells which commands ran, and when).
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const evidence = path.join(work, 'script', 'dist', 'staging', 'backfill', stamp);
  const shared = path.join(work, 'script-shared');
  log('row 2: the runbook script (6 steps, 5 `uv run`)');
  const script = await runProcess('bash', ['-x', runbook], {
    cwd: sandbox.projectDir,
    env: { ...sandbox.scriptEnv, EVIDENCE_DIR: evidence, SHARED_DIR: shared },
    timeoutMs: 600_000,
    label: 'runbook.sh',
  });
  const trace = script.stderrLines.filter((l) => /^\++ /.test(l.text));
  const uvLines = trace.filter((l) => /^\+ uv run /.test(l.text));
  const scriptSteps = trace
    .map((line, i) => ({ command: line.text.replace(/^\++ /, ''), ms: (trace[i + 1]?.at ?? script.ms) - line.at }))
    .filter((s) => /^(uv run|cp -r)/.test(s.command));
  const copied = path.join(shared, stamp);
  const expectedFiles = ['render.log', 'deployment.json', 'hotpass-e2e-staging.log', 'metadata.json', 'work-pool.json'];
  const missing = expectedFiles.filter(
    (f) => !fs.existsSync(path.join(copied, f)) || fs.statSync(path.join(copied, f)).size === 0,
  );
  if (script.code !== 0 || missing.length) {
    throw new Error(
      `runbook.sh exited ${script.code}${missing.length ? `, missing in the shared copy: ${missing.join(', ')}` : ''}\n${tail(script.stderr, 10)}`,
    );
  }

  // rehearse backfill: the same work plus its own checks, from a fresh working directory.
  const cwd = path.join(work, 'rehearse');
  const to = path.join(work, 'rehearse-shared');
  fs.mkdirSync(cwd, { recursive: true });
  const rssFile = path.join(work, 'backfill.rss');
  const args = ['backfill', '--sandbox', '--burst', '1', '--param', 'day_seconds=0.2', '--to', to, '--ci'];
  log(`row 2: rehearse ${args.join(' ')}`);
  const rehearse = await runProcess(node, ['--import', rssHook, cli, ...args], {
    cwd,
    env: cleanEnv({ REHEARSE_SANDBOX_HOME: sandbox.home, REHEARSE_BENCH_RSS_FILE: rssFile }),
    timeoutMs: 600_000,
    label: 'rehearse backfill',
  });
  const bundle = bundleIn(cwd);
  if (![0, 1, 4].includes(rehearse.code) || !bundle) {
    throw new Error(
      `rehearse backfill exited ${rehearse.code}${bundle ? '' : ' and left no bundle'}\n${tail(rehearse.stdout + rehearse.stderr, 15)}`,
    );
  }
  const summary = readJson(path.join(bundle, 'summary.json'));
  const commands = recordedCommands(summary);
  const python = commands.filter(startsPython);
  const ratio = rehearse.ms / script.ms;
  const steps = summary.steps.map((s) => ({
    name: s.name,
    ms: s.durationMs,
    status: s.status,
    uvRuns: (s.commands ?? []).filter(startsPython).map((c) => ({ command: shortCommand(c.args), ms: c.durationMs })),
  }));
  raw.rehearsal = {
    script: { ms: script.ms, exitCode: script.code, uvRuns: uvLines.length, steps: scriptSteps },
    rehearse: {
      ms: rehearse.ms,
      exitCode: rehearse.code,
      verdict: summary.verdict,
      status: summary.status,
      bundle,
      pythonStarts: python.length,
      steps,
      maxRssKB: readRssKB(rssFile),
    },
    ratio,
  };
  const pythonMs = python.reduce((sum, c) => sum + c.durationMs, 0);
  const stepMs = (name) => steps.find((st) => st.name === name)?.ms ?? 0;
  const stages = [['preflight', 'render', 'inspect'], ['run'], ['capture'], ['validate'], ['upload']]
    .map((names) => ({
      label: names.filter((n) => steps.some((st) => st.name === n)).join('|'),
      ms: Math.max(0, ...names.map(stepMs)),
    }))
    .filter((stage) => stage.label);
  // Wall time covered by some step (steps overlap: the stages' longest steps summed can exceed the wall time).
  const inStages = unionMs(
    summary.steps.map((st) => [Date.parse(st.startedAt), Date.parse(st.startedAt) + st.durationMs]),
  );
  const top = [...stages]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 3)
    .map((stage) => `${stage.label} ${ms(stage.ms)}`)
    .join(', ');
  // Issue 14's goal: 0.4x the script, and under 1 s of rehearse's own time outside its steps.
  const outside = rehearse.ms - inStages;
  const why = [
    ...(ratio > GOAL_RATIO
      ? [
          `${ms(rehearse.ms - GOAL_RATIO * script.ms)} over ${GOAL_RATIO}x; its time goes to ${top} (see the note on row 2)`,
        ]
      : []),
    ...(outside >= 1000 ? [`${ms(outside)} outside its steps`] : []),
  ].join('; ');
  addRow({
    row: '2 rehearse backfill vs runbook script',
    figure: `${x(ratio)} the script's wall time (${ms(rehearse.ms)} vs ${ms(script.ms)}), ${ms(outside)} outside its steps; Python processes: rehearse ${python.length}, script ${uvLines.length}`,
    goal: `≤ ${GOAL_RATIO}x, < 1 s outside steps`,
    ratio,
    ...judge(ratio <= GOAL_RATIO && outside < 1000, why),
  });
  const scriptRun = scriptSteps.find((st) => /deployment run/.test(st.command))?.ms ?? 0;
  /** Time inside a step not covered by any command it recorded (the union of their intervals). */
  const unrecorded = (name) => {
    const step = summary.steps.find((st) => st.name === name);
    if (!step) return 0;
    const spans = (step.commands ?? []).map((c) => [Date.parse(c.startedAt), Date.parse(c.startedAt) + c.durationMs]);
    return step.durationMs - unionMs(spans);
  };
  const describe = (name) => {
    const step = summary.steps.find((st) => st.name === name);
    if (!step) return '';
    const own = (step.commands ?? [])
      .filter((c) => c.durationMs >= 250)
      .sort((a, b) => b.durationMs - a.durationMs)
      .slice(0, 3);
    const label = (c) =>
      c.kind === 'http'
        ? `${c.method} ${new URL(c.url).pathname.replace(/[0-9a-f-]{36}/g, '<id>')}`
        : `${c.file} ${c.args.slice(0, 5).join(' ')}`;
    const gap = unrecorded(name);
    return `  ${name} ${ms(step.durationMs)}: ${own.length ? own.map((c) => `${label(c)} ${ms(c.durationMs)}`).join('; ') : 'no recorded command over 250 ms'}${gap >= 500 ? `; ${ms(gap)} outside any recorded command${name === 'capture' ? ` (the screenshot of the run page: ${step.data?.screenshot ?? '?'})` : ''}` : ''}.`;
  };
  notes.push(
    [
      `row 2: the script's steps: ${scriptSteps.map((st) => `${st.command.startsWith('cp') ? 'cp -r' : st.command.split(' ').slice(2, 5).join(' ')} ${ms(st.ms)}`).join('; ')}.`,
      `  rehearse's critical path: ${stages.map((stage) => `${stage.label} ${ms(stage.ms)}`).join(' → ')} (${ms(inStages)} of wall time inside a step); the other ${ms(rehearse.ms - inStages)} is node start-up, config, the sandbox check and bundle writes.`,
      `  rehearse's ${python.length} \`uv run\` commands took ${ms(pythonMs)} in all (not all in sequence): ${python.map((c) => `${c.step}: ${shortCommand(c.args)} ${ms(c.durationMs)}`).join('; ')}.`,
      ...['inspect', 'run', 'capture'].map(describe).filter(Boolean),
      `  ${GOAL_RATIO}x the script is ${ms(GOAL_RATIO * script.ms)}; the watched run (same flow, same worker) takes ${ms(scriptRun)} in the script and ${ms(stepMs('run'))} in rehearse, which leaves ${ms(Math.max(0, GOAL_RATIO * script.ms - stepMs('run')))} for everything else (the script's other steps take ${ms(script.ms - scriptRun)}, rehearse's ${ms(rehearse.ms - stepMs('run'))}).`,
    ].join('\n'),
  );
  return { maxRssKB: readRssKB(rssFile) };
}

/**
 * Histories are written one run at a time: the sandbox's SQLite answers concurrent writers with
 * "database is locked" (a 503), so 8 writers at a time were twice as slow as one (measured: 100 runs
 * in 24 s with 8, 12 s with 1) and retried most of their flow-run creations.
 */
const WRITE_CONCURRENCY = 1;

/** The length of the union of [from, to] spans, in ms. */
function unionMs(spans) {
  let covered = 0;
  let end = -Infinity;
  for (const [from, to] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (to <= end) continue;
    covered += to - Math.max(from, end);
    end = to;
  }
  return covered;
}

/** Requests the bench retried: SQLite under concurrent writes answers 503 ("database is locked") now and then. */
const apiRetries = { count: 0, statuses: {} };

/** A tiny REST client for the sandbox's API (fetch keeps connections alive), retrying 429/502/503 and network errors. */
async function api(apiUrl, method, route, body) {
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(`${apiUrl}${route}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      if (attempt >= 8) throw new Error(`${method} ${route}: ${error.message}`);
      apiRetries.count += 1;
      apiRetries.statuses.network = (apiRetries.statuses.network ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(3000, 200 * 2 ** attempt) * (0.5 + Math.random())));
      continue;
    }
    const text = await response.text();
    if ([429, 502, 503].includes(response.status) && attempt < 8) {
      apiRetries.count += 1;
      apiRetries.statuses[response.status] = (apiRetries.statuses[response.status] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(3000, 200 * 2 ** attempt) * (0.5 + Math.random())));
      continue;
    }
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }
}

async function mapLimited(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

/**
 * A finished run's history, written through the API without running anything: created Scheduled
 * far in the future (so the sandbox's worker never picks it up), then forced Pending, Running, Completed.
 */
async function createHistory(apiUrl, deployment, name) {
  const scheduled = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
  const run = await api(apiUrl, 'POST', '/flow_runs/', {
    flow_id: deployment.flow_id,
    deployment_id: deployment.id,
    name,
    // A retried creation returns the run the first attempt may have made instead of a second one.
    idempotency_key: name,
    tags: ['rehearse-bench'],
    state: { type: 'SCHEDULED', name: 'Scheduled', state_details: { scheduled_time: scheduled } },
  });
  for (const type of ['PENDING', 'RUNNING', 'COMPLETED']) {
    await api(apiUrl, 'POST', `/flow_runs/${run.id}/set_state`, { state: { type }, force: true });
  }
  return run.id;
}

/**
 * Row 9: how soon the sandbox starts a run a worker picks up, with the warm flow starter (quick timing's
 * default) and without it (the run's job variables blank REHEARSE_FLOW_STARTER, so its flow process starts
 * as Prefect starts it), taking turns, one run at a time on an idle sandbox.
 */
async function pickupRows(sandbox) {
  const rounds = 5;
  const deployment = await api(sandbox.apiUrl, 'GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
  const seconds = (state) => Date.parse(state.timestamp) / 1000;
  const timings = { warm: [], fresh: [] };
  for (let round = 0; round < rounds; round += 1) {
    for (const mode of round % 2 === 0 ? ['fresh', 'warm'] : ['warm', 'fresh']) {
      const run = await api(sandbox.apiUrl, 'POST', `/deployments/${deployment.id}/create_flow_run`, {
        parameters: { since: '2024-01-01', until: '2024-01-01', day_seconds: 0.05 },
        tags: ['rehearse-bench-pickup'],
        ...(mode === 'fresh' ? { job_variables: { env: { REHEARSE_FLOW_STARTER: '' } } } : {}),
      });
      for (let waited = 0; ; waited += 200) {
        const now = await api(sandbox.apiUrl, 'GET', `/flow_runs/${run.id}`);
        if (['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'].includes(now.state_type)) break;
        if (waited > 120_000) throw new Error(`pickup run ${run.name} still ${now.state_type} after 120 s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const states = (await api(sandbox.apiUrl, 'GET', `/flow_run_states/?flow_run_id=${run.id}`)).sort((a, b) =>
        a.timestamp.localeCompare(b.timestamp),
      );
      const at = (type) => states.find((st) => st.type === type);
      if (!at('PENDING') || !at('RUNNING'))
        throw new Error(`pickup run ${run.name} never ran (${states.map((st) => st.name).join(', ')})`);
      timings[mode].push({
        claimed: seconds(at('PENDING')) - seconds(states[0]),
        started: seconds(at('RUNNING')) - seconds(at('PENDING')),
        total: seconds(at('RUNNING')) - seconds(states[0]),
      });
    }
  }
  const mid = (mode, key) => median(timings[mode].map((t) => t[key]));
  raw.pickup = timings;
  const ratio = mid('warm', 'started') / mid('fresh', 'started');
  addRow({
    row: '9 pickup (sandbox)',
    figure: `Scheduled -> Running ${mid('warm', 'total').toFixed(2)} s with the warm flow starter, ${mid('fresh', 'total').toFixed(2)} s without; the flow process's start (Pending -> Running) ${x(ratio)} (${mid('warm', 'started').toFixed(2)} s vs ${mid('fresh', 'started').toFixed(2)} s); medians of ${rounds} runs each, taking turns`,
    goal: 'about 1 s',
    ratio,
    ...judge(
      mid('warm', 'total') <= 1.5,
      `${mid('warm', 'total').toFixed(2)} s from Scheduled to Running (worker poll ${mid('warm', 'claimed').toFixed(2)} s)`,
    ),
  });
}

/** Row 4 (and the validate half of row 5): `rehearse validate --all-runs` over 100 and 1,000 runs. */
async function serverValidationRows(sandbox) {
  const sizes = [100, 1000];
  const deployments = {};
  for (const size of sizes) {
    const name = `bench-${size}`;
    log(`row 4: deploying hotpass-backfill/${name}`);
    const deploy = await runProcess(
      'uv',
      ['run', 'hotpass', 'deploy', '--manifest-dir', 'prefect/staging', '--flow', 'backfill', '--name', name],
      { cwd: sandbox.projectDir, env: sandbox.scriptEnv, timeoutMs: 300_000, label: `deploy ${name}` },
    );
    if (deploy.code !== 0)
      throw new Error(`hotpass deploy --name ${name} exited ${deploy.code}: ${tail(deploy.stdout + deploy.stderr, 8)}`);
    deployments[size] = await api(sandbox.apiUrl, 'GET', `/deployments/name/hotpass-backfill/${name}`);
  }
  const created = {};
  const creation = {};
  for (const size of sizes) {
    log(
      `row 4: writing ${size} finished run histories (Scheduled, Pending, Running, Completed) through the API, ${WRITE_CONCURRENCY} at a time`,
    );
    const started = performance.now();
    const retriedBefore = apiRetries.count;
    created[size] = await mapLimited(
      Array.from({ length: size }, (_, i) => i),
      WRITE_CONCURRENCY,
      (i) => createHistory(sandbox.apiUrl, deployments[size], `bench-${size}-${String(i).padStart(4, '0')}`),
    );
    creation[size] = {
      ms: performance.now() - started,
      requests: size * 4,
      retried: apiRetries.count - retriedBefore,
      concurrency: WRITE_CONCURRENCY,
    };
    const count = await api(sandbox.apiUrl, 'POST', '/flow_runs/count', {
      flow_runs: { deployment_id: { any_: [deployments[size].id] } },
    });
    if (count < size) throw new Error(`bench-${size} has ${count} runs on the server, expected ${size}`);
  }

  const results = {};
  for (const size of sizes) {
    const cwd = mkdtemp(`rehearse-bench-validate-${size}-`);
    sandbox.cleanup.push(cwd);
    const rssFile = path.join(cwd, 'validate.rss');
    let args = [
      'validate',
      '--sandbox',
      '--new-bundle',
      '--all-runs',
      '--deployment',
      `hotpass-backfill/bench-${size}`,
      '--ci',
    ];
    log(`row 4: rehearse ${args.join(' ')}`);
    const env = cleanEnv({ REHEARSE_SANDBOX_HOME: sandbox.home, REHEARSE_BENCH_RSS_FILE: rssFile });
    let run = await runProcess(node, ['--import', rssHook, cli, ...args], {
      cwd,
      env,
      timeoutMs: 300_000,
      label: `validate bench-${size}`,
    });
    let neededFlowRun = false;
    if (/no flow runs to look at/.test(run.stdout + run.stderr)) {
      neededFlowRun = true;
      log('row 4: validate --all-runs refused to run without --flow-run; retrying with one --flow-run');
      args = [...args.slice(0, -1), '--flow-run', created[size][0], '--ci'];
      run = await runProcess(node, ['--import', rssHook, cli, ...args], {
        cwd,
        env,
        timeoutMs: 300_000,
        label: `validate bench-${size}`,
      });
    }
    const bundle = bundleIn(cwd);
    const historyFile = bundle && path.join(bundle, 'state-history.json');
    const histories = historyFile && fs.existsSync(historyFile) ? readJson(historyFile).runs.length : 0;
    if (![0, 1, 4].includes(run.code) || histories < size) {
      throw new Error(
        `validate bench-${size} exited ${run.code}, its state-history.json holds ${histories} run(s) (expected ≥ ${size})\n${tail(run.stdout + run.stderr, 12)}`,
      );
    }
    const summary = readJson(path.join(bundle, 'summary.json'));
    const commands = recordedCommands(summary);
    const http = commands.filter((c) => c.kind === 'http');
    const since = readJson(historyFile)
      .runs.flatMap((r) => r.states.map((st) => st.timestamp))
      .sort()[0];
    const bare = {};
    for (const concurrency of [8, 16])
      bare[concurrency] = await bareReads(sandbox, deployments[size].id, since, concurrency);
    results[size] = {
      bare,
      ms: run.ms,
      exitCode: run.code,
      histories,
      neededFlowRun,
      args,
      maxRssKB: readRssKB(rssFile),
      httpRequests: http.length,
      httpMs: http.reduce((s, c) => s + c.durationMs, 0),
      pythonStarts: commands.filter(startsPython).length,
      stepMs: summary.steps.find((s) => s.name === 'validate')?.durationMs,
    };
  }
  raw.serverValidation = { creation, apiRetries: { ...apiRetries }, results };
  const big = results[1000];
  const small = results[100];
  const growth = big.ms / small.ms;
  const fallback = big.neededFlowRun ? ' (needed one --flow-run: --all-runs alone refused)' : '';
  addRow({
    row: '4 validate 1,000 runs (server)',
    figure: `${ms(big.ms)} (${x(growth)} the 100-run time); ${big.httpRequests} API requests${fallback}`,
    goal: '< 15 s',
    ...judge(big.ms < 15_000, `${ms(big.ms)}: ${big.httpRequests} API requests, ${ms(big.httpMs)} of request time`),
  });
  const yardstick = big.bare[8];
  addRow({
    row: '4 validate 1,000 runs vs a bare client',
    figure: `${x(big.ms / yardstick.ms)} (${ms(big.ms)} vs ${ms(yardstick.ms)} for the same ${yardstick.requests} reads with plain fetch, 8 at a time, in its own node; 16 at a time: ${ms(big.bare[16].ms)})`,
    goal: '≤ 1.5x',
    ratio: big.ms / yardstick.ms,
    ...judge(big.ms / yardstick.ms <= 1.5, `${ms(big.ms - yardstick.ms)} more than the reads alone`),
  });
  addRow({
    row: '4 validate growth 100 → 1,000',
    figure: `${x(growth)} (${ms(big.ms)} vs ${ms(small.ms)})`,
    goal: '≤ 12x',
    ratio: growth,
    ...judge(growth <= 12, `${x(growth)} for 10x the runs`),
  });
  notes.push(
    `row 4: writing the histories took ${ms(creation[100].ms)} (100 runs) and ${ms(creation[1000].ms)} (1,000 runs), 4 requests per run, ${WRITE_CONCURRENCY} run at a time (${apiRetries.count} request(s) retried after a 503 "database is locked" or a reset connection); validate exit codes ${small.exitCode} / ${big.exitCode} (0 all pass, 1 a limit exceeded, 4 inconclusive: any is fine here, only time and completion count).`,
  );
  return { validate100KB: small.maxRssKB, validate1000KB: big.maxRssKB, sqliteWrite: creation[1000] };
}

/** bench/bare-reads.js: validate's reads with plain fetch, timed as a whole process like rehearse. */
async function bareReads(sandbox, deploymentId, since, concurrency) {
  const run = await runProcess(
    node,
    [path.join(benchDir, 'bare-reads.js'), sandbox.apiUrl, deploymentId, since, String(concurrency)],
    {
      timeoutMs: 300_000,
      label: `bare reads, ${concurrency} at a time`,
    },
  );
  if (run.code !== 0) throw new Error(`bare-reads exited ${run.code}: ${tail(run.stdout + run.stderr, 8)}`);
  return { ...JSON.parse(run.stdout.trim().split('\n').at(-1)), wallMs: run.ms, ms: run.ms };
}

/** Runs written at once to PostgreSQL, which takes concurrent writers (SQLite answers 503 to them). */
const POSTGRES_WRITE_CONCURRENCY = 16;
/** API processes without services that row 7 writes through, in turn (the sandbox's own server is not one). */
const API_PROCESSES = 3;

/** A free TCP port on loopback. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * One more Prefect API process on the sandbox's PostgreSQL database, without background services: how a staging
 * API scales out behind a load balancer while one process runs the services. One Python API process on 2 cores
 * answers ~35 writes a second, CPU-bound in Prefect's ORM layer; PostgreSQL takes writers from several. (Without a
 * shared message broker its events stay in its own process: fine for writing histories.)
 */
async function startApiProcess(sandbox, state) {
  const port = await freePort();
  const home = mkdtemp('rehearse-bench-api2-');
  sandbox.cleanup.push(home);
  const logFd = fs.openSync(path.join(home, 'server.log'), 'a');
  const url = `postgresql+asyncpg://prefect:${encodeURIComponent(state.postgres.password)}@127.0.0.1:${state.postgres.port}/prefect`;
  const child = spawn(
    'uv',
    ['run', 'prefect', 'server', 'start', '--host', '127.0.0.1', '--port', String(port), '--no-services'],
    {
      cwd: sandbox.projectDir,
      env: cleanEnv({
        PREFECT_HOME: home,
        PREFECT_API_DATABASE_CONNECTION_URL: url,
        PREFECT_API_DATABASE_MIGRATE_ON_START: 'false',
        PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
        PREFECT_UI_ENABLED: 'false',
      }),
      stdio: ['ignore', logFd, logFd],
      detached: true,
    },
  );
  live.add(child);
  const apiUrl = `http://127.0.0.1:${port}/api`;
  for (let waited = 0; waited < 90_000; waited += 500) {
    if (child.exitCode !== null) break;
    const healthy = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) {
      const stop = () => {
        stopGroup(child);
        live.delete(child);
      };
      return { apiUrl, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  stopGroup(child);
  live.delete(child);
  throw new Error(
    `an API process (prefect server start --no-services) never answered: ${tail(fs.readFileSync(path.join(home, 'server.log'), 'utf8'), 8)}`,
  );
}

/** Row 7: the same 1,000 histories written to a PostgreSQL sandbox, concurrently, beside row 4's SQLite figure. */
async function postgresWriteRows(sandbox, sqliteWrite) {
  const deployment = await api(sandbox.apiUrl, 'GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
  const state = readJson(path.join(sandbox.home, 'sandbox.json'));
  const size = 1000;
  const writers = [];
  try {
    // Three: measured on 2 cores, two processes wrote the 1,000 runs in 70 s, three in 55 to 61 s, four in 66 s.
    for (let i = 0; i < API_PROCESSES; i += 1) writers.push(await startApiProcess(sandbox, state));
    log(
      `row 7: writing ${size} finished run histories to PostgreSQL through ${writers.length} API processes without services, ${POSTGRES_WRITE_CONCURRENCY} at a time`,
    );
    const retriedBefore = apiRetries.count;
    const urls = writers.map((w) => w.apiUrl);
    const started = performance.now();
    await mapLimited(
      Array.from({ length: size }, (_, i) => i),
      POSTGRES_WRITE_CONCURRENCY,
      (i) => createHistory(urls[i % urls.length], deployment, `bench-pg-${String(i).padStart(4, '0')}`),
    );
    const took = performance.now() - started;
    const count = await api(sandbox.apiUrl, 'POST', '/flow_runs/count', {
      flow_runs: { deployment_id: { any_: [deployment.id] }, tags: { all_: ['rehearse-bench'] } },
    });
    if (count < size) throw new Error(`PostgreSQL holds ${count} bench runs, expected ${size}`);
    const retried = apiRetries.count - retriedBefore;
    raw.postgresWrite = {
      ms: took,
      size,
      concurrency: POSTGRES_WRITE_CONCURRENCY,
      apiProcesses: writers.length,
      retried,
    };
    const beside = sqliteWrite
      ? `; SQLite ${ms(sqliteWrite.ms)} at ${sqliteWrite.concurrency} at a time (${x(sqliteWrite.ms / took)} slower)`
      : '; no SQLite figure (row 4 did not run)';
    addRow({
      row: '7 write 1,000 runs (PostgreSQL)',
      figure: `${ms(took)} through ${writers.length} API processes, ${POSTGRES_WRITE_CONCURRENCY} at a time, ${retried} retried${beside}`,
      goal: '< 60 s',
      ...(sqliteWrite ? { ratio: took / sqliteWrite.ms } : {}),
      ...judge(took < 60_000, `${ms(took)} for ${size} runs (${size * 4} requests)`),
    });
  } finally {
    for (const writer of writers) writer.stop();
  }
}

/** Row 8: the last `.ci/run` in this checkout, from the phase times it keeps (test-results/ci-phases.txt). */
function ciRow() {
  const file = path.join(repo, 'test-results', 'ci-phases.txt');
  if (!fs.existsSync(file)) {
    addRow({
      row: '8 .ci/run',
      figure: 'no .ci/run recorded in this checkout (run `bash .ci/run`)',
      goal: '< 7 min',
      met: null,
      verdict: '—',
    });
    return;
  }
  const phases = Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .map(([name, s]) => [name, Number(s)]),
  );
  raw.ci = { phases, recorded: fs.statSync(file).mtime.toISOString() };
  const total = ['setup', 'lint', 'tests', 'bench'].reduce((sum, name) => sum + (phases[name] ?? 0), 0);
  const split = ['setup', 'lint', 'tests', 'bench'].map((name) => `${name} ${phases[name] ?? '?'} s`).join(', ');
  const projects = ['unit', 'integration', 'e2e'].map((p) => `${p} ${phases[`tests.${p}`] ?? '?'} s`).join(', ');
  addRow({
    row: '8 .ci/run',
    figure: `${(total / 60).toFixed(1)} min: ${split} (within tests, each project's span: ${projects}); recorded ${raw.ci.recorded}`,
    goal: '< 7 min',
    ...judge(total < 420, `${Math.round(total)} s`),
  });
}

function memoryRows(backfill, validate) {
  const only = 'node process only; Python children excluded';
  if (backfill?.maxRssKB)
    addRow({
      row: '5 peak RSS, rehearse backfill',
      figure: `${mb(backfill.maxRssKB)} (${only})`,
      goal: '—',
      met: null,
      verdict: '—',
    });
  if (validate?.validate100KB && validate?.validate1000KB) {
    addRow({
      row: '5 peak RSS, validate 100 runs',
      figure: `${mb(validate.validate100KB)} (${only})`,
      goal: '—',
      met: null,
      verdict: '—',
    });
    addRow({
      row: '5 peak RSS, validate 1,000 runs',
      figure: `${mb(validate.validate1000KB)}, ${x(validate.validate1000KB / validate.validate100KB)} the 100-run RSS (${only})`,
      goal: '—',
      met: null,
      verdict: '—',
    });
  }
  raw.memory = {
    backfillMaxRssKB: backfill?.maxRssKB ?? null,
    validate100MaxRssKB: validate?.validate100KB ?? null,
    validate1000MaxRssKB: validate?.validate1000KB ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// the sandbox: started for the bench, stopped at the end whatever happens

async function withSandbox(body, upArgs = []) {
  const work = mkdtemp('rehearse-bench-');
  const home = path.join(work, 'sandbox');
  const sandbox = { work, home, cleanup: [work] };
  const env = cleanEnv({ REHEARSE_SANDBOX_HOME: home });
  const down = () =>
    spawnSync(node, [cli, 'sandbox', 'down', '--purge', '--ci'], {
      cwd: repo,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
  stopSandbox = down;
  try {
    log(`sandbox up (REHEARSE_SANDBOX_HOME=${home})`);
    const up = await runProcess(node, [cli, 'sandbox', 'up', ...upArgs, '--ci'], {
      env,
      timeoutMs: 420_000,
      label: `sandbox up ${upArgs.join(' ')}`.trim(),
    });
    raw[upArgs.length ? 'postgresSandboxUpMs' : 'sandboxUpMs'] = up.ms;
    if (up.code !== 0) throw new Error(`sandbox up exited ${up.code}: ${tail(up.stdout + up.stderr, 12)}`);
    const printed = spawnSync(node, [cli, 'sandbox', 'env'], { cwd: repo, env, encoding: 'utf8' });
    if (printed.status !== 0)
      throw new Error(`sandbox env exited ${printed.status}: ${printed.stdout}${printed.stderr}`);
    const exported = parseExports(printed.stdout);
    const state = readJson(path.join(home, 'sandbox.json'));
    Object.assign(sandbox, {
      apiUrl: state.apiUrl,
      projectDir: state.projectDir,
      exported,
      scriptEnv: cleanEnv(exported),
    });
    raw.sandbox = { apiUrl: state.apiUrl, exported };
    return await body(sandbox);
  } finally {
    log('sandbox down --purge');
    const result = down();
    stopSandbox = undefined;
    if (result.status !== 0)
      log(`sandbox down exited ${result.status}: ${tail(`${result.stdout}${result.stderr}`, 5)}`);
    if (!keep) for (const dir of sandbox.cleanup) fs.rmSync(dir, { recursive: true, force: true });
    else log(`kept ${sandbox.cleanup.join(', ')}`);
  }
}

let stopSandbox;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`${signal}: stopping the bench's processes and its sandbox`);
    for (const child of live) stopGroup(child);
    stopSandbox?.();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// issue 28 rows 12 and 13: glue to today's main() (rewritten when run.js becomes a registry, plan B3)

/** Rows 12 and 13 (bench/rows/) share one PostgreSQL sandbox with two workers; named with --row under --quick, they run at smoke sizes. */
async function growthRows() {
  const due = [burstGrowthRow, historyRow].filter((row) => wanted(row.id) && (!quick || onlyRows.has(row.id)));
  if (!due.length) return;
  const ctx = { quick, table: { addRow, judge, failRow, notes, raw }, shared: {} };
  try {
    await withSandbox(
      async (sandbox) => {
        for (const row of due) {
          noteLoad(`row ${row.id}`);
          try {
            await row.run({ ...ctx, sandbox });
          } catch (error) {
            failRow(row.title, error);
          }
        }
      },
      ['--database', 'postgres', '--workers', '2'],
    );
  } catch (error) {
    failRow(`${due.map((row) => row.id).join('/')} PostgreSQL sandbox`, error);
  }
}
// end of the issue 28 glue
// ---------------------------------------------------------------------------------------------

function printTable() {
  const header = ['row', 'figure', 'goal', 'met'];
  const body = rows.map((r) => [r.row, r.figure, r.goal, r.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  process.stdout.write(`\n${out.join('\n')}\n`);
  if (notes.length) process.stdout.write(`\nNotes\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
}

function toolVersion(file, args) {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

async function main() {
  const started = performance.now();
  log(
    `${quick ? 'quick (smoke) run: small sizes, completion only' : 'full run'} on ${os.cpus().length} CPU(s), node ${process.version}`,
  );
  if (!fs.existsSync(path.join(repo, 'dist', 'cli.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');

  if (wanted(1)) {
    noteLoad('row 1');
    try {
      log('row 1: start-up');
      await startupRows();
    } catch (error) {
      failRow('1 start-up', error);
    }
  }
  if (wanted(3)) {
    noteLoad('row 3');
    try {
      await peakRows();
      writeRows();
    } catch (error) {
      failRow('3 peak (in process)', error);
    }
  }
  if (wanted(6)) {
    noteLoad('row 6');
    try {
      reportRows();
    } catch (error) {
      failRow('6 report', error);
    }
  }
  if (wanted(10)) {
    noteLoad('row 10');
    try {
      reportGrowthRows();
    } catch (error) {
      failRow('10 report growth', error);
    }
  }
  if (wanted(11)) {
    noteLoad('row 11');
    try {
      windowRows();
    } catch (error) {
      failRow('11 window', error);
    }
  }
  // Rows 2, 4, 5 and 9 share one SQLite sandbox; 5 reports the memory of 2 and 4.
  let validate;
  if (!quick && (wanted(2) || wanted(4) || wanted(5) || wanted(9))) {
    let backfill;
    try {
      await withSandbox(async (sandbox) => {
        if (wanted(2) || wanted(5)) {
          noteLoad('row 2');
          try {
            backfill = await rehearsalRows(sandbox);
          } catch (error) {
            failRow('2 rehearse backfill vs runbook script', error);
          }
        }
        if (wanted(9)) {
          noteLoad('row 9');
          try {
            await pickupRows(sandbox);
          } catch (error) {
            failRow('9 pickup (sandbox)', error);
          }
        }
        if (wanted(4) || wanted(5)) {
          noteLoad('row 4');
          try {
            validate = await serverValidationRows(sandbox);
          } catch (error) {
            failRow('4 validate (server)', error);
          }
        }
      });
    } catch (error) {
      failRow('2/4 sandbox', error);
    }
    if (wanted(5)) memoryRows(backfill, validate);
  }
  if (!quick && wanted(7)) {
    noteLoad('row 7');
    try {
      await withSandbox((sandbox) => postgresWriteRows(sandbox, validate?.sqliteWrite), ['--database', 'postgres']);
    } catch (error) {
      failRow('7 write 1,000 runs (PostgreSQL)', error);
    }
  }
  await growthRows(); // issue 28 glue: rows 12 and 13
  if (wanted(8)) ciRow();
  raw.load = loads;
  const busy = loads.filter((l) => l.load1 > os.cpus().length * 0.5);
  if (busy.length)
    notes.push(
      `the machine was busy when ${busy.map((l) => `${l.row} started (load ${l.load1})`).join(', ')} on ${os.cpus().length} CPU(s): something else was running, and the timings carry its noise${quick ? '' : ' (most in rows 2 and 4, which time one run each)'}.`,
    );
  rows.sort((a, b) => parseInt(a.row, 10) - parseInt(b.row, 10)); // stable: within a row, the order they were added
  printTable();

  const results = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationMs: round(performance.now() - started, 0),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      totalMemMB: Math.round(os.totalmem() / 1048576),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
      uv: toolVersion('uv', ['--version']),
    },
    rehearse: readJson(path.join(repo, 'package.json')).version,
    rows: rows.map(({ row, figure, goal, met, verdict, ratio, error }) => ({
      row,
      figure,
      goal,
      met,
      verdict,
      ...(ratio === undefined ? {} : { ratio: round(ratio, 3) }),
      ...(error ? { error } : {}),
    })),
    notes,
    raw,
    crashed,
  };
  if (onlyRows.size === 0) {
    fs.writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${path.relative(process.cwd(), resultsFile) || resultsFile} in ${ms(performance.now() - started)}`);
  } else log(`rows ${[...onlyRows].join(', ')} in ${ms(performance.now() - started)} (results.json left as it was)`);
  if (crashed) return 1;
  if (strict && rows.some((r) => r.met === false)) return 1;
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    log(`crashed: ${error.stack ?? error}`);
    for (const child of live) stopGroup(child);
    process.exitCode = 1;
  },
);
