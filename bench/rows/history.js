// @ts-check
// Row 13 (issue 28 row 3): a deployment with 1,000, 10,000 and 50,000 earlier runs on the PostgreSQL sandbox: the
// first size written through the API as row 7 writes them, the larger ones grown by copying those API-made runs
// inside the database (new ids, names and times). preflight, validate, cleanup and cleanup --all must read only
// what they need: their requests, time and bytes read stay flat as the history grows.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mapLimited } from '../../dist/util/map-limited.js';
import { API_PROCESSES, POSTGRES_WRITE_CONCURRENCY } from '../lib/api-processes.js';
import { analyze, call, copyRuns, createFinishedRun, resent, startApiProcesses } from '../lib/history-writes.js';
import { growth } from '../lib/marginal.js';
import { log, measuredBackfill, mkdtemp, notPassed, runMeasured, stepCost, tailText } from '../lib/measured.js';
import { median } from '../lib/table.js';

/** @typedef {import('../lib/measured.js').Measured} Measured */

/** Runs written at once, through API_PROCESSES API processes without services (row 7's measured best on 2 cores). */
const WRITE_CONCURRENCY = POSTGRES_WRITE_CONCURRENCY;
const DEPLOYMENT = '/deployments/name/hotpass-backfill/hotpass-backfill';
const COMMANDS = ['preflight', 'validate', 'cleanup', 'cleanup --all'];
/** Rounds at each size (full run): the time judged is each command's median over them. */
const ROUNDS = 3;
/**
 * REHEARSE_BENCH_HISTORY_UNTIL (an ISO time): stop writing the history then, measure at the size reached and end
 * the row there. On a busy machine the 50,000 runs take longer than a timing slot may allow.
 */
const WRITE_UNTIL = Date.parse(process.env.REHEARSE_BENCH_HISTORY_UNTIL ?? '') || Number.POSITIVE_INFINITY;
const BUDGET = 'the history write budget (REHEARSE_BENCH_HISTORY_UNTIL) ran out';

/**
 * A top-up's outcome: runs there before, written through the API, copied in the database, the time it took, the
 * deployment's runs after, and whether the write budget cut it short.
 * @typedef {{ have: number, wrote: number, copied: number, ms: number, reached: number, partial: boolean }} Growth
 */
/**
 * The runs the API wrote that copies are made of, bench-history-<first> to bench-history-<first + sources - 1> (a
 * multiple of 20, for the 1-in-20 Failed share), and the next copy's number.
 * @typedef {{ first: number, sources: number, next: number }} ApiMade
 */
/** Every run the API wrote or the database copied, and the time each took. */
/** @typedef {{ wrote: number, ms: number, copied: number, copyMs: number }} Progress */

/** The deployment's runs, counted by the API. @param {string} apiUrl @param {{id: string}} deployment */
const countRuns = (apiUrl, deployment) =>
  call(apiUrl, 'POST', '/flow_runs/count', { flow_runs: { deployment_id: { any_: [deployment.id] } } });

/**
 * Tops the deployment's history up to `size` runs through the API (runs already there count: row 12's, the last
 * size's).
 * @param {{id: string, flow_id: string}} deployment
 * @param {string} apiUrl
 * @param {string[]} urls
 * @param {number} size
 * @param {Progress} progress
 * @returns {Promise<Growth>}
 */
async function topUp(deployment, apiUrl, urls, size, progress) {
  const count = () => countRuns(apiUrl, deployment);
  const have = await count();
  const missing = Math.max(0, size - have);
  if (missing === 0) return { have, wrote: 0, copied: 0, ms: 0, reached: have, partial: false };
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
  return { have, wrote: now - have, copied: 0, ms, reached: now, partial };
}

/**
 * Tops the deployment's history up to `size` runs with copies of the API-made runs, made inside PostgreSQL
 * (copyRuns), then checks them through the API: the deployment's count is `size`, and the last copy reads back
 * with its name, tags, times and its own final state.
 * @param {{id: string, flow_id: string}} deployment
 * @param {string} apiUrl
 * @param {import('../lib/history-writes.js').Postgres} postgres
 * @param {ApiMade} made advanced past the copies
 * @param {number} size
 * @param {Progress} progress
 * @returns {Promise<Growth>}
 */
async function copyUp(deployment, apiUrl, postgres, made, size, progress) {
  const have = await countRuns(apiUrl, deployment);
  const missing = Math.max(0, size - have);
  if (missing === 0) return { have, wrote: 0, copied: 0, ms: 0, reached: have, partial: false };
  const { first, sources, next: from } = made;
  log(`row 13: copying ${sources} API-made runs in the database into ${missing} more (${have} → ${size})`);
  const started = performance.now();
  const copy = copyRuns(postgres, { flowId: deployment.flow_id, first, sources, from, to: from + missing });
  const ms = performance.now() - started;
  made.next += missing;
  progress.copied += copy.runs;
  progress.copyMs += ms;
  const reached = await countRuns(apiUrl, deployment);
  if (copy.runs !== missing || reached !== size)
    throw new Error(`copied ${copy.runs} of ${missing} runs; the API counts ${reached} in the deployment, not ${size}`);
  await expectCopy(apiUrl, copy.lastId, made.next - 1);
  log(`row 13: ${copy.runs} runs and ${copy.states} states copied in ${(ms / 1000).toFixed(1)} s`);
  return { have, wrote: 0, copied: copy.runs, ms, reached, partial: false };
}

/**
 * A copied run read back by id through the API is shaped as an API-made one: its name, the 1-in-10 earlier
 * rehearsal tag, start before end in the past, and a current state of its own, Completed (1 in 20 Failed).
 * @param {string} apiUrl
 * @param {string} id
 * @param {number} i the copy's index
 */
async function expectCopy(apiUrl, id, i) {
  /** @type {{name: string, tags: string[], start_time: string, end_time: string, state_id: string, state: {id: string, type: string, state_details: {flow_run_id: string}}}} */
  const run = await call(apiUrl, 'GET', `/flow_runs/${id}`);
  const problems = [
    run.name === `bench-history-${String(i).padStart(6, '0')}` || `name ${run.name}`,
    run.tags.includes(`rehearse-old-${i}`) === (i % 10 === 0) || `tags ${run.tags.join(',')}`,
    Date.parse(run.start_time) < Date.parse(run.end_time) || `start ${run.start_time}, end ${run.end_time}`,
    Date.parse(run.end_time) < Date.now() - 12 * 3600_000 || `end ${run.end_time} not moved back`,
    (run.state?.id === run.state_id && run.state.state_details.flow_run_id === id) || 'state not its own',
    run.state?.type === (i % 20 ? 'COMPLETED' : 'FAILED') || `state ${run.state?.type}`,
  ].filter((p) => p !== true);
  if (problems.length) throw new Error(`copied run ${id} reads back wrong: ${problems.join('; ')}`);
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

/** @typedef {Awaited<ReturnType<typeof measure>>} Round */

/**
 * Several rounds at one size as one: each command's median time; its requests and the bytes read, the largest seen.
 * @param {Round[]} rounds
 * @returns {Round}
 */
function medianRound(rounds) {
  const out = structuredClone(/** @type {Round} */ (rounds[0]));
  const most = (/** @type {(r: Round) => number} */ f) => Math.max(...rounds.map(f));
  for (const c of /** @type {('preflight' | 'validate' | 'cleanup' | 'cleanup --all')[]} */ (COMMANDS)) {
    out[c].ms = median(rounds.map((r) => r[c].ms));
    out[c].requests = most((r) => r[c].requests);
  }
  out.cleanup.bytes = most((r) => r.cleanup.bytes);
  out['cleanup --all'].bytes = most((r) => r['cleanup --all'].bytes);
  out.backfill.filterBytes = most((r) => r.backfill.filterBytes);
  return out;
}

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
  /** @type {Record<number, {writes: Growth, analyzed: boolean, round: Round, rounds: Round[]}>} */
  const at = {};
  const resentBefore = resent.count;
  /** @type {unknown} */
  let failure;
  /** @type {Progress} */
  const progress = { wrote: 0, ms: 0, copied: 0, copyMs: 0 };
  /** @type {ApiMade | undefined} */
  let made;
  /** @type {number[]} the sizes measured, in order */
  const done = [];
  try {
    for (const size of sizes) {
      const writes = made
        ? await copyUp(deployment, sandbox.apiUrl, postgres, made, size, progress)
        : await topUp(deployment, sandbox.apiUrl, writers.urls, size, progress);
      // The first size's runs are the sources of every copy after it (at least 20, for the 1-in-20 Failed share).
      if (!made && writes.wrote >= 20 && !writes.partial)
        made = { first: writes.have, sources: writes.wrote - (writes.wrote % 20), next: writes.have + writes.wrote };
      const analyzed = analyze(postgres);
      await expectNoHeldSlots(sandbox.apiUrl);
      const reached = writes.partial ? writes.reached : size;
      log(`row 13: measuring at ${reached} earlier runs`);
      /** @type {Round[]} */
      const rounds = [];
      for (let r = 0; r < (quick ? 1 : ROUNDS); r += 1) rounds.push(await measure(sandbox));
      const round = medianRound(rounds);
      at[reached] = { writes, analyzed, round, rounds };
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
  const { wrote, ms: writeMs, copied, copyMs } = progress;
  const rate = writeMs > 0 ? wrote / (writeMs / 1000) : 0;
  table.raw.history = {
    sizes,
    done,
    at,
    resent: resent.count - resentBefore,
    wrote,
    writeMs,
    runsPerSecond: rate,
    copied,
    copyMs,
    shape: `2 requests a run: created Running, forced Completed/Failed; ${copied} runs copied from them in the database`,
  };
  addRows(table, done, of);
  if (failure) {
    table.notes.push(
      `row 13: stopped after ${done.join(', ')} earlier runs: ${failure instanceof Error ? failure.message : failure}`,
    );
  }
  table.notes.push(
    `row 13: the history: ${wrote} runs written through the API at ${rate.toFixed(1)} runs/s (2 requests a run, through ${API_PROCESSES} API processes without services, ${WRITE_CONCURRENCY} at a time; ${resent.count - resentBefore} requests resent), in ${(writeMs / 1000).toFixed(0)} s; ${copied} more copied from those API-made runs inside PostgreSQL (new ids, names and idempotency keys, states with them, times a day back per round through them), in ${(copyMs / 1000).toFixed(0)} s, checked through the API (count, a copy read back); ${quick ? 'one round' : `${ROUNDS} rounds`} per size (time: each command's median; requests and bytes: the largest); verdicts ${done.map((s) => of(s).round.verdict).join('/')}.`,
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
