// @ts-check
// Row 13's history: finished runs written through the sandbox's API as row 7 writes them, through extra API
// processes without services on the sandbox's PostgreSQL database, and the planner's statistics refreshed after.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stopGroup } from '../../dist/process/daemon.js';
import { connectionUrl } from '../../dist/sandbox/postgres.js';
import { log, measuredEnv, mkdtemp } from './measured.js';

/** Requests the bench resent (429/502/503 or a network error), by status. */
export const resent = { count: 0, statuses: /** @type {Record<string, number>} */ ({}) };

const pause = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One JSON request to a Prefect API, resent on 429/502/503 and network errors (the bench's own policy: its
 * creations carry an idempotency key, and forcing the same state twice is harmless).
 * @param {string} apiUrl
 * @param {string} method
 * @param {string} route
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function call(apiUrl, method, route, body) {
  for (let attempt = 0; ; attempt += 1) {
    /** @type {Response | undefined} */
    let response;
    try {
      response = await fetch(`${apiUrl}${route}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      if (attempt >= 8) throw new Error(`${method} ${route}: ${error instanceof Error ? error.message : error}`);
    }
    const status = response ? String(response.status) : 'network';
    const text = response ? await response.text() : '';
    if (response && ![429, 502, 503].includes(response.status)) {
      if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    }
    if (attempt >= 8) throw new Error(`${method} ${route}: ${status} ${text.slice(0, 300)}`);
    resent.count += 1;
    resent.statuses[status] = (resent.statuses[status] ?? 0) + 1;
    await pause(Math.min(3000, 200 * 2 ** attempt) * (0.5 + Math.random()));
  }
}

/** API processes running now: killed with the bench on SIGINT/SIGTERM (run.js's handler then exits). */
const running = new Set();
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(signal, () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** @returns {Promise<number>} a free TCP port on loopback */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

// long: each process's start and health wait, with every started one stopped when a later one fails
/**
 * `n` Prefect API processes without services on the sandbox's PostgreSQL database (a staging API scaled out behind
 * a load balancer): one Python API process on 2 cores answers ~35 writes a second, CPU-bound in Prefect's ORM.
 * @param {{projectDir: string, postgres: {port: number, password: string}}} state
 * @param {number} n
 */
export async function startApiProcesses(state, n) {
  /** @type {{pid: number, home: string}[]} */
  const started = [];
  const stop = async () => {
    await Promise.all(started.map((p) => stopGroup(p.pid, 5000)));
    for (const p of started) running.delete(p.pid);
    for (const p of started) fs.rmSync(p.home, { recursive: true, force: true });
  };
  try {
    /** @type {string[]} */
    const urls = [];
    for (let i = 0; i < n; i += 1) {
      const port = await freePort();
      const home = mkdtemp('rehearse-bench-api-');
      const logFd = fs.openSync(path.join(home, 'server.log'), 'a');
      const args = [
        'run',
        'prefect',
        'server',
        'start',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--no-services',
      ];
      const child = spawn('uv', args, {
        cwd: state.projectDir,
        env: measuredEnv({
          PREFECT_HOME: home,
          PREFECT_API_DATABASE_CONNECTION_URL: connectionUrl(state.postgres),
          PREFECT_API_DATABASE_MIGRATE_ON_START: 'false',
          PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
          PREFECT_UI_ENABLED: 'false',
        }),
        stdio: ['ignore', logFd, logFd],
        detached: true,
      });
      fs.closeSync(logFd);
      started.push({ pid: child.pid ?? 0, home });
      running.add(child.pid ?? 0);
      const apiUrl = `http://127.0.0.1:${port}/api`;
      let healthy = false;
      for (let waited = 0; waited < 90_000 && !healthy && child.exitCode === null; waited += 500) {
        healthy = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (!healthy) await pause(500);
      }
      if (!healthy) {
        const text = fs.readFileSync(path.join(home, 'server.log'), 'utf8');
        throw new Error(
          `an API process without services never answered: ${text.trim().split('\n').slice(-8).join('\n')}`,
        );
      }
      urls.push(apiUrl);
    }
    return { urls, stop };
  } catch (error) {
    await stop();
    throw error;
  }
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
