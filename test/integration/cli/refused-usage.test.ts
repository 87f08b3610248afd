import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

let work: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-refused-usage-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a refused usage (built CLI)', () => {
  it.each([['backfill'], ['run']])('%s --burst 1000 exits 2 and leaves no bundle directory', async (command) => {
    const root = path.join(work, 'evidence');
    const result = await execa(
      'node',
      [path.join(repo, 'bin/rehearse.js'), command, '--burst', '1000', '--evidence-root', root, '--ci'],
      // No server answers here: the usage must be refused before one is asked.
      { reject: false, cwd: work, all: true, env: { ...process.env, PREFECT_API_URL: 'http://127.0.0.1:9/api' } },
    );
    expect(result.exitCode, result.all).toBe(2);
    expect(result.all).toContain('a burst of 1000 runs is above the maximum of 50');
    // Under --ci, without a terminal, the error still goes to stderr.
    expect(result.stderr).toContain('error: invalid option value');
    expect(result.stdout).not.toContain('error:');
    const left = await readdir(root).catch(() => []);
    expect(left).toEqual([]);
  });

  it.each([['kill-flow'], ['kill-worker']])(
    'backfill --fault %s without the sandbox exits 2 before any bundle, pointing at --fault-command',
    async (kind) => {
      const root = path.join(work, 'evidence');
      const result = await execa(
        'node',
        [path.join(repo, 'bin/rehearse.js'), 'backfill', '--fault', kind, '--evidence-root', root, '--ci'],
        { reject: false, cwd: work, all: true, env: { ...process.env, PREFECT_API_URL: 'http://127.0.0.1:9/api' } },
      );
      expect(result.exitCode, result.all).toBe(2);
      expect(result.stderr).toContain(`--fault ${kind} needs the sandbox`);
      expect(result.stderr).toContain('--fault-command');
      expect(await readdir(root).catch(() => [])).toEqual([]);
    },
  );
});
