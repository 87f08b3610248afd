import { describe, expect, it } from 'vitest';
import { isAlive } from '../../src/process/daemon.js';
import { rehearse, sandbox, workspace } from './support.js';

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
    expect(run.stdout).toContain(`port ${state.port} on 127.0.0.1 is already in use`);
    expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /);
  });
});
