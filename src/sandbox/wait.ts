import { type Clock, systemClock } from '../util/clock.js';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /** The time the deadline and the waits between polls are measured in (default: the system's). */
  clock?: Clock;
}

/** Poll until `probe` says yes; a probe that throws counts as not yet. */
export async function pollUntil(probe: () => Promise<boolean>, options: PollOptions): Promise<boolean> {
  const clock = options.clock ?? systemClock;
  const deadline = clock.now() + options.timeoutMs;
  while (clock.now() < deadline && !options.signal?.aborted) {
    if (await probe().catch(() => false)) return true;
    await clock.sleep(options.intervalMs ?? 500);
  }
  return false;
}

export type ServerStart = 'healthy' | 'exited' | 'timeout' | 'aborted';

/**
 * Wait for a freshly started server to answer, watching its process between polls, so a server
 * that dies while starting is reported at once instead of after the whole health timeout.
 */
export async function waitForServerStart(
  isRunning: () => boolean,
  isHealthy: () => Promise<boolean>,
  options: PollOptions,
): Promise<ServerStart> {
  const clock = options.clock ?? systemClock;
  const deadline = clock.now() + options.timeoutMs;
  while (clock.now() < deadline) {
    if (options.signal?.aborted) return 'aborted';
    if (await isHealthy().catch(() => false)) return 'healthy';
    if (!isRunning()) return 'exited';
    await clock.sleep(options.intervalMs ?? 500);
  }
  return 'timeout';
}
