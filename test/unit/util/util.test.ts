import { getEventListeners } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFileAtomic, writeFileAtomic } from '../../../src/util/atomic-write.js';
import { mapLimited } from '../../../src/util/map-limited.js';
import { sleep } from '../../../src/util/sleep.js';

describe('sleep', () => {
  it('ends when the signal aborts, long before the time, and leaves no listener behind', async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    await expect(waiting).resolves.toBeUndefined();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await expect(sleep(60_000, AbortSignal.abort())).resolves.toBeUndefined();
  });

  it('takes its listener off the signal when the time is up, so sleeps on one signal do not pile up', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 3; i += 1) await sleep(1, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('mapLimited', () => {
  it('keeps order and never has more than the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const result = await mapLimited([5, 1, 4, 2, 3], 2, async (n) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await sleep(n);
      inFlight -= 1;
      return n * 10;
    });
    expect(result).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });

  it('starts no further item after one fails', async () => {
    const started: number[] = [];
    let finished = 0;
    const failing = mapLimited([1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('boom');
      await sleep(5);
      finished += 1;
      return n;
    });
    await expect(failing).rejects.toThrow('boom');
    await expect.poll(() => finished).toBe(1);
    await sleep(20);
    expect(started).toEqual([1, 2]);
  });
});

describe('writeFileAtomic and copyFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rehearse-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes and replaces whole files, creating the folder, with no temp file left', async () => {
    const file = path.join(dir, 'deep', 'a.txt');
    await writeFileAtomic(file, 'one');
    await writeFileAtomic(file, 'two');
    await copyFileAtomic(file, path.join(dir, 'deep', 'b.txt'));
    expect(await readFile(file, 'utf8')).toBe('two');
    expect(await readFile(path.join(dir, 'deep', 'b.txt'), 'utf8')).toBe('two');
    expect((await readdir(path.join(dir, 'deep'))).sort()).toEqual(['a.txt', 'b.txt']);
  });

  it('leaves the old file and no temp file when the copy fails', async () => {
    const file = path.join(dir, 'kept.txt');
    await writeFile(file, 'old');
    await expect(copyFileAtomic(path.join(dir, 'absent'), file)).rejects.toThrow();
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['kept.txt']);
  });
});
