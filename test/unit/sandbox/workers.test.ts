import { describe, expect, it } from 'vitest';
import { listWorkers } from '../../../src/prefect/queries.js';
import { isLive } from '../../../src/prefect/workers.js';
import { type WorkerWaitOptions, waitForLiveWorkers } from '../../../src/sandbox/wait.js';
import { createFakeApi, type FakeResponse, recorded, UNREACHABLE } from '../../support/fake-api.js';

const POOL = 'hotpass-backfill-pool';
const ROUTE = `POST /work_pools/${POOL}/workers/filter`;
/** The recorded worker: heartbeat every 30 s, last heard at 01:12:26.084Z, ONLINE. */
const RECORDED = (JSON.parse(recorded('workers.json')) as Record<string, unknown>[])[0] as Record<string, unknown> & {
  last_heartbeat_time: string;
};
const HEARD = Date.parse(RECORDED.last_heartbeat_time);

const worker = (name: string, heardAt: number, change: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...RECORDED,
  name,
  last_heartbeat_time: new Date(heardAt).toISOString(),
  ...change,
});
const answer = (workers: Record<string, unknown>[]): FakeResponse => ({ status: 200, text: JSON.stringify(workers) });

/** A clock that only moves when the wait sleeps: no real time passes. */
function fakeClock(startMs: number) {
  let ms = startMs;
  return {
    now: () => new Date(ms),
    sleep: async (wait: number) => {
      ms += wait;
    },
  };
}

async function waitOn(answers: FakeResponse[], options: Partial<WorkerWaitOptions> & { startMs: number }) {
  const api = createFakeApi({ [ROUTE]: answers });
  const clock = fakeClock(options.startMs);
  const progress: string[] = [];
  const wait = await waitForLiveWorkers(() => listWorkers(api, POOL), {
    count: 1,
    since: new Date(options.startMs),
    timeoutMs: 120_000,
    intervalMs: 1_000,
    ...clock,
    onProgress: (m) => progress.push(m),
    ...options,
  });
  return { wait, polls: api.requests.length, progress, now: clock.now() };
}

describe('waitForLiveWorkers, over the recorded worker', () => {
  it('does not count stale workers still marked ONLINE: it waits for the one started now', async () => {
    // Three workers of an earlier sandbox, ONLINE until the server notices, last heard 100 s before up.
    const startMs = HEARD + 100_000;
    const stale = [1, 2, 3].map((n) => worker(`old-${n}`, HEARD - n));
    const fresh = worker('ProcessWorker new', startMs + 4_000);
    const { wait, polls, progress, now } = await waitOn([answer(stale), answer(stale), answer([...stale, fresh])], {
      startMs,
    });
    expect(wait).toEqual({ outcome: 'live', live: 1, known: 4 });
    expect(polls).toBe(3);
    // Exactly what doctor's preflight would find at that moment.
    const listed = JSON.parse(answer([...stale, fresh]).text) as Record<string, unknown>[];
    expect(listed.filter((w) => isLive(w, now))).toHaveLength(1);
    expect(progress).toEqual(['waiting for the server to hear from 1 worker(s): 0 so far (0 s)']);
  });

  it('waits for every worker started, by doctor’s rule of three heartbeat intervals', async () => {
    const since = HEARD;
    const first = worker('rehearse-sandbox-worker-1', since + 1_000);
    // Heard from after the start, but not since: three of its 1 s intervals have passed by the first look.
    const quiet = worker('rehearse-sandbox-worker-2', since + 1_000, { heartbeat_interval_seconds: 1 });
    const second = worker('rehearse-sandbox-worker-2', since + 5_500, { heartbeat_interval_seconds: 1 });
    const { wait, polls } = await waitOn([answer([first, quiet]), answer([first, second])], {
      startMs: since + 5_000,
      since: new Date(since),
      count: 2,
    });
    expect(wait).toEqual({ outcome: 'live', live: 2, known: 2 });
    expect(polls).toBe(2);
  });

  it('reports an OFFLINE worker and an unreachable API as not yet', async () => {
    const startMs = HEARD;
    const offline = worker('w', startMs + 500, { status: 'OFFLINE' });
    const live = worker('w', startMs + 1_500);
    const { wait } = await waitOn([answer([offline]), UNREACHABLE, answer([live])], { startMs });
    expect(wait).toEqual({ outcome: 'live', live: 1, known: 1 });
  });

  it('gives up at its deadline with what it saw, telling its progress every 15 s', async () => {
    const startMs = HEARD + 100_000;
    const stale = [1, 2, 3].map((n) => worker(`old-${n}`, HEARD - n));
    const { wait, polls, progress } = await waitOn([answer(stale)], { startMs });
    expect(wait).toEqual({ outcome: 'timeout', live: 0, known: 3 });
    expect(polls).toBe(121);
    expect(progress).toHaveLength(8);
    expect(progress.at(-1)).toBe('waiting for the server to hear from 1 worker(s): 0 so far (105 s)');
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const { wait, polls } = await waitOn([answer([])], { startMs: HEARD, signal: controller.signal });
    expect(wait.outcome).toBe('aborted');
    expect(polls).toBe(0);
  });
});
