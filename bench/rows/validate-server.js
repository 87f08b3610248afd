import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mapLimited } from '../../dist/util/map-limited.js';
import { bundleIn, readJson, readRssKB, recordedCommands, startsPython } from '../lib/bundles.js';
import { benchDir, cli, node, rssHook } from '../lib/options.js';
import { apiRetries, call, createHistory } from '../lib/prefect.js';
import { mkdtemp, runProcess } from '../lib/processes.js';
import { cleanEnv } from '../lib/sandbox.js';
import { addRow, judge, log, ms, notes, raw, tail, x } from '../lib/table.js';

/**
 * Histories are written one run at a time: the sandbox's SQLite answers concurrent writers with
 * "database is locked" (a 503), so 8 writers at a time were twice as slow as one (measured: 100 runs
 * in 24 s with 8, 12 s with 1) and retried most of their flow-run creations.
 */
const WRITE_CONCURRENCY = 1;

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
    deployments[size] = await call(sandbox.apiUrl, 'GET', `/deployments/name/hotpass-backfill/${name}`);
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
    const count = await call(sandbox.apiUrl, 'POST', '/flow_runs/count', {
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

export default {
  id: 4,
  title: '4 validate (server)',
  needs: 'sqlite',
  async run(ctx) {
    ctx.shared.validate = await serverValidationRows(ctx.sandbox);
  },
};
