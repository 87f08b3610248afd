import { describe, expect, it } from 'vitest';
import { pollUntil, waitForServerStart } from '../../../src/sandbox/wait.js';
import { createFakeClock } from '../support/fake-clock.js';

describe('waitForServerStart', () => {
  it('reports a server whose process exits at once, long before the health timeout', async () => {
    let polls = 0;
    const clock = createFakeClock();
    const outcome = await waitForServerStart(
      () => polls < 2,
      async () => {
        polls += 1;
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 10, clock },
    );
    expect(outcome).toBe('exited');
    // One wait between the two polls, then the exit is seen: 10 ms of the 60 s allowed.
    expect([clock.sleeps, clock.now()]).toEqual([[10], 10]);
  });

  it('is healthy as soon as the server answers, even if the probe threw before', async () => {
    let polls = 0;
    const clock = createFakeClock();
    const outcome = await waitForServerStart(
      () => true,
      async () => {
        polls += 1;
        if (polls === 1) throw new Error('connection refused');
        return polls >= 3;
      },
      { timeoutMs: 5_000, intervalMs: 5, clock },
    );
    expect(outcome).toBe('healthy');
    expect(polls).toBe(3);
  });

  it('times out while a live server never answers, and stops when aborted', async () => {
    const clock = createFakeClock();
    expect(
      await waitForServerStart(
        () => true,
        async () => false,
        { timeoutMs: 60, intervalMs: 10, clock },
      ),
    ).toBe('timeout');
    expect([clock.sleeps.length, clock.now()]).toEqual([6, 60]);
    const controller = new AbortController();
    controller.abort();
    expect(
      await waitForServerStart(
        () => true,
        async () => false,
        { timeoutMs: 60_000, signal: controller.signal, clock },
      ),
    ).toBe('aborted');
  });
});

describe('pollUntil', () => {
  it('is true once the probe is, and false at the deadline', async () => {
    let n = 0;
    const clock = createFakeClock();
    expect(await pollUntil(async () => ++n >= 2, { timeoutMs: 1_000, intervalMs: 5, clock })).toBe(true);
    expect(clock.now()).toBe(5);
    expect(await pollUntil(async () => false, { timeoutMs: 30, intervalMs: 5, clock })).toBe(false);
    expect(clock.now()).toBe(35);
  });
});
