// @ts-check
import { performance } from 'node:perf_hooks';
import { readSandboxState } from '../../dist/sandbox/state.js';
import { mapLimited } from '../../dist/util/map-limited.js';
import { API_PROCESSES, POSTGRES_WRITE_CONCURRENCY, startApiProcess } from '../lib/api-processes.js';
import { apiRetries, call, createHistory } from '../lib/prefect.js';
import { sandboxOf } from '../lib/sandbox.js';
import { addRow, judge, log, ms, raw, x } from '../lib/table.js';

/** Row 7: the same 1,000 histories written to a PostgreSQL sandbox, concurrently, beside row 4's SQLite figure. */
/**
 * @param {import('../lib/sandbox.js').ReadySandbox} sandbox
 * @param {import('../lib/sandbox.js').SqliteWrite | undefined} sqliteWrite
 */
async function postgresWriteRows(sandbox, sqliteWrite) {
  const deployment = await call(sandbox.apiUrl, 'GET', '/deployments/name/hotpass-backfill/hotpass-backfill');
  const state = await readSandboxState(sandbox.home);
  if (!state) throw new Error(`no sandbox state in ${sandbox.home}`);
  const size = 1000;
  /** @type {Awaited<ReturnType<typeof startApiProcess>>[]} */
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
      (/** @type {number} */ i) =>
        createHistory(
          /** @type {string} */ (urls[i % urls.length]),
          deployment,
          `bench-pg-${String(i).padStart(4, '0')}`,
        ),
    );
    const took = performance.now() - started;
    const count = await call(sandbox.apiUrl, 'POST', '/flow_runs/count', {
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

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 7,
  title: '7 write 1,000 runs (PostgreSQL)',
  needs: 'postgres',
  run: (ctx) => postgresWriteRows(sandboxOf(ctx, 'row 7'), ctx.shared.validate?.sqliteWrite),
};
