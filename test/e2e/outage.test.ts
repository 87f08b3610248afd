import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopGroup } from '../../src/process/daemon.js';
import { readSandboxState, type SandboxState } from '../../src/sandbox/state.js';
import { ownedHome } from './owned-home.js';
import { repo, workspace } from './support.js';

/** A sandbox of this file's own: the test takes its server away mid-run. */
describe('the API going away during a watched run', () => {
  let home: string;
  let state: SandboxState;
  const cli = (args: string[], cwd: string) =>
    execa('node', [path.join(repo, 'bin/rehearse.js'), ...args], {
      cwd,
      env: { ...process.env, REHEARSE_SANDBOX_HOME: home, CI: '1' },
      reject: false,
    });

  beforeAll(async () => {
    home = await ownedHome('outage');
    const up = await cli(['sandbox', 'up'], home);
    if (up.exitCode !== 0) throw new Error(up.stdout + up.stderr);
    state = (await readSandboxState(home)) as SandboxState;
  });
  afterAll(async () => {
    await cli(['sandbox', 'down', '--purge'], home);
  });

  /** Processes whose environment points at this sandbox's Prefect home: everything up started. */
  async function processesOfThisSandbox(): Promise<number[]> {
    const mine: number[] = [];
    for (const pid of (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
      const environ = await fs.readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      if (environ.split('\0').includes(`PREFECT_HOME=${state.prefectHome}`)) mine.push(Number(pid));
    }
    return mine;
  }

  it('stops the watch, exits 3 with a one-screen message, and leaves a bundle that says it could not run', async () => {
    const cwd = await workspace();
    const child = cli(
      [
        'run',
        '--sandbox',
        '--new-bundle',
        '--since',
        '2024-01-01',
        '--until',
        '2024-01-03',
        '--param',
        'day_seconds=20',
        '--json',
      ],
      cwd,
    );
    let runs: { state_type: string }[] = [];
    for (let i = 0; i < 300 && !runs.some((r) => r.state_type === 'RUNNING'); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const response = await fetch(`${state.apiUrl}/flow_runs/filter`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }).catch(() => undefined);
      runs = response?.ok ? ((await response.json()) as { state_type: string }[]) : [];
    }
    expect(runs.some((r) => r.state_type === 'RUNNING')).toBe(true);
    await stopGroup(state.server.pid);
    const result = await child;
    expect(result.exitCode, result.stderr).toBe(3);
    const out = JSON.parse(result.stdout) as {
      bundle: string;
      error: { code: string; message: string };
      summary: { status: string; verdict: string };
    };
    expect(out.error.code).toBe('API_UNREACHABLE');
    expect(out.error.message).toContain('stopped answering');
    expect(out.summary).toMatchObject({ status: 'failed-to-run', verdict: 'incomplete' });
    expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(await fs.readFile(path.join(cwd, out.bundle, 'hotpass-e2e-staging.log'), 'utf8')).toContain(
      'stopped answering',
    );
  });

  it('sandbox down stops exactly what up started and leaves none of its processes running', async () => {
    expect((await processesOfThisSandbox()).length).toBeGreaterThan(0);
    const down = await cli(['sandbox', 'down'], home);
    expect(down.exitCode, down.stdout).toBe(0);
    expect(down.stdout).toMatch(/stopped worker \(pid \d+\)/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await processesOfThisSandbox()).toEqual([]);
    const status = await cli(['sandbox', 'status'], home);
    expect(status.exitCode).toBe(3);
  });
});
