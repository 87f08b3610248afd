// Extra Prefect API processes on the sandbox's PostgreSQL database, for concurrent writes (row 7).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../dist/sandbox/ports.js';
import { live, mkdtemp, stopGroup } from './processes.js';
import { cleanEnv } from './sandbox.js';
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
 */
export async function startApiProcess(sandbox, state) {
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
