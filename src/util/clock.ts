import { sleep } from './sleep.js';

/** Time as deadlines and waits see it; unit tests inject one that waits in simulated time. */
export interface Clock {
  /** Milliseconds, as Date.now(): what deadlines are measured against. */
  now(): number;
  /** Waits ms, or less when the signal aborts first; never rejects, so callers check the signal after it. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The machine's own time: what runs when nothing else is injected. */
export const systemClock: Clock = { now: () => Date.now(), sleep };
