import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { isAlive, processesWithEnv } from '../../src/process/daemon.js';
import { readSandboxState } from '../../src/sandbox/state.js';
import { ownedHome } from './owned-home.js';
import { rehearse, sandbox, workspace } from './support.js';

/** Processes whose command line names `text` (the PostgreSQL cluster's data directory). */
async function processesNaming(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(text)) found.push(Number(entry));
  }
  return found;
}

const portAnswers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket.end() !== undefined));
    socket.once('error', () => resolve(false));
  });

describe('rehearse sandbox against the real stack', () => {
  it('status reports the running server and worker; env prints export lines for the API', async () => {
    const cwd = await workspace();
    const state = await sandbox();
    const status = await rehearse(['sandbox', 'status', '--json'], { cwd });
    expect(status.exitCode).toBe(0);
    const data = JSON.parse(status.stdout) as { data: { running: boolean; apiUrl: string } };
    expect(data.data).toMatchObject({ running: true, apiUrl: state.apiUrl });
    const env = await rehearse(['sandbox', 'env'], { cwd });
    expect(env.stdout).toContain(`export PREFECT_API_URL="${state.apiUrl}"`);
  });

  it("the suite's sandbox is staging-shaped: PostgreSQL, two workers, auth; status shows it and hides its secrets", async () => {
    const cwd = await workspace();
    const state = await sandbox();
    expect(state.postgres?.port).toBeGreaterThan(0);
    expect(state.workers).toHaveLength(2);
    const status = await rehearse(['sandbox', 'status'], { cwd });
    expect(status.stdout).toContain(`database PostgreSQL on 127.0.0.1:${state.postgres?.port}`);
    expect(status.stdout).toContain('basic auth on');
    const json = await rehearse(['sandbox', 'status', '--json'], { cwd });
    expect(JSON.parse(json.stdout).data).toMatchObject({ database: 'postgres', auth: true });
    for (const secret of [state.authString as string, state.postgres?.password as string]) {
      expect(status.stdout + json.stdout).not.toContain(secret);
    }
    // The string is read from its file by the shell that evals the lines; the lines never hold it.
    const env = await rehearse(['sandbox', 'env'], { cwd });
    expect(env.stdout).toContain('export PREFECT_API_AUTH_STRING="$(cat ');
    expect(env.stdout).not.toContain(state.authString as string);
    const shell = await execa('bash', ['-c', `eval "$1"; printf %s "$PREFECT_API_AUTH_STRING"`, '_', env.stdout]);
    expect(shell.stdout).toBe(state.authString);
  });

  it('doctor against the auth-enabled server fails naming the missing auth string (exit 3), and passes with it', async () => {
    const cwd = await workspace();
    const state = await sandbox();
    await fs.writeJson(path.join(cwd, 'rehearse.config.json'), { projectDir: state.projectDir });
    const { PREFECT_API_AUTH_STRING: _unset, ...env } = process.env;
    const bare = { ...env, PREFECT_API_URL: state.apiUrl } as Record<string, string>;
    const without = await rehearse(['doctor', '--json'], { cwd, env: bare });
    expect(without.exitCode, without.stdout).toBe(3);
    const checks = (
      JSON.parse(without.stdout) as { data: { checks: { id: string; verdict: string; reason: string }[] } }
    ).data.checks;
    const auth = checks.find((c) => c.id === 'api.auth');
    expect(auth?.verdict).toBe('fail');
    expect(auth?.reason).toContain('answered HTTP 401 to no credentials');
    expect(without.stdout).toContain('PREFECT_API_AUTH_STRING');
    const withAuth = await rehearse(['doctor', '--json'], {
      cwd,
      env: { ...bare, PREFECT_API_AUTH_STRING: state.authString as string },
    });
    expect(withAuth.exitCode, withAuth.stdout).toBe(0);
    expect(withAuth.stdout).not.toContain(state.authString as string);
  });

  it('a PostgreSQL sandbox of its own: down stops its cluster, server and workers and frees their ports', async () => {
    const home = await ownedHome('pg');
    const env = { REHEARSE_SANDBOX_HOME: home };
    try {
      const up = await rehearse(['sandbox', 'up', '--database', 'postgres', '--auth'], { cwd: home, env });
      expect(up.exitCode, up.stdout + up.stderr).toBe(0);
      const state = await readSandboxState(home);
      const cluster = state?.postgres;
      expect(cluster).toBeDefined();
      expect(await processesNaming(cluster?.dataDir as string)).not.toEqual([]);
      expect(await portAnswers(cluster?.port as number)).toBe(true);
      const other = await rehearse(['sandbox', 'up'], { cwd: home, env: { ...env } });
      expect(other.exitCode).toBe(0);
      const sqlite = await rehearse(['sandbox', 'up', '--database', 'sqlite'], { cwd: home, env });
      expect([sqlite.exitCode, sqlite.stderr]).toEqual([2, expect.stringContaining('postgres with auth already runs')]);
      const staging = await rehearse(['sandbox', 'up', '--database', 'postgres', '--auth', '--timing', 'staging'], {
        cwd: home,
        env,
      });
      expect([staging.exitCode, staging.stderr]).toEqual([
        2,
        expect.stringContaining('on postgres with auth with staging timing'),
      ]);

      const down = await rehearse(['sandbox', 'down'], { cwd: home, env });
      expect(down.exitCode, down.stdout).toBe(0);
      expect(down.stdout).toMatch(/stopped postgres .*: stopped/);
      expect(await processesNaming(cluster?.dataDir as string)).toEqual([]);
      expect(await processesWithEnv('PREFECT_HOME', state?.prefectHome as string)).toEqual([]);
      expect(await portAnswers(cluster?.port as number)).toBe(false);
      expect(await portAnswers(state?.port as number)).toBe(false);
    } finally {
      await rehearse(['sandbox', 'down', '--purge'], { cwd: home, env });
    }
    expect(await fs.pathExists(home)).toBe(false);
  });

  it('up is idempotent: a second up finds the same processes', async () => {
    const cwd = await workspace();
    const before = await sandbox();
    const again = await rehearse(['sandbox', 'up'], { cwd });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('already running');
    const after = await sandbox();
    expect(after.server.pid).toBe(before.server.pid);
    expect(after.worker?.pid).toBe(before.worker?.pid);
    expect(isAlive(after.server.pid)).toBe(true);
  });

  it('up refuses a busy port with a one-screen message and exit 3', async () => {
    const cwd = await workspace();
    const state = await sandbox();
    const run = await rehearse(['sandbox', 'up', '--state-dir', `${cwd}/other`, '--port', String(state.port)], { cwd });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain(`port ${state.port} on 127.0.0.1 is already in use`);
    expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /);
  });
});
