// @ts-check
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mapLimited } from '../../dist/util/map-limited.js';
import { bundleIn, readJson, readRssKB, recordedCommands, startsPython } from '../lib/bundles.js';
import { benchDir, cli, node, rssHook } from '../lib/options.js';
import { apiRetries, call, createHistory } from '../lib/prefect.js';
import { mkdtemp, runProcess } from '../lib/processes.js';
import { cleanEnv, sandboxOf } from '../lib/sandbox.js';
import { addRow, figuresAt, judge, log, ms, notes, raw, tail, x } from '../lib/table.js';

/** @typedef {import('../lib/sandbox.js').ReadySandbox} ReadySandbox */
/**
 * bare-reads.js's figures (its runs, states and events read, its requests), timed as a whole process.
 * @typedef {{ ms: number, wallMs: number, runs: number, states: number, events: number, requests: number, concurrency: number }} BareFigures
 */
/**
 * One size's validate run and the bare reads beside it.
 * @typedef {{ bare: Record<number, BareFigures>, ms: number, exitCode: number | null, histories: number,
 *   neededFlowRun: boolean, args: string[], maxRssKB: number | undefined, httpRequests: number, httpMs: number,
 *   pythonStarts: number, stepMs: number | undefined }} ValidateFigures
 */

/**
 * Histories are written one run at a time: the sandbox's SQLite answers concurrent writers with
 * "database is locked" (a 503), so 8 writers at a time were twice as slow as one (measured: 100 runs
 * in 24 s with 8, 12 s with 1) and retried most of their flow-run creations.
 */
const WRITE_CONCURRENCY = 1;

/** Row 4 (and the validate half of row 5): `rehearse validate --all-runs` over 100 and 1,000 runs. */
/** @param {ReadySandbox} sandbox */
async function serverValidationRows(sandbox) {
  const sizes = [100, 1000];
  /** @type {Record<number, { id: string, flow_id: string }>} */
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
    deployments[size] = await call(sandbox.apiUrl, 'GET', `/deployments/name/hotpass-backfill/${name}`);
  }
  /** @type {Record<number, string[]>} */
  const created = {};
  /** @type {Record<number, import('../lib/sandbox.js').SqliteWrite>} */
  const creation = {};
  for (const size of sizes) {
    log(
      `row 4: writing ${size} finished run histories (Scheduled, Pending, Running, Completed) through the API, ${WRITE_CONCURRENCY} at a time`,
    );
    const started = performance.now();
    const retriedBefore = apiRetries.count;
    const deployment = figuresAt(deployments, size, 'row 4');
    created[size] = await mapLimited(
      Array.from({ length: size }, (_, i) => i),
      WRITE_CONCURRENCY,
      (/** @type {number} */ i) =>
        createHistory(sandbox.apiUrl, deployment, `bench-${size}-${String(i).padStart(4, '0')}`),
    );
    creation[size] = {
      ms: performance.now() - started,
      requests: size * 4,
      retried: apiRetries.count - retriedBefore,
      concurrency: WRITE_CONCURRENCY,
    };
    const count = await call(sandbox.apiUrl, 'POST', '/flow_runs/count', {
      flow_runs: { deployment_id: { any_: [deployment.id] } },
    });
    if (count < size) throw new Error(`bench-${size} has ${count} runs on the server, expected ${size}`);
  }

  /** @type {Record<number, ValidateFigures>} */
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
      const first = /** @type {string} one of the size's runs */ (figuresAt(created, size, 'row 4')[0]);
      args = [...args.slice(0, -1), '--flow-run', first, '--ci'];
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
    if (![0, 1, 4].includes(run.code ?? -1) || !bundle || !historyFile || histories < size) {
      throw new Error(
        `validate bench-${size} exited ${run.code}, its state-history.json holds ${histories} run(s) (expected ≥ ${size})\n${tail(run.stdout + run.stderr, 12)}`,
      );
    }
    /** @type {import('../lib/measured.js').Summary} */
    const summary = readJson(path.join(bundle, 'summary.json'));
    const commands = recordedCommands(summary);
    const http = commands.filter((c) => c.kind === 'http');
    /** @type {{ runs: { states: { timestamp: string }[] }[] }} */
    const history = readJson(historyFile);
    const since = /** @type {string} the earliest of the size's states */ (
      history.runs.flatMap((r) => r.states.map((st) => st.timestamp)).sort()[0]
    );
    /** @type {Record<number, BareFigures>} */
    const bare = {};
    for (const concurrency of [8, 16])
      bare[concurrency] = await bareReads(sandbox, figuresAt(deployments, size, 'row 4').id, since, concurrency);
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
  const big = figuresAt(results, 1000, 'row 4');
  const small = figuresAt(results, 100, 'row 4');
  const growth = big.ms / small.ms;
  const fallback = big.neededFlowRun ? ' (needed one --flow-run: --all-runs alone refused)' : '';
  addRow({
    row: '4 validate 1,000 runs (server)',
    figure: `${ms(big.ms)} (${x(growth)} the 100-run time); ${big.httpRequests} API requests${fallback}`,
    goal: '< 15 s',
    ...judge(big.ms < 15_000, `${ms(big.ms)}: ${big.httpRequests} API requests, ${ms(big.httpMs)} of request time`),
  });
  const yardstick = figuresAt(big.bare, 8, 'row 4');
  addRow({
    row: '4 validate 1,000 runs vs a bare client',
    figure: `${x(big.ms / yardstick.ms)} (${ms(big.ms)} vs ${ms(yardstick.ms)} for the same ${yardstick.requests} reads with plain fetch, 8 at a time, in its own node; 16 at a time: ${ms(figuresAt(big.bare, 16, 'row 4').ms)})`,
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
    `row 4: writing the histories took ${ms(figuresAt(creation, 100, 'row 4').ms)} (100 runs) and ${ms(figuresAt(creation, 1000, 'row 4').ms)} (1,000 runs), 4 requests per run, ${WRITE_CONCURRENCY} run at a time (${apiRetries.count} request(s) retried after a 503 "database is locked" or a reset connection); validate exit codes ${small.exitCode} / ${big.exitCode} (0 all pass, 1 a limit exceeded, 4 inconclusive: any is fine here, only time and completion count).`,
  );
  return { validate100KB: small.maxRssKB, validate1000KB: big.maxRssKB, sqliteWrite: creation[1000] };
}

/** bench/bare-reads.js: validate's reads with plain fetch, timed as a whole process like rehearse. */
/**
 * @param {ReadySandbox} sandbox
 * @param {string} deploymentId
 * @param {string} since
 * @param {number} concurrency
 * @returns {Promise<BareFigures>}
 */
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
  return { ...JSON.parse(run.stdout.trim().split('\n').at(-1) ?? ''), wallMs: run.ms, ms: run.ms };
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 4,
  title: '4 validate (server)',
  needs: 'sqlite',
  async run(ctx) {
    ctx.shared.validate = await serverValidationRows(sandboxOf(ctx, 'row 4'));
  },
};
