// @ts-check
// Row 13's history: finished runs written through the sandbox's API as row 7 writes them, through extra API
// processes without services on the sandbox's PostgreSQL database, and the planner's statistics refreshed after.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startApiProcess } from './api-processes.js';
import { log } from './measured.js';
import { call } from './prefect.js';

/** Requests the bench resent, by status: the bench's REST client (lib/prefect.js) counts them. */
export { apiRetries as resent, call } from './prefect.js';

/**
 * `n` Prefect API processes without services on the sandbox's PostgreSQL database (a staging API scaled out behind
 * a load balancer), as row 7 starts them.
 * @param {{ projectDir: string, cleanup: string[] }} sandbox
 * @param {{ postgres?: { port: number, password: string } }} state
 * @param {number} n
 */
export async function startApiProcesses(sandbox, state, n) {
  /** @type {{ apiUrl: string, stop: () => void }[]} */
  const started = [];
  const stop = async () => {
    for (const p of started) p.stop();
  };
  try {
    for (let i = 0; i < n; i += 1) started.push(await startApiProcess(sandbox, state));
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls: started.map((p) => p.apiUrl), stop };
}

/** Tags of every history run; every 10th also looks like an earlier rehearsal's (cleanup --all must skip it). */
const HISTORY_TAG = 'rehearse-bench-history';

/**
 * A finished run in 2 requests: created Running (the creation is forced, and Prefect's SetStartTime rule stamps
 * start_time, which validate's read of other runs filters on), then forced Completed (1 in 20 Failed) for end_time.
 * Forced transitions take and release no concurrency slot.
 * @param {string} apiUrl
 * @param {{id: string, flow_id: string}} deployment
 * @param {number} i
 */
export async function createFinishedRun(apiUrl, deployment, i) {
  const name = `bench-history-${String(i).padStart(6, '0')}`;
  const tags = ['hotpass', 'backfill', HISTORY_TAG, ...(i % 10 === 0 ? ['rehearse', `rehearse-old-${i}`] : [])];
  const run = await call(apiUrl, 'POST', '/flow_runs/', {
    flow_id: deployment.flow_id,
    deployment_id: deployment.id,
    name,
    idempotency_key: name,
    tags,
    state: { type: 'RUNNING', name: 'Running' },
  });
  await call(apiUrl, 'POST', `/flow_runs/${run.id}/set_state`, {
    state: { type: i % 20 ? 'COMPLETED' : 'FAILED' },
    force: true,
  });
}

/**
 * `ANALYZE` the tables the history grew, as a long-lived staging database has fresh planner statistics.
 * @param {{bin: string, port: number, password: string}} postgres
 */
export function analyze(postgres) {
  const psql = path.join(postgres.bin, 'psql');
  const args = ['-h', '127.0.0.1', '-p', String(postgres.port), '-U', 'prefect', '-d', 'prefect', '-c'];
  const result = spawnSync(psql, [...args, 'ANALYZE flow_run, flow_run_state'], {
    env: { ...process.env, PGPASSWORD: postgres.password },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (result.status !== 0) log(`ANALYZE exited ${result.status}: ${`${result.stdout}${result.stderr}`.trim()}`);
  return result.status === 0;
}
