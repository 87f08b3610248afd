import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-verify-cli-'));
  bundle = path.join(work, '20261126T013217Z');
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('rehearse verify (built CLI)', () => {
  const bin = path.join(repo, 'bin/rehearse.js');
  const run = (...args: string[]) =>
    execa('node', [bin, ...args], { reject: false, env: { ...process.env, CI: '1' }, cwd: work });

  beforeAll(async () => {
    for (const [built, source] of [
      ['dist/cli.js', 'src/cli.ts'],
      ['dist/commands/verify.js', 'src/commands/verify.ts'],
      ['dist/verify/verify.js', 'src/verify/verify.ts'],
    ] as const) {
      const [b, s] = await Promise.all([
        stat(path.join(repo, built)).catch(() => undefined),
        stat(path.join(repo, source)),
      ]);
      if (!b || b.mtimeMs < s.mtimeMs)
        throw new Error(`${built} is missing or older than ${source}: run npm run build first`);
    }
  });

  it('prints one JSON document and exits 0, 1 or 2', async () => {
    const ok = await run('verify', bundle, '--json');
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      command: 'verify',
      exitCode: 0,
      verdict: 'pass',
      data: { ok: true, files: 11, problems: [] },
    });

    await writeFile(path.join(bundle, 'deployment.json'), '{"concurrency_limit": 99}\n');
    const changed = await run('verify', path.basename(bundle), '--json');
    expect(changed.exitCode).toBe(1);
    expect(JSON.parse(changed.stdout)).toMatchObject({ exitCode: 1, verdict: 'fail', data: { ok: false } });
    expect(JSON.parse(changed.stdout).data.problems[0]).toMatchObject({ kind: 'changed', path: 'deployment.json' });

    const invalid = await run('verify', path.join(work, 'nowhere'), '--json');
    expect(invalid.exitCode).toBe(2);
    expect(JSON.parse(invalid.stdout)).toMatchObject({
      exitCode: 2,
      verdict: 'error',
      error: { code: 'BUNDLE_INVALID' },
    });
  });

  it('has --help with an example', async () => {
    const help = await run('verify', '--help');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('$ rehearse verify dist/staging/backfill/');
  });
});
