import { isLive, type WorkerHeartbeat } from '../prefect/workers.js';
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

export interface WorkerWaitOptions extends PollOptions {
  /** How many workers must be live. */
  count: number;
  /** When they were started: a heartbeat from before is another worker's (an earlier sandbox's, say). */
  since: Date;
  now?: () => Date;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  onProgress?: (message: string) => void;
}

export interface WorkerWait {
  outcome: 'live' | 'timeout' | 'aborted';
  /** Workers heard from since they were started, by doctor's rule. */
  live: number;
  /** Workers the pool lists, stale ones included. */
  known: number;
}

const PROGRESS_EVERY_MS = 15_000;

/**
 * Wait until the server has heard from `count` workers started at `since`, judged live by the rule
 * doctor's preflight applies, so that a command right after `sandbox up` finds them live. Stale
 * worker records still marked ONLINE (the server has not yet noticed they stopped) do not count.
 */
export async function waitForLiveWorkers(
  list: () => Promise<WorkerHeartbeat[]>,
  options: WorkerWaitOptions,
): Promise<WorkerWait> {
  const now = options.now ?? (() => new Date());
  const pause =
    options.sleep ?? ((ms: number, signal?: AbortSignal) => (options.clock ?? systemClock).sleep(ms, signal));
  const started = now().getTime();
  let seen = { live: 0, known: 0 };
  let reported = { live: -1, at: started };
  for (;;) {
    if (options.signal?.aborted) return { outcome: 'aborted', ...seen };
    const workers = await list().catch(() => undefined);
    const at = now();
    if (workers) seen = { known: workers.length, live: workers.filter((w) => heardSince(w, options.since, at)).length };
    if (seen.live >= options.count) return { outcome: 'live', ...seen };
    const waited = at.getTime() - started;
    if (waited >= options.timeoutMs) return { outcome: 'timeout', ...seen };
    if (seen.live !== reported.live || at.getTime() - reported.at >= PROGRESS_EVERY_MS) {
      options.onProgress?.(
        `waiting for the server to hear from ${options.count} worker(s): ${seen.live} so far (${Math.round(waited / 1000)} s)`,
      );
      reported = { live: seen.live, at: at.getTime() };
    }
    await pause(options.intervalMs ?? 1_000, options.signal);
  }
}

function heardSince(worker: WorkerHeartbeat, since: Date, now: Date): boolean {
  const heard = worker.last_heartbeat_time ? Date.parse(worker.last_heartbeat_time) : Number.NaN;
  return heard >= since.getTime() && isLive(worker, now);
}
