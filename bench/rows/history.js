// @ts-check
// Row 13 (issue 28 row 3): a deployment with 1,000, 10,000 and 50,000 earlier runs on the PostgreSQL sandbox,
// written through the API as row 7 writes them. preflight, validate, cleanup and cleanup --all must read only
// what they need: their requests, time and bytes read stay flat as the history grows.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mapLimited } from '../../dist/util/map-limited.js';
import { API_PROCESSES, POSTGRES_WRITE_CONCURRENCY } from '../lib/api-processes.js';
import { analyze, call, createFinishedRun, resent, startApiProcesses } from '../lib/history-writes.js';
import { growth } from '../lib/marginal.js';
import { log, measuredBackfill, mkdtemp, notPassed, runMeasured, stepCost, tailText } from '../lib/measured.js';

/** @typedef {import('../lib/measured.js').Measured} Measured */

/** Runs written at once, through API_PROCESSES API processes without services (row 7's measured best on 2 cores). */
const WRITE_CONCURRENCY = POSTGRES_WRITE_CONCURRENCY;
const DEPLOYMENT = '/deployments/name/hotpass-backfill/hotpass-backfill';
const COMMANDS = ['preflight', 'validate', 'cleanup', 'cleanup --all'];
/**
 * REHEARSE_BENCH_HISTORY_UNTIL (an ISO time): stop writing the history then, measure at the size reached and end
 * the row there. On a busy machine the 50,000 runs take longer than a timing slot may allow.
 */
const WRITE_UNTIL = Date.parse(process.env.REHEARSE_BENCH_HISTORY_UNTIL ?? '') || Number.POSITIVE_INFINITY;
const BUDGET = 'the history write budget (REHEARSE_BENCH_HISTORY_UNTIL) ran out';

/**
 * Tops the deployment's history up to `size` runs (runs already there count: row 7's, row 12's, the last size's).
 * @param {{id: string, flow_id: string}} deployment
 * @param {string} apiUrl
 * @param {string[]} urls
 * @param {number} size
 * @param {{wrote: number, ms: number}} progress every run written, and the time spent writing
 */
async function topUp(deployment, apiUrl, urls, size, progress) {
  const count = () =>
    call(apiUrl, 'POST', '/flow_runs/count', { flow_runs: { deployment_id: { any_: [deployment.id] } } });
  const have = await count();
  const missing = Math.max(0, size - have);
  if (missing === 0) return { have, wrote: 0, ms: 0, reached: have, partial: false };
  log(
    `row 13: writing ${missing} finished runs (${have} → ${size}) through ${urls.length} API processes, ${WRITE_CONCURRENCY} at a time`,
  );
  const started = performance.now();
  let done = 0;
  const indices = Array.from({ length: missing }, (_, i) => have + i);
  let partial = false;
  try {
    await mapLimited(indices, WRITE_CONCURRENCY, async (/** @type {number} */ i) => {
      if (Date.now() > WRITE_UNTIL) throw new Error(BUDGET);
      await createFinishedRun(/** @type {string} */ (urls[i % urls.length]), deployment, i);
      done += 1;
      progress.wrote += 1;
      if (done % 5000 === 0)
        log(`row 13: ${done}/${missing} written, ${(done / ((performance.now() - started) / 1000)).toFixed(1)} runs/s`);
    });
  } catch (error) {
    if (!(error instanceof Error && error.message === BUDGET)) throw error;
    partial = true;
  } finally {
    progress.ms += performance.now() - started;
  }
  const ms = performance.now() - started;
  // Writes still in flight when the budget ran out have landed by the time mapLimited returns.
  const now = await count();
  if (now < size && !partial) throw new Error(`the deployment holds ${now} runs after the top-up, expected ${size}`);
  return { have, wrote: now - have, ms, reached: now, partial };
}

/** No limit may hold a slot before a measurement: a forced history must take none. @param {string} apiUrl */
async function expectNoHeldSlots(apiUrl) {
  /** @type {{name: string, active_slots: number}[]} */
  const limits = await call(apiUrl, 'POST', '/v2/concurrency_limits/filter', {});
  const held = limits.filter((l) => l.active_slots > 0);
  if (held.length)
    throw new Error(`slots held before measuring: ${held.map((l) => `${l.name} ${l.active_slots}`).join(', ')}`);
}

/** @param {Measured} m */
const filterBytes = (m) => m.cost?.routes['POST /api/flow_runs/filter']?.bytes ?? 0;

/**
 * One round at a size: a rehearsal of 2 runs (preflight and validate from its journal), then cleanup of its bundle
 * and cleanup --all.
 * @param {{home: string}} sandbox
 */
async function measure(sandbox) {
  const cwd = mkdtemp('rehearse-bench-history-');
  try {
    const {
      run: backfill,
      bundle,
      summary,
    } = await measuredBackfill(['--burst', '2', '--param', 'day_seconds=0.2'], {
      cwd,
      home: sandbox.home,
    });
    const one = await runMeasured(['cleanup', '--sandbox', '--bundle', bundle, '--ci', '--json'], {
      cwd,
      home: sandbox.home,
    });
    const all = await runMeasured(['cleanup', '--sandbox', '--all', '--ci', '--json'], { cwd, home: sandbox.home });
    for (const [name, m] of [
      ['cleanup', one],
      ['cleanup --all', all],
    ]) {
      const r = /** @type {Measured} */ (m);
      if (r.code !== 0 || !r.cost) throw new Error(`${name} exited ${r.code}\n${tailText(r.stdout + r.stderr)}`);
    }
    const cost = (/** @type {Measured} */ m) => /** @type {NonNullable<Measured['cost']>} */ (m.cost);
    return {
      verdict: summary.verdict,
      notPassed: notPassed(summary),
      preflight: { ...stepCost(summary, 'preflight') },
      validate: { ...stepCost(summary, 'validate') },
      cleanup: { requests: cost(one).requests, ms: one.ms, bytes: filterBytes(one) },
      'cleanup --all': { requests: cost(all).requests, ms: all.ms, bytes: filterBytes(all) },
      backfill: {
        requests: cost(backfill).requests,
        ms: backfill.ms,
        filterBytes: filterBytes(backfill),
        routes: cost(backfill).routes,
      },
      routes: { cleanup: cost(one).routes, 'cleanup --all': cost(all).routes },
    };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

// long: the sizes in turn (top-up, statistics, slots, measurement) with the write budget and the partial curve a
// failure leaves, in one place
/** @param {import('../lib/sandbox.js').RowContext} ctx */
async function run(ctx) {
  const { table, sandbox, quick } = ctx;
  if (!sandbox) throw new Error('row 13 needs the PostgreSQL sandbox');
  const sizes = quick ? [100, 300, 1000] : [1000, 10_000, 50_000];
  /** @type {{projectDir: string, postgres?: {bin: string, port: number, password: string}}} */
  const state = JSON.parse(fs.readFileSync(path.join(sandbox.home, 'sandbox.json'), 'utf8'));
  const postgres = state.postgres;
  if (!postgres) throw new Error('row 13 needs a PostgreSQL sandbox (sandbox up --database postgres)');
  const deployment = await call(sandbox.apiUrl, 'GET', DEPLOYMENT);
  const writers = await startApiProcesses(
    { projectDir: state.projectDir, cleanup: sandbox.cleanup },
    { postgres },
    API_PROCESSES,
  );
  /** @type {Record<number, {writes: Awaited<ReturnType<typeof topUp>>, analyzed: boolean, round: Awaited<ReturnType<typeof measure>>}>} */
  const at = {};
  const resentBefore = resent.count;
  /** @type {unknown} */
  let failure;
  const progress = { wrote: 0, ms: 0 };
  /** @type {number[]} the sizes measured, in order */
  const done = [];
  try {
    for (const size of sizes) {
      const writes = await topUp(deployment, sandbox.apiUrl, writers.urls, size, progress);
      const analyzed = analyze(postgres);
      await expectNoHeldSlots(sandbox.apiUrl);
      const reached = writes.partial ? writes.reached : size;
      log(`row 13: measuring at ${reached} earlier runs`);
      const round = await measure(sandbox);
      at[reached] = { writes, analyzed, round };
      done.push(reached);
      table.raw.history = { sizes, done, at, resent: resent.count - resentBefore };
      log(
        `row 13: ${reached}: ${COMMANDS.map((c) => `${c} ${round[/** @type {'preflight'} */ (c)].requests} req ${(round[/** @type {'preflight'} */ (c)].ms / 1000).toFixed(2)} s`).join('; ')}; filter bytes backfill ${round.backfill.filterBytes}, cleanup ${round.cleanup.bytes}, --all ${round['cleanup --all'].bytes}`,
      );
      if (writes.partial) {
        table.notes.push(`row 13: ${BUDGET} at ${writes.reached} earlier runs (of ${size}); the curve ends there.`);
        break;
      }
    }
  } catch (error) {
    // The sizes measured so far still make a curve; the error is the row's too.
    failure = error;
  } finally {
    await writers.stop();
  }
  if (done.length < 2) throw failure ?? new Error('row 13: fewer than two sizes measured');
  const of = (/** @type {number} */ s) => {
    const found = at[s];
    if (!found) throw new Error(`row 13: no figures at ${s}`);
    return found;
  };
  const { wrote, ms: writeMs } = progress;
  const rate = writeMs > 0 ? wrote / (writeMs / 1000) : 0;
  table.raw.history = {
    sizes,
    done,
    at,
    resent: resent.count - resentBefore,
    wrote,
    writeMs,
    runsPerSecond: rate,
    shape: '2 requests a run: created Running, forced Completed/Failed',
  };
  addRows(table, done, of);
  if (failure) {
    table.notes.push(
      `row 13: stopped after ${done.join(', ')} earlier runs: ${failure instanceof Error ? failure.message : failure}`,
    );
  }
  table.notes.push(
    `row 13: the history was written at ${rate.toFixed(1)} runs/s (${wrote} runs, 2 requests a run, through ${API_PROCESSES} API processes without services, ${WRITE_CONCURRENCY} at a time; ${resent.count - resentBefore} requests resent); one round per size (requests do not vary between rounds; the time is one sample); verdicts ${done.map((s) => of(s).round.verdict).join('/')}.`,
  );
  if (failure) throw failure;
}

/**
 * The row's three figures: requests, time and bytes read of the four commands at each size measured.
 * @param {import('../lib/sandbox.js').RowContext['table']} table
 * @param {number[]} done
 * @param {(size: number) => {round: Awaited<ReturnType<typeof measure>>}} of
 */
function addRows(table, done, of) {
  /** @param {'preflight' | 'validate' | 'cleanup' | 'cleanup --all'} c @param {'requests' | 'ms'} k */
  const ratio = (c, k) => growth(done, (s) => of(s).round[c][k]);
  const sizeLabel = (/** @type {number} */ s) => (s >= 1000 ? `${s / 1000}k` : String(s));
  /** @param {(c: 'preflight' | 'validate' | 'cleanup' | 'cleanup --all') => string} f */
  const each = (f) => COMMANDS.map((c) => `${c} ${f(/** @type {'preflight'} */ (c))}`).join('; ');
  const series = (/** @type {(s: number) => string} */ f) => done.map(f).join('/');
  const worst = (/** @type {'requests' | 'ms'} */ k) =>
    Math.max(...COMMANDS.map((c) => ratio(/** @type {'preflight'} */ (c), k)));
  table.addRow({
    row: '13 history: requests',
    figure: `at ${series(sizeLabel)} earlier runs: ${each((c) => `${series((s) => String(of(s).round[c].requests))} (${ratio(c, 'requests').toFixed(2)}x)`)}`,
    goal: 'each ≤ 1.5x',
    ratio: worst('requests'),
    ...table.judge(worst('requests') <= 1.5, `${worst('requests').toFixed(2)}x`),
  });
  table.addRow({
    row: '13 history: time',
    figure: `at ${series(sizeLabel)}: ${each((c) => `${series((s) => (of(s).round[c].ms / 1000).toFixed(2))} s (${ratio(c, 'ms').toFixed(2)}x)`)}`,
    goal: 'each ≤ 1.5x',
    ratio: worst('ms'),
    ...table.judge(worst('ms') <= 1.5, `${worst('ms').toFixed(2)}x`),
  });
  /** @type {[string, (s: number) => number][]} */
  const bytes = [
    ['rehearsal', (s) => of(s).round.backfill.filterBytes],
    ['cleanup', (s) => of(s).round.cleanup.bytes],
    ['cleanup --all', (s) => of(s).round['cleanup --all'].bytes],
  ];
  const worstBytes = Math.max(...bytes.map(([, f]) => growth(done, f)));
  table.addRow({
    row: '13 history: bytes read',
    figure: `POST /flow_runs/filter answers at ${series(sizeLabel)}: ${bytes.map(([name, f]) => `${name} ${series((s) => `${(f(s) / 1024).toFixed(1)} KB`)} (${growth(done, f).toFixed(2)}x)`).join('; ')}`,
    goal: 'each ≤ 1.5x',
    ratio: worstBytes,
    ...table.judge(worstBytes <= 1.5, `${worstBytes.toFixed(2)}x`),
  });
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default { id: 13, title: '13 history', needs: 'postgres', smoke: true, run };
