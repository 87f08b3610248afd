import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abandonIfOrphaned, claimBundle, reportAbandoned, sweepAbandoned } from '../../../src/bundle/abandon.js';
import { type Bundle, createBundle, findOpenBundle, openBundle, readSummary } from '../../../src/bundle/bundle.js';
import { listBundleFiles } from '../../../src/bundle/checksums.js';
import {
  isOwnerAlive,
  LOCK_FILE,
  type LockOwner,
  lockBundle,
  readLock,
  readProcessStart,
} from '../../../src/bundle/lock.js';
import type { BundleStatus } from '../../../src/bundle/summary.js';
import { newSummary, saveSummary } from '../../../src/bundle/summary-io.js';
import { RehearseError } from '../../../src/errors.js';
import { createRecordingReporter } from '../../support/context.js';
import { createFakeClock } from '../support/fake-clock.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const keep = (text: string): string => text;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-lock-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The pid of a process that has ended: `true` run to completion. */
function deadPid(): number {
  const child = spawnSync('true');
  expect(child.status).toBe(0);
  return child.pid as number;
}

const owner = (pid: number, extra: Partial<LockOwner> = {}): LockOwner => ({
  pid,
  host: hostname(),
  startedAt: '2026-11-26T01:00:00.000Z',
  command: 'backfill',
  token: 'feedface',
  ...extra,
});

async function plantLock(dir: string, who: LockOwner): Promise<void> {
  await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(who));
}

async function bundleWith(status: BundleStatus, at = NOW): Promise<Bundle> {
  const bundle = await createBundle(root, at, keep);
  await saveSummary(bundle, { ...newSummary(bundle, at, {}), status }, at);
  return bundle;
}

async function rejection(promise: Promise<unknown>): Promise<RehearseError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RehearseError);
  return error as RehearseError;
}

describe('owner liveness', () => {
  it('tells a live pid from one whose process has ended', () => {
    expect(isOwnerAlive(owner(process.pid))).toBe(true);
    expect(isOwnerAlive(owner(deadPid()))).toBe(false);
  });

  it('takes a reused pid (another start time) for a dead owner, and cannot judge another host', () => {
    expect(readProcessStart(process.pid)).toMatch(/^\d+$/);
    expect(isOwnerAlive(owner(process.pid, { processStart: readProcessStart(process.pid) as string }))).toBe(true);
    expect(isOwnerAlive(owner(process.pid, { processStart: '1' }))).toBe(false);
    expect(isOwnerAlive(owner(deadPid(), { host: 'another-host' }))).toBe(true);
  });
});

describe('lockBundle', () => {
  it('writes its owner, refuses a second taker with BUNDLE_LOCKED (exit 3) while held, and frees on release', async () => {
    const bundle = await createBundle(root, NOW, keep);
    const lock = await lockBundle(bundle.dir, { command: 'capture' });
    const held = await readLock(bundle.dir);
    expect(held).toMatchObject({ state: 'held', owner: { pid: process.pid, host: hostname(), command: 'capture' } });
    const clock = createFakeClock();
    const error = await rejection(lockBundle(bundle.dir, { command: 'validate', waitMs: 300, pollMs: 50, clock }));
    expect([error.code, error.exitCode]).toEqual(['BUNDLE_LOCKED', 3]);
    expect(error.message).toContain(`pid ${process.pid}`);
    // Refused only once the whole wait has passed, polling every 50 ms.
    expect([clock.now(), clock.sleeps]).toEqual([300, [50, 50, 50, 50, 50, 50]]);
    await lock.release();
    await lock.release();
    expect(await readLock(bundle.dir)).toEqual({ state: 'free' });
  });

  it('waits for a live owner that finishes within the wait, so two steps run one after the other', async () => {
    const bundle = await createBundle(root, NOW, keep);
    const first = await lockBundle(bundle.dir, { command: 'capture' });
    // The first owner finishes while the second waits its fourth poll (200 ms into its 3 s).
    const fake = createFakeClock();
    const clock = {
      now: fake.now,
      sleep: async (ms: number) => {
        if (fake.sleeps.length === 3) await first.release();
        await fake.sleep(ms);
      },
    };
    const second = await lockBundle(bundle.dir, { command: 'validate', waitMs: 3_000, pollMs: 50, clock });
    expect(fake.now()).toBe(200);
    expect((await readLock(bundle.dir)).state).toBe('held');
    expect(second.owner.token).not.toBe(first.owner.token);
    // The first owner's late release must not remove the second owner's lock.
    await first.release();
    expect(await readLock(bundle.dir)).toMatchObject({ state: 'held', owner: { command: 'validate' } });
    await second.release();
  });

  it('takes over the lock of a dead owner and says whose it was', async () => {
    const bundle = await createBundle(root, NOW, keep);
    const pid = deadPid();
    await plantLock(bundle.dir, owner(pid));
    expect((await readLock(bundle.dir)).state).toBe('stale');
    const lock = await lockBundle(bundle.dir, { command: 'capture', waitMs: 0 });
    expect(lock.previous?.pid).toBe(pid);
    expect(lock.owner.pid).toBe(process.pid);
    await lock.release();
  });

  it('keeps the lock file out of SHA256SUMS and the upload list', async () => {
    const bundle = await bundleWith('partial');
    const lock = await lockBundle(bundle.dir, { command: 'capture' });
    expect(await listBundleFiles(bundle.dir)).toEqual(['summary.json']);
    await lock.release();
  });
});

describe('abandoned bundles', () => {
  it('marks an in-progress bundle whose owner died abandoned: never a pass, exit 3, a note, current checksums', async () => {
    const bundle = await bundleWith('in-progress');
    await plantLock(bundle.dir, owner(deadPid()));
    const found = await sweepAbandoned(root, 'capture', NOW);
    expect(found.map((b) => b.name)).toEqual([bundle.name]);
    const summary = await readSummary(bundle.dir);
    expect(summary).toMatchObject({
      status: 'abandoned',
      verdict: 'incomplete',
      exitCode: 3,
      abandoned: { command: 'backfill', detectedAt: NOW.toISOString() },
    });
    expect(await readFile(path.join(bundle.dir, 'notes.md'), 'utf8')).toContain('## Abandoned');
    expect(await readFile(path.join(bundle.dir, 'SHA256SUMS'), 'utf8')).toContain('notes.md');
    expect(await fs.pathExists(path.join(bundle.dir, LOCK_FILE))).toBe(false);
    // Reported once: a second look finds nothing new.
    expect(await sweepAbandoned(root, 'capture', NOW)).toEqual([]);
  });

  it('leaves alone a bundle a live command works in, and one that finished before its owner died', async () => {
    const working = await bundleWith('in-progress', new Date('2026-11-26T01:00:00Z'));
    const lock = await lockBundle(working.dir, { command: 'run' });
    const finished = await bundleWith('partial', new Date('2026-11-26T02:00:00Z'));
    await plantLock(finished.dir, owner(deadPid()));
    expect(await sweepAbandoned(root, 'capture', NOW)).toEqual([]);
    expect((await readSummary(working.dir))?.status).toBe('in-progress');
    expect((await readSummary(finished.dir))?.status).toBe('partial');
    await lock.release();
  });

  it('takes an in-progress bundle with no lock at all (its command crashed) for abandoned', async () => {
    const bundle = await bundleWith('in-progress');
    expect(await abandonIfOrphaned(bundle.dir, 'validate', NOW)).toMatchObject({ name: bundle.name });
    expect((await readSummary(bundle.dir))?.status).toBe('abandoned');
  });

  it('marks a bundle killed before its first summary.json (a dead lock, no summary) abandoned, and skips strangers', async () => {
    const killed = await createBundle(root, NOW, keep);
    await plantLock(killed.dir, owner(deadPid(), { startedAt: '2026-11-26T01:19:00.000Z' }));
    await createBundle(root, new Date('2026-11-26T02:00:00Z'), keep);
    const found = await sweepAbandoned(root, 'capture', NOW);
    expect(found.map((b) => b.name)).toEqual([killed.name]);
    expect(await readSummary(killed.dir)).toMatchObject({
      status: 'abandoned',
      verdict: 'incomplete',
      createdAt: '2026-11-26T01:19:00.000Z',
      steps: [],
    });
  });

  it('never adopts an abandoned or failed-to-run bundle as the newest open one', async () => {
    const open = await bundleWith('partial', new Date('2026-11-26T01:00:00Z'));
    await bundleWith('failed-to-run', new Date('2026-11-26T02:00:00Z'));
    const killed = await bundleWith('in-progress', new Date('2026-11-26T03:00:00Z'));
    await plantLock(killed.dir, owner(deadPid()));
    await sweepAbandoned(root, 'capture', NOW);
    expect(await findOpenBundle(root)).toBe(open.dir);
  });

  it('refuses an abandoned bundle named with --bundle, unless the caller cleans it up', async () => {
    const bundle = await bundleWith('abandoned');
    const error = await rejection(openBundle(bundle.dir, keep));
    expect([error.code, error.exitCode]).toEqual(['BUNDLE_ABANDONED', 2]);
    expect(error.hint).toContain(`rehearse cleanup --bundle ${bundle.dir}`);
    expect((await openBundle(bundle.dir, keep, { allowAbandoned: true })).name).toBe(bundle.name);
  });

  it('claimBundle marks and refuses an in-progress bundle left by a dead owner, and locks a healthy one', async () => {
    const killed = await bundleWith('in-progress', new Date('2026-11-26T01:00:00Z'));
    const pid = deadPid();
    await plantLock(killed.dir, owner(pid));
    const error = await rejection(claimBundle(killed.dir, 'capture', NOW));
    expect([error.code, error.exitCode]).toEqual(['BUNDLE_ABANDONED', 2]);
    expect(error.message).toContain(`pid ${pid}`);
    expect((await readSummary(killed.dir))?.status).toBe('abandoned');
    expect((await readLock(killed.dir)).state).toBe('free');

    const healthy = await bundleWith('partial', new Date('2026-11-26T02:00:00Z'));
    const lock = await claimBundle(healthy.dir, 'capture', NOW);
    expect((await readLock(healthy.dir)).state).toBe('held');
    await lock.release();
  });

  it('tells the user which bundle was abandoned and to run rehearse cleanup on it', async () => {
    const reporter = createRecordingReporter();
    reportAbandoned(
      reporter,
      [{ dir: path.join(root, '20261126T012000Z'), name: '20261126T012000Z', owner: owner(4242) }],
      root,
    );
    expect(reporter.events).toEqual([
      { type: 'warn', message: expect.stringContaining('rehearse cleanup --bundle 20261126T012000Z') },
    ]);
    expect(JSON.stringify(reporter.events)).toContain('pid 4242');
  });
});
