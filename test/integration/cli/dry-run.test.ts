import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const NAME = '20261126T013217Z';

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-dry-run-cli-'));
  bundle = path.join(work, NAME);
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every file under dir with the sha256 of its bytes. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, file)] = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  }
  return out;
}

describe('--dry-run on an existing bundle (built CLI)', () => {
  const run = (...args: string[]) =>
    execa('node', [path.join(repo, 'bin/rehearse.js'), ...args], {
      reject: false,
      env: { ...process.env, CI: '1' },
      cwd: work,
      all: true,
    });

  it('upload --dry-run --bundle X plans the upload of X, file for file, and changes nothing', async () => {
    const before = await fingerprint(bundle);
    const archive = path.join(work, 'archive');
    const result = await run('upload', '--dry-run', '--bundle', NAME, '--to', archive);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain(`planned on a copy of ${NAME}`);
    expect(result.all).toContain(`upload ${Object.keys(before).length} files to ${path.join(archive, NAME)}`);
    expect(await fs.pathExists(archive)).toBe(false);
    expect(await fingerprint(bundle)).toEqual(before);
  });

  it('a dry run against a bundle that is not one is refused as the real command would be (exit 2)', async () => {
    const result = await run('upload', '--dry-run', '--bundle', 'nowhere', '--to', path.join(work, 'archive'));
    expect(result.exitCode).toBe(2);
    expect(result.all).toContain('no bundle directory at nowhere');
    expect(result.all).not.toMatch(/\n\s+at /);
  });
});
