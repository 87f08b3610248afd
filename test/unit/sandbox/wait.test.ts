import { describe, expect, it } from 'vitest';
import { pollUntil, waitForServerStart } from '../../../src/sandbox/wait.js';

describe('waitForServerStart', () => {
  it('reports a server whose process exits at once, long before the health timeout', async () => {
    let polls = 0;
    const started = Date.now();
    const outcome = await waitForServerStart(
      () => polls < 2,
      async () => {
        polls += 1;
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 10 },
    );
    expect(outcome).toBe('exited');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('is healthy as soon as the server answers, even if the probe threw before', async () => {
    let polls = 0;
    const outcome = await waitForServerStart(
      () => true,
      async () => {
        polls += 1;
        if (polls === 1) throw new Error('connection refused');
        return polls >= 3;
      },
      { timeoutMs: 5_000, intervalMs: 5 },
    );
    expect(outcome).toBe('healthy');
    expect(polls).toBe(3);
  });

  it('times out while a live server never answers, and stops when aborted', async () => {
    expect(
      await waitForServerStart(
        () => true,
        async () => false,
        { timeoutMs: 60, intervalMs: 10 },
      ),
    ).toBe('timeout');
    const controller = new AbortController();
    controller.abort();
    expect(
      await waitForServerStart(
        () => true,
        async () => false,
        { timeoutMs: 60_000, signal: controller.signal },
      ),
    ).toBe('aborted');
  });
});

describe('pollUntil', () => {
  it('is true once the probe is, and false at the deadline', async () => {
    let n = 0;
    expect(await pollUntil(async () => ++n >= 2, { timeoutMs: 1_000, intervalMs: 5 })).toBe(true);
    expect(await pollUntil(async () => false, { timeoutMs: 30, intervalMs: 5 })).toBe(false);
  });
});
