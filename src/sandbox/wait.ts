import { sleep } from '../util/sleep.js';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Poll until `probe` says yes; a probe that throws counts as not yet. */
export async function pollUntil(probe: () => Promise<boolean>, options: PollOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline && !options.signal?.aborted) {
    if (await probe().catch(() => false)) return true;
    await sleep(options.intervalMs ?? 500);
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
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (options.signal?.aborted) return 'aborted';
    if (await isHealthy().catch(() => false)) return 'healthy';
    if (!isRunning()) return 'exited';
    await sleep(options.intervalMs ?? 500);
  }
  return 'timeout';
}
