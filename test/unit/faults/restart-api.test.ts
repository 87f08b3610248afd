import { describe, expect, it } from 'vitest';
import { parseFaultFlags, refuseSandboxFaults } from '../../../src/config/faults.js';
import { RehearseError } from '../../../src/errors.js';
import { createOutageGate, outageGateFor } from '../../../src/faults/outage.js';
import { faultScheduler } from '../../../src/faults/scheduler.js';
import type { ServerControl } from '../../../src/faults/server.js';
import { FaultsFileSchema } from '../../../src/guardrails/fault-record.js';
import { judgeInjections } from '../../../src/guardrails/faults.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi, UNREACHABLE } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { flowRun as run } from '../../support/flow-run.js';
import { createFakeClock } from '../support/fake-clock.js';

/** The sandbox's server in simulated time: stopped, started again, answering /health `startMs` later. */
function fakeServer(
  clock: { now(): number; sleep(ms: number): Promise<void> },
  options: { alive?: boolean; healthy?: boolean; exited?: boolean; startMs?: number } = {},
): ServerControl & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    stop: async () => {
      log.push(`stop at ${clock.now()}`);
      return options.alive === false ? undefined : 3131;
    },
    start: async () => {
      log.push(`start at ${clock.now()}`);
      await clock.sleep(options.startMs ?? 4_000);
      return { pid: 3232, healthy: options.healthy ?? true, ...(options.exited ? { exited: true } : {}) };
    },
  };
}

function serverContext(signal?: AbortSignal) {
  const clock = createFakeClock(0);
  const api = createFakeApi({}, { fallback: { status: 404, text: '{}' } });
  const base = createTestContext({ api, runner: createFakeRunner([]) });
  const ctx = { ...base, clock, now: () => new Date(clock.now()), ...(signal ? { signal } : {}) };
  return { ctx, api, clock };
}

describe('restart-api and api-outage in the scheduler', () => {
  it('restart-api stops the server at limit-reached and starts it again at once; down until /health answers', async () => {
    const { ctx, api, clock } = serverContext();
    const server = fakeServer(clock);
    const scheduler = faultScheduler(ctx, [{ kind: 'restart-api', at: 'limit-reached' }], 2, undefined, { server });
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    expect(server.log).toEqual([]);
    // Not before the CLI's own run exists: a server stopped earlier would fail the CLI's creation.
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'RUNNING')], undefined);
    expect(server.log).toEqual([]);
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'RUNNING')], 'a');
    // The watch is told the server is down on purpose until it answers again.
    expect(scheduler.serverDown()).toBe(true);
    const [record] = await scheduler.settled([run('a', 'COMPLETED'), run('b', 'COMPLETED')]);
    expect(scheduler.serverDown()).toBe(false);
    expect(server.log).toEqual(['stop at 0', 'start at 0']);
    expect(api.requests).toEqual([]);
    expect(record).toMatchObject({
      kind: 'restart-api',
      status: 'injected',
      target: { id: '3131', name: 'sandbox API server' },
      action: {
        stoppedPid: 3131,
        stoppedAt: new Date(0).toISOString(),
        restartedPid: 3232,
        restartedAt: new Date(0).toISOString(),
        backAt: new Date(4_000).toISOString(),
        downSeconds: 4,
      },
    });
    // No run is hit: a server restart must not cost a run its completion.
    expect(scheduler.hitRunIds().size).toBe(0);
    expect(judgeInjections([record as never])[0]).toMatchObject({
      id: 'faults.1.restart-api',
      verdict: 'pass',
      reason: expect.stringContaining(
        'stopped the API server (pid 3131), answering /health again as pid 3232 after 4 s',
      ),
    });
  });

  it('api-outage keeps the server down for its seconds, then starts it again', async () => {
    const { ctx, clock } = serverContext();
    const server = fakeServer(clock, { startMs: 2_000 });
    const spec = { kind: 'api-outage' as const, at: 'first-running' as const, downSeconds: 10 };
    const scheduler = faultScheduler(ctx, [spec], 2, undefined, { server });
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(server.log).toEqual(['stop at 0', 'start at 10000']);
    expect(record?.action).toMatchObject({ backAt: new Date(12_000).toISOString(), downSeconds: 12 });
  });

  it('starts the server again at once when the rehearsal is interrupted during the outage', async () => {
    const abort = new AbortController();
    const { ctx, clock } = serverContext(abort.signal);
    const server = fakeServer(clock, { startMs: 1_000 });
    const spec = { kind: 'api-outage' as const, at: 'first-running' as const, downSeconds: 600 };
    const scheduler = faultScheduler(ctx, [spec], 2, undefined, { server });
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    await clock.sleep(3_000);
    abort.abort();
    const [record] = await scheduler.settled([run('a', 'CANCELLED')]);
    expect(server.log).toEqual(['stop at 0', 'start at 3000']);
    expect(record?.action).toMatchObject({ restartedPid: 3232, downSeconds: 4 });
  });

  it('a server that does not answer after its restart makes the fault failed, saying how to start it', async () => {
    const { ctx, clock } = serverContext();
    const server = fakeServer(clock, { healthy: false });
    const scheduler = faultScheduler(ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, undefined, { server });
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(record).toMatchObject({ status: 'failed', reason: expect.stringContaining('`rehearse sandbox up`') });
    expect(record?.action?.backAt).toBeUndefined();
    expect(scheduler.serverDown()).toBe(false);
  });

  it('a restarted server that exits is said to have exited, not to be slow', async () => {
    const { ctx, clock } = serverContext();
    const server = fakeServer(clock, { healthy: false, exited: true, startMs: 1_000 });
    const scheduler = faultScheduler(ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, undefined, { server });
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(record).toMatchObject({ status: 'failed' });
    expect(record?.reason).toContain('(pid 3232) exited before it answered /health');
    expect(record?.reason).not.toContain('within');
  });

  it('a server already gone is failed, and started again all the same', async () => {
    const { ctx, clock } = serverContext();
    const server = fakeServer(clock, { alive: false });
    const scheduler = faultScheduler(ctx, [{ kind: 'restart-api', at: 'first-running' }], 2, undefined, { server });
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(server.log).toEqual(['stop at 0', 'start at 0']);
    expect(record).toMatchObject({ status: 'failed', reason: 'no sandbox server was alive to stop' });
  });

  it('without the sandbox there is no server to stop: failed, nothing started', async () => {
    const { ctx } = serverContext();
    const scheduler = faultScheduler(ctx, [{ kind: 'restart-api', at: 'first-running' }], 2);
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(record).toMatchObject({ status: 'failed', reason: "the sandbox's server is not known" });
  });
});

describe('restart-api and api-outage flags and record', () => {
  it('reads --fault restart-api[@MOMENT] and api-outage with --fault-down (default 10 s); both need the sandbox', () => {
    expect(parseFaultFlags({ fault: ['restart-api@first-running'] })).toEqual([
      { kind: 'restart-api', at: 'first-running' },
    ]);
    expect(parseFaultFlags({ fault: ['api-outage'] })).toEqual([
      { kind: 'api-outage', at: 'limit-reached', downSeconds: 10 },
    ]);
    expect(parseFaultFlags({ fault: ['api-outage'], faultDown: '3' })).toEqual([
      { kind: 'api-outage', at: 'limit-reached', downSeconds: 3 },
    ]);
    // --fault-down is api-outage's and kill-worker's: restart-api starts the server again at once.
    expect(() => parseFaultFlags({ fault: ['restart-api'], faultDown: '5' })).toThrow(RehearseError);
    expect(() => refuseSandboxFaults([{ kind: 'restart-api', at: 'limit-reached' }], [])).toThrow(
      '--fault restart-api needs the sandbox',
    );
    expect(() => refuseSandboxFaults([{ kind: 'api-outage', at: 'limit-reached', downSeconds: 10 }], [])).toThrow(
      '--fault api-outage needs the sandbox',
    );
  });

  it("faults.json keeps the server's stop, restart and return", () => {
    const file = {
      faults: [
        {
          kind: 'api-outage',
          moment: 'limit-reached',
          status: 'injected',
          action: {
            stoppedPid: 1,
            stoppedAt: '2026-12-06T14:00:00.000Z',
            restartedPid: 2,
            restartedAt: '2026-12-06T14:00:10.000Z',
            backAt: '2026-12-06T14:00:14.000Z',
            downSeconds: 14,
            durationMs: 14_000,
          },
        },
      ],
      rollback: { at: '2026-12-06T14:01:00.000Z', runsCancelled: [], slots: [] },
    };
    expect(FaultsFileSchema.parse(file)).toEqual(file);
  });
});

describe('the outage gate', () => {
  it('resends a call the stopped server did not answer once the fault has started it again', async () => {
    let up = true;
    const sent: string[] = [];
    const inner = createFakeApi({
      'GET /health': () => {
        sent.push(up ? 'answered' : 'refused');
        return up ? { status: 200, text: 'true' } : UNREACHABLE;
      },
    });
    const gate = createOutageGate();
    const api = gate.wrap(inner);
    gate.begin();
    up = false;
    const call = api.request({ method: 'GET', path: '/health', readOnly: true });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sent).toEqual(['refused']);
    up = true;
    gate.end();
    expect((await call).status).toBe(200);
    expect(sent).toEqual(['refused', 'answered']);
  });

  it('never holds a call that may not be resent, nor one that failed with no fault under way', async () => {
    const inner = createFakeApi({ 'POST /flow_runs/': UNREACHABLE, 'GET /health': UNREACHABLE });
    const gate = createOutageGate();
    const api = gate.wrap(inner);
    expect((await api.request({ method: 'GET', path: '/health', readOnly: true })).status).toBe(0);
    gate.begin();
    expect((await api.request({ method: 'POST', path: '/flow_runs/', readOnly: false })).status).toBe(0);
    expect(inner.requests).toHaveLength(2);
    expect(outageGateFor([{ kind: 'cancel-run', at: 'limit-reached' }])).toBeUndefined();
    expect(outageGateFor([{ kind: 'restart-api', at: 'limit-reached' }])).toBeDefined();
  });
});
