import type { Clock } from '../../../src/context.js';

export interface FakeClock extends Clock {
  /** Every wait asked for, in ms, in order. */
  readonly sleeps: number[];
}

interface Waiter {
  at: number;
  wake: () => void;
}

/**
 * A Clock in simulated time: a wait ends at once in real time, and the clock moves to the end of the
 * earliest pending wait only once the event loop has run everything else, as it would while really
 * waiting. A wait its signal aborts ends without moving the clock.
 */
export function createFakeClock(start = 0): FakeClock {
  let now = start;
  const sleeps: number[] = [];
  const waiters: Waiter[] = [];
  let scheduled = false;
  const wakeNext = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      waiters.sort((a, b) => a.at - b.at);
      const next = waiters.shift();
      if (!next) return;
      now = Math.max(now, next.at);
      next.wake();
      if (waiters.length > 0) wakeNext();
    });
  };
  return {
    sleeps,
    now: () => now,
    sleep(ms, signal) {
      sleeps.push(ms);
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const onAbort = (): void => {
          waiters.splice(waiters.indexOf(waiter), 1);
          resolve();
        };
        const waiter: Waiter = {
          at: now + ms,
          wake: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(waiter);
        wakeNext();
      });
    },
  };
}
