import { describe, expect, it } from 'vitest';
import { faultScheduler, type KeySlots } from '../../../src/faults/scheduler.js';
import type { ServerControl } from '../../../src/faults/server.js';
import { STRANDED_GRACE_MS } from '../../../src/faults/stranded.js';
import { FaultsFileSchema } from '../../../src/guardrails/fault-record.js';
import { judgeUntouched } from '../../../src/guardrails/faults.js';
import type { ApiRequest } from '../../../src/prefect/api.js';
import type { FlowRun } from '../../../src/prefect/schemas.js';
import { runsCheck } from '../../../src/steps/run/run.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { flowRun as run } from '../../support/flow-run.js';
import { createFakeClock } from '../support/fake-clock.js';

/** A server where run b waits for the key; a set_state on it is accepted and shows in the next read. */
function setup() {
  const clock = createFakeClock(0);
  let b = run('b', 'SCHEDULED');
  const setState = (request: ApiRequest) => {
    b = run('b', (request.body as { state: { type: string } }).state.type);
    return { status: 201, text: '{"status":"ACCEPT"}' };
  };
  const api = createFakeApi(
    {
      'POST /flow_runs/filter': () => ({ status: 200, text: JSON.stringify([b]) }),
      'POST /flow_runs/b/set_state': setState,
      'GET /flow_run_states/?flow_run_id=b': { status: 200, text: '[]' },
    },
    { fallback: { status: 404, text: '{}' } },
  );
  const base = createTestContext({ api, runner: createFakeRunner([]) });
  const ctx = { ...base, clock, now: () => new Date(clock.now()) };
  const server: ServerControl = {
    stop: async () => 3131,
    start: async () => {
      await clock.sleep(4_000);
      return { pid: 3232, healthy: true };
    },
  };
  const key: KeySlots = { name: 'hotpass-backfill', read: async () => ({ active: 2, limit: 2 }) };
  return {
    ctx,
    api,
    clock,
    server,
    key,
    current: () => b,
    set: (next: FlowRun) => {
      b = next;
    },
  };
}

/** Lets the key probe started by a poll (and a cancel it starts) run to its end in simulated time. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

/** Polls once a second, as the watch does, with a's fate after the restart and b as the server has it. */
async function pollFor(
  s: ReturnType<typeof setup>,
  scheduler: ReturnType<typeof faultScheduler>,
  seconds: number,
  a: FlowRun,
  others: FlowRun[] = [],
): Promise<void> {
  for (let i = 0; i < seconds; i += 1) {
    scheduler.onRuns([a, s.current(), ...others], 'a');
    await settle();
    await s.clock.sleep(1_000);
  }
}

const cancels = (requests: ApiRequest[]) => requests.filter((r) => r.path.endsWith('/set_state'));

describe('runs stranded behind slots a restarted server forgot', () => {
  it('after the server came back, a run waiting behind a full key with nothing running is cancelled after the grace, not before', async () => {
    const s = setup();
    const scheduler = faultScheduler(s.ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, s.key, {
      server: s.server,
    });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    await s.clock.sleep(5_000);
    expect(scheduler.serverDown()).toBe(false);
    // a held a slot and crashed with the restart: its slot is never given back.
    await pollFor(s, scheduler, STRANDED_GRACE_MS / 1000 - 2, run('a', 'CRASHED'));
    expect(cancels(s.api.requests)).toEqual([]);
    await pollFor(s, scheduler, 4, run('a', 'CRASHED'));
    expect(cancels(s.api.requests).map((r) => r.path)).toEqual(['/flow_runs/b/set_state']);
    expect(s.current().state_type).toBe('CANCELLED');
    expect(scheduler.hitRunIds()).toEqual(new Set(['b']));
    const final = [run('a', 'CRASHED'), run('b', 'CANCELLED')];
    const [record] = await scheduler.settled(final);
    expect(record?.strandedRuns).toMatchObject({
      reason: expect.stringContaining('hotpass-backfill held 2/2 slots'),
      slots: { limit: 'hotpass-backfill', active: 2, of: 2 },
      runs: [{ id: 'b', name: 'run-b', from: 'Scheduled', to: 'CANCELLED' }],
    });
    expect(
      FaultsFileSchema.parse({ faults: [record], rollback: { at: '', runsCancelled: [], slots: [] } }).faults[0]
        ?.strandedRuns?.runs,
    ).toHaveLength(1);
    // The cancelled run is the fault's doing: runs.completed and faults.untouched_completed excuse it.
    expect(runsCheck(final, 'a', scheduler.hitRunIds()).reason).toContain('run-b Cancelled');
    expect(judgeUntouched(final, scheduler.hitRunIds(), 'a').verdict).toBe('fail');
    expect(judgeUntouched([run('b', 'CANCELLED')], scheduler.hitRunIds(), 'b').verdict).toBe('pass');
  });

  it('a cancel that throws is told on the console and never rejects the faults the run step writes', async () => {
    const s = setup();
    const boom = () => {
      throw new Error('socket hang up');
    };
    const api = createFakeApi(
      {
        'POST /flow_runs/filter': () => ({ status: 200, text: JSON.stringify([s.current()]) }),
        'POST /flow_runs/b/set_state': boom,
      },
      { fallback: { status: 404, text: '{}' } },
    );
    const ctx = { ...s.ctx, api };
    const scheduler = faultScheduler(ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, s.key, {
      server: s.server,
    });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    await s.clock.sleep(5_000);
    await pollFor(s, scheduler, STRANDED_GRACE_MS / 1000 + 4, run('a', 'CRASHED'));
    const [record] = await scheduler.settled([run('a', 'CRASHED'), run('b', 'SCHEDULED')]);
    expect(record?.kind).toBe('restart-api');
    const warned = s.ctx.reporter.events.filter((e) => e.type === 'warn').map((e) => ('message' in e ? e.message : ''));
    expect(warned.some((m) => m.startsWith('stranded runs not cancelled: '))).toBe(true);
  });

  it('not while as many runs are RUNNING as slots are held: each may hold its slot and give it back', async () => {
    const s = setup();
    const scheduler = faultScheduler(s.ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, s.key, {
      server: s.server,
    });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    await s.clock.sleep(5_000);
    await pollFor(s, scheduler, 2 * (STRANDED_GRACE_MS / 1000), run('a', 'RUNNING'), [run('c', 'RUNNING')]);
    expect(cancels(s.api.requests)).toEqual([]);
    const [record] = await scheduler.settled([run('a', 'COMPLETED'), run('b', 'COMPLETED')]);
    expect(record?.strandedRuns).toBeUndefined();
  });

  it('a run RUNNING inside the flow, waiting on a key held by failed runs, is stranded too (as on PostgreSQL)', async () => {
    const s = setup();
    const scheduler = faultScheduler(s.ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, s.key, {
      server: s.server,
    });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    await s.clock.sleep(5_000);
    await pollFor(s, scheduler, 1, run('a', 'FAILED'));
    // b took the deployment's slot the failed runs gave back, and waits inside the flow for the key.
    s.set(run('b', 'RUNNING'));
    await pollFor(s, scheduler, STRANDED_GRACE_MS / 1000 + 2, run('a', 'FAILED'));
    const [record] = await scheduler.settled([run('a', 'FAILED'), run('b', 'CANCELLED')]);
    expect(cancels(s.api.requests)[0]?.body).toMatchObject({ state: { type: 'CANCELLING' } });
    expect(record?.strandedRuns?.runs).toMatchObject([{ id: 'b', from: 'Running' }]);
    expect(scheduler.hitRunIds()).toEqual(new Set(['b']));
  });

  it('not without a server fault: a full key with runs waiting is left to the watch', async () => {
    const s = setup();
    const scheduler = faultScheduler(s.ctx, [{ kind: 'cancel-run', at: 'limit-reached' }], 5, s.key);
    await pollFor(s, scheduler, 2 * (STRANDED_GRACE_MS / 1000), run('a', 'SCHEDULED'));
    expect(cancels(s.api.requests)).toEqual([]);
    expect(scheduler.hitRunIds().size).toBe(0);
  });

  it('the grace starts again when a slot frees: a run taking it goes PENDING', async () => {
    const s = setup();
    const scheduler = faultScheduler(s.ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, s.key, {
      server: s.server,
    });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    await s.clock.sleep(5_000);
    await pollFor(s, scheduler, STRANDED_GRACE_MS / 1000 - 5, run('a', 'CRASHED'));
    await pollFor(s, scheduler, 1, run('a', 'PENDING'));
    await pollFor(s, scheduler, STRANDED_GRACE_MS / 1000 - 5, run('a', 'CRASHED'));
    expect(cancels(s.api.requests)).toEqual([]);
  });
});
