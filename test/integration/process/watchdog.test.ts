import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../../src/process/daemon.js';
import { readAllProcStats } from '../../../src/process/proc.js';
import { waitFor } from '../../support/wait.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const project = path.join(repo, 'fixtures', 'hotpass');

/** Processes descended from pid (Linux /proc), with their command lines. */
async function descendants(pid: number): Promise<{ pid: number; cmd: string }[]> {
  const parents = new Map(((await readAllProcStats()) ?? []).map((stat) => [stat.pid, stat.ppid]));
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return Promise.all(
    found.map(async (p) => ({
      pid: p,
      cmd: (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '),
    })),
  );
}

// What `uv run prefect deployment run … --watch` is to rehearse: uv, and the Python it starts, waiting.
const LONG_CHILD = `
import { createProcessRunner } from ${JSON.stringify(path.join(repo, 'dist', 'process', 'runner.js'))};
await createProcessRunner().run({
  file: 'uv',
  args: ['run', 'python', '-c', 'import time; time.sleep(600)'],
  cwd: ${JSON.stringify(project)},
  readOnly: true,
  timeoutMs: 900_000,
});
`;

describe('the process gateway leaves no child behind (built code, real uv)', () => {
  it('stops uv and its Python when the process that ran them is killed with SIGKILL', async () => {
    const parent = execa('node', ['--input-type=module', '-e', LONG_CHILD], {
      env: { ...process.env, UV_PYTHON_DOWNLOADS: 'never' },
      reject: false,
    });
    const tree = await waitFor('uv to start its Python', 60_000, async () => {
      const found = await descendants(parent.pid as number);
      return found.filter((p) => p.cmd.includes('time.sleep(600)')).length >= 2 ? found : undefined;
    });
    parent.kill('SIGKILL');
    expect((await parent).signal).toBe('SIGKILL');
    const children = tree.filter((p) => p.cmd.includes('time.sleep(600)'));
    // The watchdog gives them 5 s to stop on SIGTERM before SIGKILL: 30 s is a wide margin.
    const left = await waitFor('the children to exit', 30_000, async () =>
      children.some((p) => isAlive(p.pid)) ? undefined : [],
    ).catch(() => children.filter((p) => isAlive(p.pid)).map((p) => p.cmd));
    for (const p of children.filter((c) => isAlive(c.pid))) process.kill(p.pid, 'SIGKILL');
    expect(left).toEqual([]);
  });
});
