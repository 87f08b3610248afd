import path from 'node:path';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, type PackedInstall } from '../support/packed.js';
import { ownedHome } from './owned-home.js';

/**
 * What an operator gets from `npm install -g` of the packed tarball, on a machine with only Node and uv: the
 * sandbox brought up from the installed package's own files (its project synced by `sandbox up`), and a
 * whole rehearsal from a directory that is not this repository.
 */
describe('the packed tarball, installed, rehearses against its own sandbox from outside the repository', () => {
  let packed: PackedInstall;
  let env: Record<string, string>;

  beforeAll(async () => {
    packed = await installPacked('pack-e2e');
    env = { REHEARSE_SANDBOX_HOME: await ownedHome('pack') };
  });
  afterAll(async () => {
    if (!packed) return;
    await packed.rehearse(['sandbox', 'down', '--purge'], env);
    await fs.remove(packed.work);
  });

  it('sandbox up, then backfill --sandbox: exit 0, a complete bundle outside the repository', async () => {
    const up = await packed.rehearse(['sandbox', 'up'], env);
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    const installed = path.join(packed.prefix, 'lib', 'node_modules', 'rehearse');
    // The installed copy hosts the sandbox: its own project, synced in place.
    expect(await fs.pathExists(path.join(installed, 'fixtures', 'hotpass', '.venv'))).toBe(true);

    const run = await packed.rehearse(['backfill', '--sandbox', '--json'], env);
    const out = JSON.parse(run.stdout) as { exitCode: number; bundle: string; summary: { verdict: string } };
    expect(run.exitCode, run.stderr).toBe(0);
    expect(out.summary.verdict).toBe('pass');
    expect(path.resolve(packed.elsewhere, out.bundle).startsWith(packed.elsewhere)).toBe(true);
    expect(await fs.pathExists(path.join(packed.elsewhere, out.bundle, 'summary.json'))).toBe(true);
  }, 900_000);
});
