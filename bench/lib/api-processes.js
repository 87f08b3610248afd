// @ts-check
// Extra Prefect API processes on the sandbox's PostgreSQL database, for concurrent writes (row 7).
import fs from 'node:fs';
import path from 'node:path';
import { createPrefectApi } from '../../dist/prefect/api.js';
import { startServerArgs } from '../../dist/prefect/cli-args.js';
import { checkHealth } from '../../dist/prefect/queries.js';
import { isAlive, spawnDetached } from '../../dist/process/daemon.js';
import { freePort } from '../../dist/sandbox/ports.js';
import { connectionUrl } from '../../dist/sandbox/postgres.js';
import { waitForServerStart } from '../../dist/sandbox/wait.js';
import { live, mkdtemp, stopGroup } from './processes.js';
import { tail } from './table.js';

/** Runs written at once to PostgreSQL, which takes concurrent writers (SQLite answers 503 to them). */
export const POSTGRES_WRITE_CONCURRENCY = 16;
/** API processes without services that row 7 writes through, in turn (the sandbox's own server is not one). */
export const API_PROCESSES = 3;

/**
 * One more Prefect API process on the sandbox's PostgreSQL database, without background services: how a staging
 * API scales out behind a load balancer while one process runs the services. One Python API process on 2 cores
 * answers ~35 writes a second, CPU-bound in Prefect's ORM layer; PostgreSQL takes writers from several. (Without a
 * shared message broker its events stay in its own process: fine for writing histories.)
 * @param {{ projectDir: string, cleanup: string[] }} sandbox
 * @param {{ postgres?: { port: number, password: string } }} state the sandbox's state (sandbox.json)
 * @returns {Promise<{ apiUrl: string, stop: () => void }>}
 */
export async function startApiProcess(sandbox, state) {
  if (!state.postgres)
    throw new Error('extra API processes need the PostgreSQL sandbox (sandbox up --database postgres)');
  const port = await freePort();
  const home = mkdtemp('rehearse-bench-api2-');
  sandbox.cleanup.push(home);
  const logFile = path.join(home, 'server.log');
  const command = {
    file: 'uv',
    args: ['run', 'prefect', ...startServerArgs(port), '--no-services'],
    cwd: sandbox.projectDir,
    env: {
      PREFECT_HOME: home,
      PREFECT_API_DATABASE_CONNECTION_URL: connectionUrl(state.postgres),
      PREFECT_API_DATABASE_MIGRATE_ON_START: 'false',
      PREFECT_UI_ENABLED: 'false',
    },
    readOnly: false,
  };
  const pid = await spawnDetached(command, logFile);
  live.add(pid);
  const stop = () => stopGroup(pid);
  const apiUrl = `http://127.0.0.1:${port}/api`;
  const api = createPrefectApi({ apiUrl, timeoutMs: 2000 });
  const healthy = async () => (await checkHealth(api)).ok;
  const started = await waitForServerStart(() => isAlive(pid), healthy, { timeoutMs: 90_000 });
  if (started === 'healthy') return { apiUrl, stop };
  stop();
  throw new Error(
    `an API process (prefect server start --no-services) ${started === 'exited' ? 'exited' : 'never answered'}: ${tail(fs.readFileSync(logFile, 'utf8'), 8)}`,
  );
}
