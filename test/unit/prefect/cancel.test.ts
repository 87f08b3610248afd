import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import type { ApiRequest, ApiResponse, PrefectApi } from '../../../src/prefect/api.js';
import { cancelFlowRuns } from '../../../src/prefect/cancel.js';
import { createFakeClock, type FakeClock } from '../support/fake-clock.js';

const recorded = fs.readJsonSync('fixtures/prefect/3.9.1/flow-runs.burst.json') as Record<string, unknown>[];
// Scheduled, Pending, Submitting (Pending), Running, Completed: one run's history on the real server.
const history = fs.readJsonSync('fixtures/prefect/3.9.1/flow-run-states.34488f86-11b8-4ab6-8c44-3911ceff7a47.json') as {
  type: string;
}[];
const SCHEDULED = history.find((s) => s.type === 'SCHEDULED');
const PENDING = history.find((s) => s.type === 'PENDING');

/** A run a worker moves on by itself: `afterMs` of simulated time after rehearse first cancels it. */
interface Racer {
  id: string;
  to: string;
  afterMs?: number;
}

/**
 * A server holding runs recorded from the real one. Its worker ends a Cancelling run at once (as one
 * does that finds no process to stop), and the racer is a worker or flow process that moves one run
 * on once after rehearse cancelled it. Each run's history is what it went through before the
 * cancel (`before`, by default where it is now) and every state set since.
 */
function racingServer(
  clock: FakeClock,
  states: Record<string, string>,
  racer: Racer,
  before: Record<string, string[]> = {},
) {
  let cancelledAt: number | undefined;
  let raced = false;
  const sets: string[] = [];
  const ids = Object.keys(states);
  const histories = new Map(ids.map((id) => [id, [...(before[id] ?? [states[id]])]]));
  const move = (id: string, type: string): void => {
    states[id] = type;
    histories.get(id)?.push(type);
  };
  const race = (): void => {
    if (raced || cancelledAt === undefined || clock.now() < cancelledAt + (racer.afterMs ?? 0)) return;
    raced = true;
    move(racer.id, racer.to);
  };
  const runs: Record<string, unknown>[] = recorded.slice(0, ids.length).map((run, i) => ({ ...run, id: ids[i] }));
  const view = () =>
    runs.map((run) => {
      const type = states[run.id as string];
      return { ...run, state_type: type, state_name: type, state: { ...(run.state as object), type, name: type } };
    });
  const stateRecords = (id: string) =>
    (histories.get(id) ?? []).map((type, i) => ({
      ...(type === 'SCHEDULED' ? SCHEDULED : PENDING),
      type,
      name: type,
      timestamp: new Date(Date.UTC(2026, 10, 26, 1, 28, i)).toISOString(),
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
      race();
      if (request.path === '/flow_runs/filter') return answer(request, 200, view());
      const asked = /flow_run_id=(.+)$/.exec(request.path)?.[1];
      if (asked) return answer(request, 200, stateRecords(asked));
      const id = /\/flow_runs\/(.+)\/set_state/.exec(request.path)?.[1] ?? '';
      const type = (request.body as { state: { type: string } }).state.type;
      sets.push(`${id}:${type}`);
      move(id, type);
      if (type === 'CANCELLING') move(id, 'CANCELLED');
      if (id === racer.id) cancelledAt ??= clock.now();
      race();
      return answer(request, 201, {});
    },
  };
  return { api, sets, histories };
}

const SECOND = 1000;
const seconds = (n: number): number[] => Array.from({ length: n }, () => SECOND);

describe('cancelling a rehearsal’s runs', () => {
  it('cancels again a run a worker moved on after the first cancel, until every run is final', async () => {
    // a was read Scheduled, but a worker claimed it before the cancel reached the server.
    const states = { a: 'SCHEDULED', b: 'SCHEDULED', c: 'COMPLETED' };
    const clock = createFakeClock();
    const { api, sets } = racingServer(clock, states, { id: 'a', to: 'RUNNING' }, { a: ['SCHEDULED', 'PENDING'] });
    const outcome = await cancelFlowRuns(api, ['a', 'b', 'c'], undefined, { reason: 'test', graceMs: 2000, clock });
    expect(states).toEqual({ a: 'CANCELLED', b: 'CANCELLED', c: 'COMPLETED' });
    expect(sets).toEqual(['a:CANCELLED', 'b:CANCELLED', 'a:CANCELLING']);
    // A second after each round and one in the grace period; no comeback watch: a came back within
    // the rounds and went through Cancelling (its process stopped), b was never claimed.
    expect(clock.sleeps).toEqual(seconds(3));
    expect(outcome.leftOver).toEqual([]);
    expect(outcome.cancelled.find((r) => r.id === 'a')).toMatchObject({ from: 'SCHEDULED', state: 'CANCELLING' });
  });

  it('cancels a run its worker was starting as Cancelling, watches it, and cancels it again when its flow process sets it Running seconds later', async () => {
    const states = { a: 'PENDING' };
    const clock = createFakeClock();
    // The worker found no process to stop and marked it Cancelled; the process it had spawned was
    // still starting, and 6 s later proposes Running, which the server accepts from Cancelled.
    const { api, sets, histories } = racingServer(clock, states, { id: 'a', to: 'RUNNING', afterMs: 6000 });
    const progress: string[] = [];
    const outcome = await cancelFlowRuns(api, ['a'], undefined, {
      reason: 'test',
      graceMs: 2000,
      clock,
      progress: (line) => progress.push(line),
    });
    expect(sets).toEqual(['a:CANCELLING', 'a:CANCELLING']);
    expect(histories.get('a')).toEqual(['PENDING', 'CANCELLING', 'CANCELLED', 'RUNNING', 'CANCELLING', 'CANCELLED']);
    expect(states.a).toBe('CANCELLED');
    expect(outcome.cancelled).toMatchObject([{ id: 'a', from: 'PENDING', state: 'CANCELLING', cameBack: true }]);
    expect(outcome.leftOver).toEqual([]);
    expect(progress).toEqual([
      'waiting 20 s on 1 run(s) a worker was starting when cancelled: its flow process can still set them Running',
    ]);
    // The watch lasted its whole window, in simulated time.
    expect(clock.now()).toBeGreaterThanOrEqual(21_000);
  });

  it('does not wait on runs no worker had claimed: an operator’s Ctrl-C costs them one confirming read', async () => {
    const states = { a: 'SCHEDULED', b: 'SCHEDULED' };
    const clock = createFakeClock();
    const { api, sets } = racingServer(clock, states, { id: 'none', to: 'RUNNING' });
    const progress: string[] = [];
    const outcome = await cancelFlowRuns(api, ['a', 'b'], undefined, {
      reason: 'test',
      clock,
      progress: (line) => progress.push(line),
    });
    expect(sets).toEqual(['a:CANCELLED', 'b:CANCELLED']);
    expect(clock.sleeps).toEqual([SECOND]);
    expect(progress).toEqual([]);
    expect(outcome.leftOver).toEqual([]);
  });

  it('counts a run whose history it cannot read as claimed, and watches it', async () => {
    const states = { a: 'SCHEDULED' };
    const clock = createFakeClock();
    const { api } = racingServer(clock, states, { id: 'none', to: 'RUNNING' });
    const unreadable: PrefectApi = {
      baseUrl: api.baseUrl,
      async request(request) {
        const response = await api.request(request);
        return request.path.startsWith('/flow_run_states/') ? { ...response, status: 404, text: '{}' } : response;
      },
    };
    const outcome = await cancelFlowRuns(unreadable, ['a'], undefined, { reason: 'test', clock });
    expect(clock.sleeps).toEqual([SECOND, ...seconds(20)]);
    expect(outcome.leftOver).toEqual([]);
  });

  it('names a run it could not bring to a final state as left over', async () => {
    const states = { a: 'PENDING' };
    const clock = createFakeClock();
    const { api } = racingServer(clock, states, { id: 'a', to: 'RUNNING' });
    // A server that never lets it end: every cancel is answered, the run stays Running.
    const stubborn: PrefectApi = {
      baseUrl: api.baseUrl,
      async request(request) {
        const response = await api.request(request);
        states.a = 'RUNNING';
        return response;
      },
    };
    const outcome = await cancelFlowRuns(stubborn, ['a'], undefined, {
      reason: 'test',
      graceMs: 0,
      deadlineMs: 8000,
      clock,
    });
    expect(outcome.leftOver).toEqual(['a']);
    // It gave up after its four rounds, a second apart, well within the deadline.
    expect(clock.sleeps).toEqual(seconds(4));
    expect(clock.now()).toBeLessThan(8000);
  });

  it('pages through a rehearsal of more runs than one page holds and cancels every one', async () => {
    // 450 Scheduled runs carrying the tag, on a server that pages as Prefect does: at most 200 a page.
    const ids = Array.from({ length: 450 }, (_, i) => `run-${String(i).padStart(3, '0')}`);
    const states = new Map(ids.map((id) => [id, 'SCHEDULED']));
    const pages: number[] = [];
    const api: PrefectApi = {
      baseUrl: 'http://sandbox',
      async request(request) {
        const ok = (body: unknown): ApiResponse => ({
          request,
          url: `http://sandbox${request.path}`,
          status: request.path === '/flow_runs/filter' ? 200 : 201,
          text: JSON.stringify(body),
          startedAt: new Date().toISOString(),
          durationMs: 1,
        });
        if (request.path !== '/flow_runs/filter') {
          const id = /\/flow_runs\/(.+)\/set_state/.exec(request.path)?.[1] ?? '';
          states.set(id, (request.body as { state: { type: string } }).state.type);
          return ok({});
        }
        const { limit, offset } = request.body as { limit: number; offset?: number };
        pages.push(offset ?? 0);
        const page = ids.slice(offset ?? 0, (offset ?? 0) + Math.min(limit, 200));
        return ok(page.map((id) => ({ ...recorded[0], id, state_type: states.get(id), state_name: states.get(id) })));
      },
    };
    const clock = createFakeClock();
    const outcome = await cancelFlowRuns(api, [], 'rehearsal-tag', { reason: 'test', clock });
    expect(outcome.runIds).toHaveLength(450);
    expect(outcome.cancelled).toHaveLength(450);
    expect([...states.values()].every((type) => type === 'CANCELLED')).toBe(true);
    expect(outcome.leftOver).toEqual([]);
    expect(pages.slice(0, 3)).toEqual([0, 200, 400]);
  });
});
