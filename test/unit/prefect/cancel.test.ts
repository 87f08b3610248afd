import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import type { ApiRequest, ApiResponse, PrefectApi } from '../../../src/prefect/api.js';
import { cancelFlowRuns } from '../../../src/prefect/cancel.js';
import { createFakeClock } from '../support/fake-clock.js';

const recorded = fs.readJsonSync('fixtures/prefect/3.9.1/flow-runs.burst.json') as Record<string, unknown>[];

/**
 * A server holding runs recorded from the real one, where a worker that had picked a run up moves
 * it on once, just after rehearse cancelled it: the race a SIGKILLed rehearsal's cleanup meets.
 */
function racingServer(states: Record<string, string>, racer: { id: string; to: string }) {
  let raced = false;
  const sets: string[] = [];
  const runs: Record<string, unknown>[] = recorded
    .slice(0, Object.keys(states).length)
    .map((run, i) => ({ ...run, id: Object.keys(states)[i] }));
  const view = () =>
    runs.map((run) => ({
      ...run,
      state_type: states[run.id as string],
      state_name: states[run.id as string],
      state: { ...(run.state as object), type: states[run.id as string], name: states[run.id as string] },
    }));
  const answer = (request: ApiRequest, status: number, body: unknown): ApiResponse => ({
    request,
    url: `http://sandbox${request.path}`,
    status,
    text: JSON.stringify(body),
    startedAt: new Date().toISOString(),
    durationMs: 1,
  });
  const api: PrefectApi = {
    baseUrl: 'http://sandbox',
    async request(request) {
      if (request.path === '/flow_runs/filter') return answer(request, 200, view());
      const id = /\/flow_runs\/(.+)\/set_state/.exec(request.path)?.[1] ?? '';
      const type = (request.body as { state: { type: string } }).state.type;
      sets.push(`${id}:${type}`);
      states[id] = type === 'CANCELLING' ? 'CANCELLED' : type;
      if (id === racer.id && !raced) {
        raced = true;
        states[id] = racer.to;
      }
      return answer(request, 201, {});
    },
  };
  return { api, sets };
}

describe('cancelling a rehearsal’s runs', () => {
  it('cancels again a run a worker moved on after the first cancel, until every run is final', async () => {
    const states = { a: 'PENDING', b: 'SCHEDULED', c: 'COMPLETED' };
    const { api, sets } = racingServer(states, { id: 'a', to: 'RUNNING' });
    const clock = createFakeClock();
    const outcome = await cancelFlowRuns(api, ['a', 'b', 'c'], undefined, { reason: 'test', graceMs: 2000, clock });
    expect(states).toEqual({ a: 'CANCELLED', b: 'CANCELLED', c: 'COMPLETED' });
    expect(sets).toEqual(['a:CANCELLED', 'b:CANCELLED', 'a:CANCELLING']);
    // A second's pause after each round, and once in the grace period: the worker's Cancelling ended within it.
    expect(clock.sleeps).toEqual([1000, 1000, 1000]);
    expect(outcome.leftOver).toEqual([]);
    expect(outcome.cancelled.find((r) => r.id === 'a')).toMatchObject({ from: 'PENDING', state: 'CANCELLING' });
  });

  it('names a run it could not bring to a final state as left over', async () => {
    const states = { a: 'PENDING' };
    const { api } = racingServer(states, { id: 'a', to: 'RUNNING' });
    // A server that never lets it end: every cancel is answered, the run stays Running.
    const stubborn: PrefectApi = {
      baseUrl: api.baseUrl,
      async request(request) {
        const response = await api.request(request);
        states.a = 'RUNNING';
        return response;
      },
    };
    const clock = createFakeClock();
    const outcome = await cancelFlowRuns(stubborn, ['a'], undefined, {
      reason: 'test',
      graceMs: 0,
      deadlineMs: 8000,
      clock,
    });
    expect(outcome.leftOver).toEqual(['a']);
    // It gave up after its four rounds, a second apart, well within the deadline.
    expect(clock.sleeps).toEqual([1000, 1000, 1000, 1000]);
    expect(clock.now()).toBeLessThan(8000);
  });
});
