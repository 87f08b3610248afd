import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { RehearseError } from '../../../src/errors.js';
import { connectionUrl, findPostgresBin } from '../../../src/sandbox/postgres.js';
import { publicSandboxState, QUICK_TIMING, type SandboxState, sandboxProcessEnv } from '../../../src/sandbox/state.js';

const STATE: SandboxState = {
  version: 1,
  apiUrl: 'http://127.0.0.1:4321/api',
  uiUrl: 'http://127.0.0.1:4321',
  port: 4321,
  stateDir: '/tmp/sandbox',
  prefectHome: '/tmp/sandbox/prefect-home',
  projectDir: '/work/fixtures/hotpass',
  startedAt: '2026-11-28T03:00:00.000Z',
  server: { pid: 10, log: '/tmp/sandbox/server.log' },
  postgres: {
    dataDir: '/tmp/pg/data',
    port: 5499,
    bin: '/usr/lib/postgresql/15/bin',
    log: '/tmp/pg/log',
    password: 'pg-secret-1',
  },
  authString: 'rehearse:auth-secret-2',
};

describe('the sandbox on PostgreSQL with auth', () => {
  it('gives Prefect an asyncpg URL on loopback with the password encoded', () => {
    expect(connectionUrl({ port: 5499, password: 'a/b+c' })).toBe(
      'postgresql+asyncpg://prefect:a%2Fb%2Bc@127.0.0.1:5499/prefect',
    );
  });

  it('shows its state without the auth string or the database password, and says what it runs', () => {
    const shown = JSON.stringify(publicSandboxState(STATE));
    expect(shown).not.toContain('pg-secret-1');
    expect(shown).not.toContain('auth-secret-2');
    expect(publicSandboxState(STATE)).toMatchObject({ database: 'postgres', auth: true, postgres: { port: 5499 } });
    const { postgres: _p, authString: _a, ...sqlite } = STATE;
    expect(publicSandboxState(sqlite)).toMatchObject({ database: 'sqlite', auth: false });
  });

  it('hands every client of the sandbox its auth string, and none when it has none', () => {
    expect(sandboxProcessEnv(STATE).PREFECT_API_AUTH_STRING).toBe('rehearse:auth-secret-2');
    const { authString: _a, ...open } = STATE;
    expect(sandboxProcessEnv(open).PREFECT_API_AUTH_STRING).toBeUndefined();
  });

  it("gives workers and server quick pickup by default, and Prefect's own intervals with --timing staging", () => {
    const quick = sandboxProcessEnv(STATE);
    expect(quick).toMatchObject({ PREFECT_WORKER_QUERY_SECONDS: '1', PREFECT_WORKER_PREFETCH_SECONDS: '5' });
    expect(quick.PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS).toBe('1');
    const staging = sandboxProcessEnv({ ...STATE, timing: 'staging' });
    for (const name of Object.keys(QUICK_TIMING)) expect(staging[name]).toBeUndefined();
    expect(staging.PREFECT_API_URL).toBe(STATE.apiUrl);
  });

  it('finds initdb where REHEARSE_PG_BIN says, and says how to install PostgreSQL when it is nowhere', async () => {
    const bin = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-pgbin-'));
    await fs.writeFile(path.join(bin, 'initdb'), '');
    expect(await findPostgresBin({ REHEARSE_PG_BIN: bin })).toBe(bin);
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-pgbin-'));
    const found = await findPostgresBin({ REHEARSE_PG_BIN: empty }).catch((e: unknown) => e);
    // Debian's package may be installed here; where it is not, the error names the fix.
    if (found instanceof RehearseError) {
      expect(found.code).toBe('TOOL_MISSING');
      expect(found.hint).toContain('apt-get install -y postgresql');
    } else expect(found).toMatch(/^\/usr\/lib\/postgresql\/\d+\/bin$/);
  });
});
