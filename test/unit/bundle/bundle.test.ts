import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BUNDLE_NAME,
  type Bundle,
  bundleNameFor,
  createBundle,
  findOpenBundle,
  openBundle,
  writeEvidence,
} from '../../../src/bundle/bundle.js';
import { newSummary, saveSummary } from '../../../src/bundle/summary-io.js';
import { RehearseError } from '../../../src/errors.js';
import { createRedactor, MASK } from '../../../src/secrets/redact.js';

const NOW = new Date('2026-11-26T01:20:00.400Z');
const LATER = new Date('2026-11-26T01:25:00Z');
const keep = (text: string) => text;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-bundle-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<RehearseError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RehearseError);
  return error as RehearseError;
}

/** A bundle as a rehearsal leaves it: a summary.json, sealed or not. */
async function bundleWithSummary(now: Date, sealed: boolean): Promise<Bundle> {
  const bundle = await createBundle(root, now, keep);
  await saveSummary(bundle, { ...newSummary(bundle, now, {}), sealed }, now);
  return bundle;
}

describe('bundleNameFor', () => {
  it('names a bundle by its UTC second', () => {
    expect(bundleNameFor(NOW)).toBe('20261126T012000Z');
    expect(bundleNameFor(NOW)).toMatch(BUNDLE_NAME);
  });
});

describe('createBundle', () => {
  it('never reuses a directory: two bundles in the same second get different names', async () => {
    const first = await createBundle(root, NOW, keep);
    const second = await createBundle(root, NOW, keep);
    expect(first.name).toBe('20261126T012000Z');
    expect(second.name).toBe('20261126T012001Z');
    expect((await readdir(root)).sort()).toEqual([first.name, second.name]);
  });

  it('steps past a directory someone else made with that name', async () => {
    await mkdir(path.join(root, '20261126T012000Z'));
    await writeFile(path.join(root, '20261126T012000Z', 'theirs.txt'), 'not ours');
    const bundle = await createBundle(root, NOW, keep);
    expect(bundle.name).toBe('20261126T012001Z');
    expect(await readdir(bundle.dir)).toEqual([]);
  });

  it('creates the evidence root when it is missing', async () => {
    const bundle = await createBundle(path.join(root, 'dist', 'staging', 'backfill'), NOW, keep);
    expect(bundle.dir).toBe(path.join(root, 'dist', 'staging', 'backfill', '20261126T012000Z'));
  });

  it('refuses an evidence root that is a file, with EVIDENCE_ROOT_UNWRITABLE', async () => {
    await writeFile(path.join(root, 'file'), '');
    const error = await rejection(createBundle(path.join(root, 'file'), NOW, keep));
    expect(error.code).toBe('EVIDENCE_ROOT_UNWRITABLE');
  });
});

describe('writeEvidence', () => {
  it('redacts text on its way to the file', async () => {
    const bundle = await createBundle(root, NOW, createRedactor(['pnu_secret_api_key']));
    await writeEvidence(bundle, 'logs/run.log', 'key=pnu_secret_api_key\n', NOW);
    expect(await readFile(path.join(bundle.dir, 'logs/run.log'), 'utf8')).toBe(`key=${MASK}\n`);
  });

  it('keeps a file a rerun changes under superseded/<time of the rerun>/', async () => {
    const bundle = await createBundle(root, NOW, keep);
    await writeEvidence(bundle, 'deployment.json', '{"limit": 2}\n', NOW);
    expect(await writeEvidence(bundle, 'deployment.json', '{"limit": 5}\n', LATER)).toBe('deployment.json');
    expect(await readFile(path.join(bundle.dir, 'deployment.json'), 'utf8')).toBe('{"limit": 5}\n');
    expect(await readFile(path.join(bundle.dir, 'superseded', '20261126T012500Z', 'deployment.json'), 'utf8')).toBe(
      '{"limit": 2}\n',
    );
  });

  it('supersedes nothing when the rerun writes the same bytes', async () => {
    const bundle = await createBundle(root, NOW, keep);
    await writeEvidence(bundle, 'deployment.json', 'same\n', NOW);
    await writeEvidence(bundle, 'deployment.json', 'same\n', LATER);
    expect(await readdir(bundle.dir)).toEqual(['deployment.json']);
  });

  it('rewrites notes.md in place: its sections are replaced, not versions of a file', async () => {
    const bundle = await createBundle(root, NOW, keep);
    await writeEvidence(bundle, 'notes.md', 'one\n', NOW);
    await writeEvidence(bundle, 'notes.md', 'two\n', LATER);
    expect(await readdir(bundle.dir)).toEqual(['notes.md']);
  });
});

describe('openBundle', () => {
  it('opens an unsealed bundle of ours', async () => {
    const made = await bundleWithSummary(NOW, false);
    const opened = await openBundle(made.dir, keep);
    expect([opened.dir, opened.name]).toEqual([made.dir, made.name]);
  });

  it('rejects a directory without a summary.json as BUNDLE_INVALID', async () => {
    const error = await rejection(openBundle(root, keep));
    expect([error.code, error.exitCode]).toEqual(['BUNDLE_INVALID', 2]);
  });

  it('rejects a directory whose summary.json is not ours as BUNDLE_INVALID', async () => {
    await writeFile(path.join(root, 'summary.json'), '{"verdict": "pass"}');
    expect((await rejection(openBundle(root, keep))).code).toBe('BUNDLE_INVALID');
  });

  it('rejects a path that does not exist as BUNDLE_INVALID', async () => {
    expect((await rejection(openBundle(path.join(root, 'nope'), keep))).code).toBe('BUNDLE_INVALID');
  });

  it('rejects a sealed bundle as BUNDLE_SEALED unless sealed bundles are allowed', async () => {
    const sealed = await bundleWithSummary(NOW, true);
    const error = await rejection(openBundle(sealed.dir, keep));
    expect([error.code, error.exitCode]).toEqual(['BUNDLE_SEALED', 2]);
    expect((await openBundle(sealed.dir, keep, { allowSealed: true })).name).toBe(sealed.name);
  });
});

describe('findOpenBundle', () => {
  it('finds the newest bundle that is not sealed, skipping newer sealed ones and strangers', async () => {
    const older = await bundleWithSummary(new Date('2026-11-25T09:00:00Z'), false);
    const open = await bundleWithSummary(new Date('2026-11-26T09:00:00Z'), false);
    await bundleWithSummary(new Date('2026-11-26T10:00:00Z'), true);
    await mkdir(path.join(root, '20991231T235959Z'));
    await mkdir(path.join(root, 'zz-not-a-bundle'));
    expect(older.name < open.name).toBe(true);
    expect(await findOpenBundle(root)).toBe(open.dir);
  });

  it('finds nothing when every bundle is sealed, or there is no root', async () => {
    await bundleWithSummary(NOW, true);
    expect(await findOpenBundle(root)).toBeUndefined();
    expect(await findOpenBundle(path.join(root, 'missing'))).toBeUndefined();
  });
});
