import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, type PackedInstall } from '../../support/packed.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

/** The files the installed CLI reads beside its own code: the sandbox's project and the warm flow starter. */
async function runtimeFiles(): Promise<string[]> {
  const { stdout } = await execa('git', ['ls-files', 'fixtures/hotpass', 'scripts/flow-starter'], { cwd: repo });
  return stdout.split('\n').filter(Boolean);
}

let work: string;
let tarball: string;
let prefix: string;
let rehearse: PackedInstall['rehearse'];

beforeAll(async () => {
  ({ work, tarball, prefix, rehearse } = await installPacked('pack'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('the packed tarball, installed with npm install -g into a temporary prefix', () => {
  it('ships the built CLI, its stored help and config schema, the sandbox project and the flow starter; no sources', async () => {
    const { stdout } = await execa('tar', ['-tzf', tarball]);
    const shipped = stdout.split('\n').map((entry) => entry.replace(/^package\//, ''));
    for (const file of ['bin/rehearse.js', 'dist/cli.js', 'dist/help.json', 'dist/rehearse.config.schema.json'])
      expect(shipped).toContain(file);
    for (const file of await runtimeFiles()) expect(shipped).toContain(file);
    expect(
      shipped.filter((file) => /^(src|test|bench)\/|\.venv\/|\.ts$/.test(file) && !file.endsWith('.d.ts')),
    ).toEqual([]);
  });

  it('prints its version and help, and doctor answers with exit 3 against an API nobody serves, from outside the repository', async () => {
    const { version } = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    const shown = await rehearse(['--version']);
    expect(shown.stdout.trim()).toBe(version);
    const help = await rehearse(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: rehearse');
    const doctor = await rehearse(['doctor', '--json'], { PREFECT_API_URL: 'http://127.0.0.1:9/api' });
    expect(doctor.exitCode, doctor.stderr).toBe(3);
    const result = JSON.parse(doctor.stdout) as {
      command: string;
      exitCode: number;
      data: { checks: { id: string }[] };
    };
    expect(result).toMatchObject({ command: 'doctor', exitCode: 3 });
    expect(result.data.checks.map((c) => c.id)).toContain('api.health');
    // The installed copy is the one that ran: nothing resolved back into the repository.
    const installed = path.join(prefix, 'lib', 'node_modules', 'rehearse');
    expect(await fs.pathExists(path.join(installed, 'dist', 'rehearse.config.schema.json'))).toBe(true);
    expect(await fs.realpath(path.join(prefix, 'bin', 'rehearse'))).toBe(path.join(installed, 'bin', 'rehearse.js'));
  });
});
