// @ts-check
// Row 12 (issue 28 row 1): `rehearse backfill --sandbox --burst N` for N = 3, 12, 48 on a PostgreSQL sandbox with
// two workers and every limit raised to 8 (runs queue and overlap as in staging). rehearse's own CPU, requests and
// peak RSS, judged per added run, and the wall time it adds over the runs' own span.
import fs from 'node:fs';
import path from 'node:path';
import { call } from '../lib/history-writes.js';
import { growth, marginal } from '../lib/marginal.js';
import { log, measuredBackfill, mkdtemp, notPassed, stepCost } from '../lib/measured.js';

/**
 * @typedef {import('../lib/sandbox.js').RowContext} RowContext
 * @typedef {RowContext['table']} Table
 */

const LIMIT = 8;
const DEPLOYMENT = '/deployments/name/hotpass-backfill/hotpass-backfill';
const POOL = '/work_pools/hotpass-backfill-pool';
const GLOBAL = '/v2/concurrency_limits/hotpass-backfill';
const STEPS = ['preflight', 'render', 'inspect', 'run', 'capture', 'validate', 'upload'];

/**
 * Sets the three guardrails to `limit` over REST (no Python starts) and returns a function that puts back the
 * values read first.
 * @param {string} apiUrl
 * @param {number} limit
 */
async function raiseLimits(apiUrl, limit) {
  const deployment = await call(apiUrl, 'GET', DEPLOYMENT);
  const pool = await call(apiUrl, 'GET', POOL);
  const global = await call(apiUrl, 'GET', GLOBAL);
  /** @param {number} dep @param {number} wp @param {number} gcl */
  const set = async (dep, wp, gcl) => {
    await call(apiUrl, 'PATCH', `/deployments/${deployment.id}`, { concurrency_limit: dep });
    await call(apiUrl, 'PATCH', POOL, { concurrency_limit: wp });
    await call(apiUrl, 'PATCH', GLOBAL, { limit: gcl });
  };
  await set(limit, limit, limit);
  const back = await call(apiUrl, 'GET', DEPLOYMENT);
  const limits = [
    back.global_concurrency_limit?.limit ?? back.concurrency_limit,
    (await call(apiUrl, 'GET', POOL)).concurrency_limit,
    (await call(apiUrl, 'GET', GLOBAL)).limit,
  ];
  if (limits.some((l) => l !== limit)) throw new Error(`limits read back ${limits.join('/')}, expected ${limit}`);
  const old = [
    deployment.global_concurrency_limit?.limit ?? deployment.concurrency_limit,
    pool.concurrency_limit,
    global.limit,
  ];
  return { old, restore: () => set(old[0], old[1], old[2]) };
}

/**
 * The runs' own span: the rehearsal's runs from the earliest first state to the latest final state.
 * @param {string} bundle
 */
function runSpanMs(bundle) {
  /** @type {{runs: {rehearsal?: boolean, states: {timestamp: string, type: string}[]}[]}} */
  const history = JSON.parse(fs.readFileSync(path.join(bundle, 'state-history.json'), 'utf8'));
  const own = history.runs.filter((r) => r.rehearsal);
  const times = own.flatMap((r) => r.states.map((s) => Date.parse(s.timestamp)));
  return { runs: own.length, ms: times.length ? Math.max(...times) - Math.min(...times) : 0 };
}

/**
 * One backfill of `size` runs, measured.
 * @param {{home: string}} sandbox
 * @param {number} size
 */
async function burst(sandbox, size) {
  const cwd = mkdtemp(`rehearse-bench-burst-${size}-`);
  try {
    fs.writeFileSync(
      path.join(cwd, 'rehearse.config.json'),
      `${JSON.stringify({ expect: { deploymentLimit: LIMIT, workPoolLimit: LIMIT, globalLimit: LIMIT } })}\n`,
    );
    const args = ['backfill', '--sandbox', '--burst', String(size), '--param', 'day_seconds=0.2'];
    log(`row 12: rehearse ${args.join(' ')}`);
    const { run, bundle, summary } = await measuredBackfill(args.slice(2), { cwd, home: sandbox.home });
    const span = runSpanMs(bundle);
    const runStep = summary.steps.find((s) => s.name === 'run');
    const runHttp = (runStep?.commands ?? []).filter((c) => c.kind === 'http');
    const route = (/** @type {{method?: string, url?: string}} */ c) =>
      `${c.method} ${new URL(c.url ?? 'http://x/').pathname.replace(/[0-9a-f-]{36}/g, '<id>')}`;
    const creations = runHttp.filter((c) => /create_flow_run$/.test(route(c))).length;
    const polls = runHttp.filter((c) => route(c).endsWith('/flow_runs/filter')).length;
    const python = summary.steps
      .flatMap((s) => s.commands ?? [])
      .filter((c) => c.kind === 'process' && c.file === 'uv');
    return {
      size,
      exitCode: run.code,
      verdict: summary.verdict,
      notPassed: notPassed(summary),
      wallMs: run.ms,
      spanMs: span.ms,
      spanRuns: span.runs,
      addedMs: run.ms - span.ms,
      ownCpuMs: run.cost.ownCpuUs / 1000,
      childTicks: run.cost.childTicks,
      maxRssKB: run.cost.maxRssKB,
      requests: run.cost.requests,
      routes: run.cost.routes,
      steps: Object.fromEntries(STEPS.map((name) => [name, stepCost(summary, name)])),
      run: { creations, polls, other: runHttp.length - creations - polls, ms: runStep?.durationMs ?? 0 },
      pythonStarts: python.length,
    };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** @param {number} n */
const f1 = (n) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1));

/** @param {RowContext} ctx */
async function run(ctx) {
  const { table, sandbox, quick } = ctx;
  if (!sandbox) throw new Error('row 12 needs the PostgreSQL sandbox');
  const sizes = quick ? [1, 2, 3] : [3, 12, 48];
  const limits = await raiseLimits(sandbox.apiUrl, LIMIT);
  /** @type {Record<number, Awaited<ReturnType<typeof burst>>>} */
  const at = {};
  try {
    for (const size of sizes) {
      const r = await burst(sandbox, size);
      at[size] = r;
      log(
        `row 12: burst ${size}: exit ${r.exitCode} (${r.verdict}), wall ${(r.wallMs / 1000).toFixed(1)} s, span ${(r.spanMs / 1000).toFixed(1)} s, own CPU ${f1(r.ownCpuMs)} ms, ${r.requests} requests, RSS ${Math.round(r.maxRssKB / 1024)} MB${r.notPassed.length ? `; not passed: ${r.notPassed.join(', ')}` : ''}`,
      );
    }
  } finally {
    await limits.restore();
  }
  table.raw.burstGrowth = { limit: LIMIT, restoredLimits: limits.old, sizes, at };
  addRows(table, sizes, at);
}

/**
 * The row's four figures and its note.
 * @param {Table} table
 * @param {number[]} sizes
 * @param {Record<number, Awaited<ReturnType<typeof burst>>>} at
 */
function addRows(table, sizes, at) {
  const of = (/** @type {number} */ s) => {
    const found = at[s];
    if (!found) throw new Error(`row 12: no figures at ${s}`);
    return found;
  };
  const list = (/** @type {(r: (typeof at)[number]) => string} */ f) =>
    sizes.map((s) => `${s}: ${f(of(s))}`).join(', ');
  const steps = (/** @type {ReturnType<typeof marginal>} */ m) =>
    `${m.steps.map((st) => `${st.from}→${st.to} ${f1(st.perUnit)}`).join(', ')} (average ${f1(m.average)})`;
  const cpu = marginal(sizes, (s) => of(s).ownCpuMs);
  table.addRow({
    row: '12 burst growth: CPU',
    figure:
      `own CPU ${list((r) => `${f1(r.ownCpuMs / r.size)} ms/run`)}; per added run ${steps(cpu)} ms (${cpu.ratio.toFixed(2)}x); ` +
      `children's CPU (uv run prefect, Chromium) ${list((r) => `${r.childTicks ?? '?'} ticks`)}`,
    goal: 'last step per added run ≤ 1.5x the average',
    ratio: cpu.ratio,
    ...table.judge(cpu.ratio <= 1.5, `${cpu.ratio.toFixed(2)}x`),
  });
  // The watch reads the burst's runs once a second (paged at 200): its polls follow the run step's length, which
  // grows with the waves the limits make, not with the work per run. They are judged per second, the rest per run.
  const requests = marginal(sizes, (s) => of(s).requests - of(s).run.polls);
  const pollRate = growth(sizes, (s) => of(s).run.polls / (of(s).run.ms / 1000));
  table.addRow({
    row: '12 burst growth: requests',
    figure:
      `${list((r) => `${r.requests} (${r.run.polls} of them the watch's polls in ${(r.run.ms / 1000).toFixed(0)} s)`)}; ` +
      `without the polls per added run ${steps(requests)} (${requests.ratio.toFixed(2)}x); ` +
      `polls per second of the run step ${list((r) => (r.run.polls / (r.run.ms / 1000)).toFixed(2))} (${pollRate.toFixed(2)}x)`,
    goal: 'last step per added run ≤ 1.5x the average; polls/s ≤ 1.5x',
    ratio: requests.ratio,
    ...table.judge(
      requests.ratio <= 1.5 && pollRate <= 1.5,
      `${requests.ratio.toFixed(2)}x per added run, polls/s ${pollRate.toFixed(2)}x`,
    ),
  });
  const added = growth(sizes, (s) => of(s).addedMs);
  table.addRow({
    row: '12 burst growth: wall added',
    figure: `wall over the runs' span ${list((r) => `${(r.addedMs / 1000).toFixed(1)} s (span ${(r.spanMs / 1000).toFixed(1)} s)`)}; largest/smallest ${added.toFixed(2)}x`,
    goal: 'added(largest) ≤ 1.5x added(smallest)',
    ratio: added,
    ...table.judge(added <= 1.5, `${added.toFixed(2)}x`),
  });
  const rss = growth(sizes, (s) => of(s).maxRssKB);
  table.addRow({
    row: '12 burst growth: memory',
    figure: `peak RSS ${list((r) => `${Math.round(r.maxRssKB / 1024)} MB`)} (${rss.toFixed(2)}x)`,
    goal: '≤ 1.5x',
    ratio: rss,
    ...table.judge(rss <= 1.5, `${rss.toFixed(2)}x`),
  });
  addNote(table, sizes, of);
}

/**
 * Requests per step, Python starts and the checks that did not pass, beside the row.
 * @param {Table} table
 * @param {number[]} sizes
 * @param {(size: number) => Awaited<ReturnType<typeof burst>>} of
 */
function addNote(table, sizes, of) {
  const list = (/** @type {(r: Awaited<ReturnType<typeof burst>>) => string} */ f) =>
    sizes.map((s) => `${s}: ${f(of(s))}`).join(', ');
  const perStep = STEPS.filter((name) => sizes.some((s) => of(s).steps[name]?.present)).map(
    (name) => `${name} ${list((r) => String(r.steps[name]?.requests ?? 0))}`,
  );
  const verdicts = new Set(sizes.map((s) => of(s).verdict));
  table.notes.push(
    [
      `row 12: requests per step (journal) at ${sizes.join('/')} runs: ${perStep.join('; ')}; capture and validate read one state history per run, linear by design. Python starts ${list((r) => String(r.pythonStarts))}.`,
      `  the wall added over the runs' span is the noisy figure (one run per size; the watch's last poll and the worker's pickup fall where they fall).`,
      ...sizes
        .filter((s) => of(s).notPassed.length)
        .map((s) => `  at ${s} runs, not passed: ${of(s).notPassed.join(', ')}.`),
      ...(verdicts.size > 1
        ? [`  the verdict differs between sizes (${list((r) => r.verdict)}): a failure path adds its own requests.`]
        : []),
    ].join('\n'),
  );
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default { id: 12, title: '12 burst growth', needs: 'postgres', smoke: true, run };
