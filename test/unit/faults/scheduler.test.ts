import { describe, expect, it } from 'vitest';
import { describeFaults, type FaultSpec, parseFaultFlags } from '../../../src/config/faults.js';
import { RehearseError } from '../../../src/errors.js';
import { faultScheduler, KEY_SLOTS_GRACE_MS, momentReached } from '../../../src/faults/scheduler.js';
import type { ApiRequest } from '../../../src/prefect/api.js';
import type { FlowRun } from '../../../src/prefect/schemas.js';
import type { Command } from '../../../src/process/command.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner, type FakeResult } from '../../support/fake-runner.js';
import { flowRun as run } from '../../support/flow-run.js';
import { createFakeClock } from '../support/fake-clock.js';

/** A server whose runs go Cancelled as soon as they are set Cancelling, as a live worker makes them. */
function cancellingServer(runs: FlowRun[]) {
  const states = new Map(runs.map((r) => [r.id, r]));
  const setState = (request: ApiRequest) => {
    const id = request.path.split('/')[2] as string;
    const type = (request.body as { state: { type: string } }).state.type;
    const current = states.get(id) as FlowRun;
    states.set(id, { ...current, ...run(id, type === 'CANCELLING' ? 'CANCELLED' : type) });
    return { status: 201, text: '{"status":"ACCEPT"}' };
  };
  const filter = (request: ApiRequest) => {
    const ids = (request.body as { flow_runs: { id?: { any_: string[] } } }).flow_runs.id?.any_ ?? [];
    return { status: 200, text: JSON.stringify(ids.map((id) => states.get(id)).filter(Boolean)) };
  };
  const api = createFakeApi({ 'POST /flow_runs/filter': filter }, { fallback: { status: 404, text: '{}' } });
  const request = api.request.bind(api);
  api.request = async (req, options) => {
    if (req.method === 'POST' && /^\/flow_runs\/[^/]+\/set_state$/.test(req.path)) {
      api.requests.push(req);
      const answer = setState(req);
      return { request: req, url: req.path, status: answer.status, text: answer.text, startedAt: '', durationMs: 0 };
    }
    return request(req, options);
  };
  return { api, states };
}

function contextOver(runs: FlowRun[], commandResult?: FakeResult) {
  const server = cancellingServer(runs);
  const runner = createFakeRunner(commandResult ? [{ match: ['sh', '-c'], result: commandResult }] : []);
  const clock = createFakeClock(Date.parse('2026-11-26T01:20:00Z'));
  const base = createTestContext({ runner, api: server.api, redact: (text) => text.replaceAll('s3cr3t', '***') });
  return { ctx: { ...base, clock, now: () => new Date(clock.now()) }, server, runner, clock };
}

const setStates = (requests: ApiRequest[]) => requests.filter((r) => r.path.endsWith('/set_state'));

describe('moments: what the rehearsal observes in its own runs', () => {
  it('first-running comes with one RUNNING run; limit-reached with as many RUNNING as the strictest limit', () => {
    const one = [run('a', 'RUNNING'), run('b', 'SCHEDULED')];
    const two = [run('a', 'RUNNING'), run('b', 'RUNNING'), run('c', 'PENDING')];
    expect(momentReached('first-running', [run('a', 'PENDING')], 2)).toBe(false);
    expect(momentReached('first-running', one, 2)).toBe(true);
    expect(momentReached('limit-reached', one, 2)).toBe(false);
    expect(momentReached('limit-reached', two, 2)).toBe(true);
    // A completed run no longer counts towards the limit.
    expect(momentReached('limit-reached', [run('a', 'RUNNING'), run('b', 'COMPLETED')], 2)).toBe(false);
  });
});

describe('faultScheduler: faults injected from the watch, each once', () => {
  it('cancels one RUNNING run (not the CLI’s) once the limit is reached, once however many polls follow', async () => {
    const runs = [run('p', 'RUNNING'), run('b', 'RUNNING'), run('c', 'SCHEDULED')];
    const { ctx, server, clock } = contextOver(runs);
    const scheduler = faultScheduler(ctx, [{ kind: 'cancel-run', at: 'limit-reached' }], 2);
    scheduler.onRuns([run('p', 'RUNNING'), run('b', 'PENDING'), run('c', 'SCHEDULED')], 'p');
    expect(setStates(server.api.requests)).toHaveLength(0);
    scheduler.onRuns(runs, 'p');
    scheduler.onRuns(runs, 'p');
    await clock.sleep(3_000);
    scheduler.onRuns([run('p', 'RUNNING'), ...[...server.states.values()].slice(1)], 'p');
    await clock.sleep(5_000);
    scheduler.onRuns([run('p', 'RUNNING'), run('b', 'CANCELLED'), run('c', 'RUNNING')], 'p');
    const [record] = await scheduler.settled([run('p', 'COMPLETED'), run('b', 'CANCELLED'), run('c', 'COMPLETED')]);
    expect(setStates(server.api.requests).map((r) => r.path)).toEqual(['/flow_runs/b/set_state']);
    expect(record).toMatchObject({
      kind: 'cancel-run',
      moment: 'limit-reached',
      status: 'injected',
      target: { id: 'b', name: 'run-b' },
      injectedAt: '2026-11-26T01:20:00.000Z',
      action: { apiStatus: 201, state: 'CANCELLING' },
      recovery: { hitRunFinalState: 'Cancelled', queuedWaits: [{ run: 'run-c', waitedSeconds: 8 }] },
    });
    expect(record?.recovery?.secondsToFinal).toBeGreaterThanOrEqual(0);
    expect([...scheduler.hitRunIds()]).toEqual(['b']);
  });

  it('limit-reached with a concurrency key waits for its slots to be held, so the hit run is inside the block', async () => {
    const runs = [run('p', 'RUNNING'), run('b', 'RUNNING'), run('c', 'SCHEDULED')];
    const { ctx, server, clock } = contextOver(runs);
    let active = 1;
    const key = { name: 'hotpass-backfill', read: async () => ({ active, limit: 2 }) };
    const scheduler = faultScheduler(ctx, [{ kind: 'cancel-run', at: 'limit-reached' }], 2, key);
    scheduler.onRuns(runs, 'p');
    await clock.sleep(1_000);
    scheduler.onRuns(runs, 'p');
    await clock.sleep(1_000);
    // Two runs RUNNING, one still starting: one slot held, so nothing is cancelled yet.
    expect(setStates(server.api.requests)).toHaveLength(0);
    active = 2;
    scheduler.onRuns(runs, 'p');
    const [record] = await scheduler.settled([run('p', 'COMPLETED'), run('b', 'CANCELLED'), run('c', 'COMPLETED')]);
    expect(setStates(server.api.requests).map((r) => r.path)).toEqual(['/flow_runs/b/set_state']);
    expect(record).toMatchObject({
      status: 'injected',
      target: { id: 'b' },
      injectedAt: '2026-11-26T01:20:02.000Z',
      slotsAtInjection: { limit: 'hotpass-backfill', active: 2, of: 2 },
    });
  });

  it('limit-reached injects after its grace when the key is never taken (a flow that skips the key)', async () => {
    const runs = [run('p', 'RUNNING'), run('b', 'RUNNING')];
    const { ctx, server, clock } = contextOver(runs);
    const key = { name: 'hotpass-backfill', read: async () => ({ active: 0, limit: 2 }) };
    const scheduler = faultScheduler(ctx, [{ kind: 'cancel-run', at: 'limit-reached' }], 2, key);
    for (let t = 0; t < KEY_SLOTS_GRACE_MS; t += 5_000) {
      scheduler.onRuns(runs, 'p');
      await clock.sleep(5_000);
    }
    expect(setStates(server.api.requests)).toHaveLength(0);
    scheduler.onRuns(runs, 'p');
    const [record] = await scheduler.settled([run('p', 'COMPLETED'), run('b', 'CANCELLED')]);
    expect(record).toMatchObject({ status: 'injected', slotsAtInjection: { active: 0, of: 2 } });
  });

  it('measures the wait of a run first seen after the fault (the CLI’s, found by its tag) from the fault on', async () => {
    const spec: FaultSpec = { kind: 'command', command: 'true', at: 'first-running', timeoutSeconds: 5 };
    const { ctx, clock } = contextOver([], { exitCode: 0, stdout: '', stderr: '' });
    const scheduler = faultScheduler(ctx, [spec], 1);
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    await clock.sleep(2_000);
    scheduler.onRuns([run('a', 'RUNNING'), run('cli', 'PENDING')], 'a');
    await clock.sleep(4_000);
    scheduler.onRuns([run('a', 'COMPLETED'), run('cli', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED'), run('cli', 'COMPLETED')]);
    expect(record?.recovery?.queuedWaits).toEqual([{ run: 'run-cli', waitedSeconds: 6 }]);
  });

  it('lists a fault whose moment never came as not reached, and injects nothing', async () => {
    const { ctx, server } = contextOver([run('a', 'RUNNING')]);
    const scheduler = faultScheduler(ctx, [{ kind: 'cancel-run', at: 'limit-reached' }], 2);
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'SCHEDULED')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED'), run('b', 'COMPLETED')]);
    expect(record).toMatchObject({
      status: 'not-reached',
      reason: expect.stringContaining('limit-reached never came'),
    });
    expect(setStates(server.api.requests)).toHaveLength(0);
  });

  it("runs the operator's command once at its moment, with its deadline, keeping its exit code and masked output", async () => {
    const spec: FaultSpec = {
      kind: 'command',
      command: 'kubectl delete pod w-0',
      at: 'first-running',
      timeoutSeconds: 7,
    };
    const { ctx, runner } = contextOver([], { exitCode: 0, stdout: 'pod "w-0" deleted token=s3cr3t\n', stderr: '' });
    const scheduler = faultScheduler(ctx, [spec], 3);
    scheduler.onRuns([run('a', 'PENDING')], 'a');
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    scheduler.onRuns([run('a', 'RUNNING'), run('b', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]).toMatchObject<Partial<Command>>({
      file: 'sh',
      args: ['-c', 'kubectl delete pod w-0'],
      timeoutMs: 7_000,
    });
    expect(record).toMatchObject({
      kind: 'command',
      command: 'kubectl delete pod w-0',
      status: 'injected',
      action: { exitCode: 0, timedOut: false, outputTail: ['pod "w-0" deleted token=***'] },
    });
  });

  it('records a command that outlived its deadline as failed, saying so', async () => {
    const spec: FaultSpec = { kind: 'command', command: 'sleep 600', at: 'first-running', timeoutSeconds: 2 };
    const { ctx } = contextOver([], { exitCode: null, stdout: '', stderr: '', timedOut: true });
    const scheduler = faultScheduler(ctx, [spec], 1);
    scheduler.onRuns([run('a', 'RUNNING')], 'a');
    const [record] = await scheduler.settled([run('a', 'COMPLETED')]);
    expect(record).toMatchObject({
      status: 'failed',
      action: { timedOut: true },
      reason: 'the command did not end within its deadline of 2 s',
    });
  });
});

describe('--fault flags', () => {
  it('reads KIND[@MOMENT] with limit-reached as the default, and the command with its moment', () => {
    expect(
      parseFaultFlags({
        fault: ['cancel-run', 'cancel-run@first-running'],
        faultCommand: 'echo hit',
        faultAt: 'first-running',
      }),
    ).toEqual([
      { kind: 'cancel-run', at: 'limit-reached' },
      { kind: 'cancel-run', at: 'first-running' },
      { kind: 'command', command: 'echo hit', at: 'first-running', timeoutSeconds: 60 },
    ]);
    expect(parseFaultFlags({})).toBeUndefined();
  });

  it.each([
    [{ fault: ['kill-everything'] }, "--fault: unknown kind 'kill-everything'"],
    [{ fault: ['cancel-run@lunchtime'] }, "--fault: unknown moment 'lunchtime'"],
    [{ faultCommand: 'echo', faultAt: 'soon' }, "--fault-at: unknown moment 'soon'"],
    [{ faultAt: 'first-running' }, '--fault-at names the moment of --fault-command, which is missing'],
  ])('refuses %j as a usage error (exit 2) listing what there is', (flags, message) => {
    const error = (() => {
      try {
        parseFaultFlags(flags);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(RehearseError);
    expect(error).toMatchObject({ code: 'USAGE', exitCode: 2, message, details: describeFaults() });
  });
});
