import { describe, expect, it } from 'vitest';
import { parseFaultFlags, refuseSandboxFaults } from '../../../src/config/faults.js';
import { RehearseError } from '../../../src/errors.js';
import { faultScheduler } from '../../../src/faults/scheduler.js';
import type { WorkerControl } from '../../../src/faults/workers.js';
import type { FaultRecord } from '../../../src/guardrails/fault-record.js';
import { judgeInjections, judgeWorkerBack } from '../../../src/guardrails/faults.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { flowRun as run } from '../../support/flow-run.js';
import { createFakeClock } from '../support/fake-clock.js';

const SYSTEM_EXIT = 'Execution was aborted by Python system exit call.';

/** Workers as the sandbox has them, in simulated time: what was killed and restarted, and when. */
function fakeWorkers(now: () => number, alive = true): WorkerControl & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    kill: async (before) => {
      if (alive) await before?.(4242);
      log.push(`kill at ${now()}`);
      return alive ? { n: 1, pid: 4242 } : undefined;
    },
    restart: async (n) => {
      log.push(`restart ${n} at ${now()}`);
      return 5151;
    },
    liveAgain: async () => true,
  };
}

function workerContext(signal?: AbortSignal) {
  const clock = createFakeClock(0);
  const api = createFakeApi({}, { fallback: { status: 404, text: '{}' } });
  const base = createTestContext({ api, runner: createFakeRunner([]) });
  const ctx = { ...base, clock, now: () => new Date(clock.now()), ...(signal ? { signal } : {}) };
  return { ctx, api, clock };
}

describe('kill-worker in the scheduler', () => {
  it('kills a worker at limit-reached, starts it again after its down time, and measures the queued run’s wait', async () => {
    const { ctx, api, clock } = workerContext();
    const workers = fakeWorkers(() => clock.now());
    const spec = { kind: 'kill-worker' as const, at: 'limit-reached' as const, downSeconds: 10 };
    const scheduler = faultScheduler(ctx, [spec], 2, undefined, { workers });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'RUNNING'), run('c', 'SCHEDULED')], undefined);
    await clock.sleep(15_000);
    scheduler.onRuns([run('a', 'COMPLETED'), run('b', 'RUNNING'), run('c', 'RUNNING')], undefined);
    const [record] = await scheduler.settled([run('a', 'COMPLETED'), run('b', 'COMPLETED'), run('c', 'COMPLETED')]);
    expect(workers.log).toEqual(['kill at 0', 'restart 1 at 10000']);
    expect(api.requests).toEqual([]);
    expect(record).toMatchObject({
      kind: 'kill-worker',
      status: 'injected',
      target: { id: '4242', name: 'sandbox worker 1' },
      action: { killedPid: 4242, restartedPid: 5151, downSeconds: 10, restartedAt: new Date(10_000).toISOString() },
      recovery: { queuedWaits: [{ run: 'run-c', waitedSeconds: 15 }] },
    });
    // No run was hit: every run must complete.
    expect(scheduler.hitRunIds().size).toBe(0);
  });

  it("counts the runs under the killed worker as the fault's: their end is excused, the others must complete", async () => {
    const { ctx, clock } = workerContext();
    const workers = fakeWorkers(() => clock.now());
    const processes = {
      findFlowProcess: async () => undefined,
      kill: () => undefined,
      runsUnder: async (pid: number) => (pid === 4242 ? ['a'] : []),
    };
    const spec = { kind: 'kill-worker' as const, at: 'limit-reached' as const, downSeconds: 10 };
    const scheduler = faultScheduler(ctx, [spec], 2, undefined, { workers, processes });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'RUNNING'), run('c', 'SCHEDULED')], undefined);
    // As Prefect 3.9.1 ended such a run (the message of its Crashed state, recorded from the sandbox).
    const crashed = {
      ...run('a', 'CRASHED'),
      state: { type: 'CRASHED', timestamp: '2026-11-26T01:20:05Z', message: SYSTEM_EXIT },
    };
    const [record] = await scheduler.settled([crashed, run('b', 'COMPLETED'), run('c', 'COMPLETED')]);
    expect(record?.touchedRuns).toEqual([{ id: 'a', name: 'run-a' }]);
    expect([...scheduler.hitRunIds()]).toEqual(['a']);
    expect(record?.recovery?.touchedRunsEnded).toEqual([{ run: 'run-a', state: 'Crashed', message: SYSTEM_EXIT }]);
    // The fault's check says how the run ended, why, and what keeps such runs alive.
    const [check] = judgeInjections(record ? [record] : []);
    expect(check?.reason).toContain('its run(s) run-a Crashed: their output went through a pipe to the killed worker');
    expect(check?.reason).toContain('stream_output: false');
  });

  it('names the runs under the killed worker that completed, with no pipe explanation', () => {
    const record: FaultRecord = {
      kind: 'kill-worker',
      moment: 'first-running',
      status: 'injected',
      target: { id: '4242', name: 'sandbox worker 1' },
      action: { killedPid: 4242, restartedPid: 5151, downSeconds: 10, durationMs: 10_000 },
      recovery: { queuedWaits: [], touchedRunsEnded: [{ run: 'run-a', state: 'Completed' }] },
    };
    const [check] = judgeInjections([record]);
    expect(check?.reason).toMatch(/as pid 5151; its run\(s\) run-a Completed$/);
  });

  it('restarts the worker at once when the rehearsal is interrupted during its down time', async () => {
    const abort = new AbortController();
    const { ctx, clock } = workerContext(abort.signal);
    const workers = fakeWorkers(() => clock.now());
    const spec = { kind: 'kill-worker' as const, at: 'first-running' as const, downSeconds: 600 };
    const scheduler = faultScheduler(ctx, [spec], 2, undefined, { workers });
    scheduler.onRuns([run('a', 'RUNNING')], undefined);
    await clock.sleep(3_000);
    abort.abort();
    const [record] = await scheduler.settled([run('a', 'CANCELLED')]);
    expect(workers.log).toEqual(['kill at 0', 'restart 1 at 3000']);
    expect(record?.action).toMatchObject({ restartedPid: 5151, downSeconds: 3 });
  });

  it('records no live worker to kill as failed, restarting nothing', async () => {
    const { ctx, clock } = workerContext();
    const workers = fakeWorkers(() => clock.now(), false);
    const spec = { kind: 'kill-worker' as const, at: 'first-running' as const, downSeconds: 10 };
    const scheduler = faultScheduler(ctx, [spec], 2, undefined, { workers });
    scheduler.onRuns([run('a', 'RUNNING')], undefined);
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(workers.log).toEqual(['kill at 0']);
    expect(record).toMatchObject({ status: 'failed', reason: 'no sandbox worker was alive to kill' });
  });
});

describe('kill-worker flags and verdict', () => {
  it('reads --fault kill-worker[@MOMENT] with --fault-down (default 10 s), and needs the sandbox', () => {
    expect(parseFaultFlags({ fault: ['kill-worker@first-running'], faultDown: '5' })).toEqual([
      { kind: 'kill-worker', at: 'first-running', downSeconds: 5 },
    ]);
    expect(parseFaultFlags({ fault: ['kill-worker'] })).toEqual([
      { kind: 'kill-worker', at: 'limit-reached', downSeconds: 10 },
    ]);
    expect(() => parseFaultFlags({ fault: ['cancel-run'], faultDown: '5' })).toThrow(RehearseError);
    expect(() => parseFaultFlags({ fault: ['kill-worker'], faultDown: '0' })).toThrow('--fault-down expects');
    expect(() => refuseSandboxFaults([{ kind: 'kill-worker', at: 'limit-reached', downSeconds: 10 }], [])).toThrow(
      '--fault kill-worker needs the sandbox',
    );
  });

  it('faults.worker_back fails, saying how to start them, when the workers were not heard from again', () => {
    expect(judgeWorkerBack(true, '2026-11-26T01:20:10.000Z', 90)).toMatchObject({ verdict: 'pass' });
    expect(judgeWorkerBack(false, '2026-11-26T01:20:10.000Z', 90)).toMatchObject({
      verdict: 'fail',
      reason: expect.stringContaining('`rehearse sandbox up` starts them again'),
    });
  });
});
