import { describe, expect, it } from 'vitest';
import { RehearseError } from '../../../../src/errors.js';
import { measurePeak } from '../../../../src/guardrails/concurrency.js';
import { filterFlowRuns, readSlotEvents } from '../../../../src/prefect/runs.js';
import { collectStateHistories, findServerAsOf } from '../../../../src/steps/capture/histories.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, type FakeResponse, recorded } from '../../../support/fake-api.js';
import { LIMITED_BURST, recordedRuns, recordedStates, stateHistoryOf } from '../../../support/recorded-runs.js';

const RECORDED_EVENTS = JSON.parse(recorded('events.concurrency-limit.json')) as {
  events: { id: string; occurred: string }[];
};

/** A page of 200 runs: the recorded burst's runs, copied with distinct ids. */
function pageOfRuns(prefix: string): FakeResponse {
  const runs = recordedRuns(LIMITED_BURST);
  const page = Array.from({ length: 200 }, (_, i) => ({
    ...runs[i % runs.length],
    id: `${prefix}-${String(i).padStart(4, '0')}`,
  }));
  return { status: 200, text: JSON.stringify(page) };
}

const eventsPage = (events: unknown[], next: string | null): FakeResponse => ({
  status: 200,
  text: JSON.stringify({ events, total: 22, next_page: next }),
});

describe('paging that cannot undercount', () => {
  it('follows pages of flow runs until a short one', async () => {
    const api = createFakeApi({
      'POST /flow_runs/filter': [pageOfRuns('a'), pageOfRuns('b'), { status: 200, text: recorded(LIMITED_BURST) }],
    });
    expect(await filterFlowRuns(api, {})).toHaveLength(403);
    expect(api.requests.map((r) => (r.body as { offset: number }).offset)).toEqual([0, 200, 400]);
  });

  it('refuses a server that ignores the offset and repeats a page of runs', async () => {
    const api = createFakeApi({ 'POST /flow_runs/filter': pageOfRuns('same') });
    const failure = await filterFlowRuns(api, {}).catch((caught: unknown) => caught);
    expect(failure).toBeInstanceOf(RehearseError);
    expect((failure as RehearseError).message).toContain('200 run(s) it had already listed');
    expect((failure as RehearseError).exitCode).toBe(3);
  });

  it('stops with an error, never a silent undercount, when the pages of runs outnumber the cap', async () => {
    const api = createFakeApi({ 'POST /flow_runs/filter': [pageOfRuns('a'), pageOfRuns('b'), pageOfRuns('c')] });
    await expect(filterFlowRuns(api, {}, { maxPages: 2 })).rejects.toThrow('more than 400 flow runs match one filter');
    expect(api.requests).toHaveLength(2);
  });

  it('reads the slots each event took from the recorded payload', async () => {
    const api = createFakeApi({ 'POST /events/filter': eventsPage(RECORDED_EVENTS.events, null) });
    const events = await readSlotEvents(api, '2026-11-26T01:00:00Z');
    expect(events).toHaveLength(22);
    expect(new Set(events.map((e) => e.slots))).toEqual(new Set([1]));
    // No `until`: the server's own clock ends the window.
    expect((api.requests[0]!.body as { filter: { occurred: Record<string, string> } }).filter.occurred).toEqual({
      since: '2026-11-26T01:00:00Z',
    });
  });

  it('refuses a pager that repeats a page of events', async () => {
    const first = RECORDED_EVENTS.events.slice(0, 11);
    const api = createFakeApi({
      'POST /events/filter': eventsPage(first, 'http://127.0.0.1:4200/api/events/filter/next?page-token=abc'),
      'GET /events/filter/next?page-token=abc': eventsPage(
        first,
        'http://127.0.0.1:4200/api/events/filter/next?page-token=abc',
      ),
    });
    await expect(readSlotEvents(api, '2026-11-26T01:00:00Z')).rejects.toThrow(
      'page 2 of concurrency-limit events repeats 11 event(s) already read',
    );
  });

  it('stops with an error, never a silent undercount, when the pages outnumber the cap', async () => {
    const [a, b, c] = RECORDED_EVENTS.events;
    const api = createFakeApi({
      'POST /events/filter': eventsPage([a], 'http://127.0.0.1:4200/api/events/filter/next?page-token=1'),
      'GET /events/filter/next?page-token=1': eventsPage(
        [b],
        'http://127.0.0.1:4200/api/events/filter/next?page-token=2',
      ),
      'GET /events/filter/next?page-token=2': eventsPage(
        [c],
        'http://127.0.0.1:4200/api/events/filter/next?page-token=3',
      ),
    });
    await expect(readSlotEvents(api, '2026-11-26T01:00:00Z', { maxPages: 2 })).rejects.toThrow(
      'more than 100 concurrency-limit events',
    );
    await expect(readSlotEvents(api, '2026-11-26T01:00:00Z', { maxPages: 3 })).rejects.toThrow(
      'more than 150 concurrency-limit events',
    );
  });
});

describe("findServerAsOf: the server's clock, not ours", () => {
  it('ends just after the latest state the server stamped, whatever the local clock says', () => {
    const history = stateHistoryOf(LIMITED_BURST, 'unused');
    expect(findServerAsOf(history.runs, new Date('2020-01-01T00:00:00Z'))).toBe('2026-11-26T01:28:58.804Z');
  });

  it('keeps an open interval open: a run still RUNNING overlaps one that ended, with a local clock an hour behind', () => {
    const history = stateHistoryOf(LIMITED_BURST, 'unused');
    // Cut the first run's history at RUNNING: it is still running when read.
    const [first, ...rest] = history.runs;
    if (!first) throw new Error('recorded burst is empty');
    const open = { ...first, states: first.states.slice(0, first.states.findIndex((s) => s.type === 'RUNNING') + 1) };
    const runs = [open, ...rest.filter((r) => r.runName !== 'weightless-pronghorn')];
    const skewed = new Date(Date.parse(findServerAsOf(runs, new Date())) - 3_600_000);
    // Ended at a local clock behind the server, the open run's interval is empty and the overlap is lost.
    expect(measurePeak(runs, skewed.toISOString()).peak).toBe(1);
    expect(measurePeak(runs, findServerAsOf(runs, skewed)).peak).toBe(2);
  });
});

describe('collectStateHistories (validate and capture): reads bounded to the rehearsal', () => {
  it("asks for the deployment's other runs from the rehearsal's start only, and the rehearsal's by id", async () => {
    const api = createFakeApi(
      { 'POST /flow_runs/filter': { status: 200, text: '[]' } },
      { fallback: { status: 200, text: '[]' } },
    );
    const ctx = createTestContext({ api, runner: { run: () => Promise.reject(new Error('no process')) } });
    const selection = { deploymentId: 'dep-1', rehearsalRunIds: ['r1', 'r2'], startedAt: '2026-11-26T01:28:28Z' };
    await collectStateHistories(ctx, selection, { allRuns: false });
    const bodies = api.requests.filter((r) => r.path === '/flow_runs/filter').map((r) => r.body);
    expect(bodies).toEqual([
      {
        flow_runs: { deployment_id: { any_: ['dep-1'] }, start_time: { after_: '2026-11-26T01:28:28Z' } },
        sort: 'START_TIME_ASC',
        limit: 200,
        offset: 0,
      },
    ]);
    expect(api.requests.filter((r) => r.path !== '/flow_runs/filter').map((r) => r.path)).toEqual([
      '/flow_run_states/?flow_run_id=r1',
      '/flow_run_states/?flow_run_id=r2',
    ]);
  });

  it("ends the read of the deployment's other runs at the rehearsal's last state plus a minute, once its runs are final", async () => {
    const runs = recordedRuns(LIMITED_BURST);
    const states = (path: string): FakeResponse => {
      const id = /flow_run_id=(.+)$/.exec(path)?.[1] ?? '';
      return { status: 200, text: recorded(`flow-run-states.${id}.json`) };
    };
    const routes = Object.fromEntries(
      runs.map((r) => [`GET /flow_run_states/?flow_run_id=${r.id}`, states(`flow_run_id=${r.id}`)]),
    );
    const api = createFakeApi({ ...routes, 'POST /flow_runs/filter': { status: 200, text: '[]' } });
    const ctx = createTestContext({ api, runner: { run: () => Promise.reject(new Error('no process')) } });
    const selection = {
      deploymentId: 'dep-1',
      rehearsalRunIds: runs.map((r) => r.id),
      startedAt: '2026-11-26T01:28:28Z',
    };
    // Validated a month later: the read still ends where the rehearsal did (its last state 01:28:58.803, plus 1 ms and a minute).
    await collectStateHistories(ctx, selection, { allRuns: false });
    const [body] = api.requests.filter((r) => r.path === '/flow_runs/filter').map((r) => r.body);
    expect((body as { flow_runs: unknown }).flow_runs).toEqual({
      deployment_id: { any_: ['dep-1'] },
      start_time: { after_: '2026-11-26T01:28:28Z', before_: '2026-11-26T01:29:58.804Z' },
    });
  });

  it('leaves the read open-ended while a rehearsal run is still open: later runs overlap it', async () => {
    const [run] = recordedRuns(LIMITED_BURST);
    if (!run) throw new Error('recorded burst is empty');
    const states = recordedStates(run.id);
    const running = states.slice(0, states.findIndex((s) => s.type === 'RUNNING') + 1);
    const api = createFakeApi({
      [`GET /flow_run_states/?flow_run_id=${run.id}`]: { status: 200, text: JSON.stringify(running) },
      'POST /flow_runs/filter': { status: 200, text: '[]' },
    });
    const ctx = createTestContext({ api, runner: { run: () => Promise.reject(new Error('no process')) } });
    const selection = { deploymentId: 'dep-1', rehearsalRunIds: [run.id], startedAt: '2026-11-26T01:28:28Z' };
    await collectStateHistories(ctx, selection, { allRuns: false });
    const [body] = api.requests.filter((r) => r.path === '/flow_runs/filter').map((r) => r.body);
    expect((body as { flow_runs: { start_time: unknown } }).flow_runs.start_time).toEqual({
      after_: '2026-11-26T01:28:28Z',
    });
  });

  it('reads slot events from the earliest instant asked for, never the whole event log', async () => {
    const api = createFakeApi({ 'POST /events/filter': eventsPage([], null) });
    await readSlotEvents(api, '2026-11-26T01:28:28Z', { until: '2026-11-26T01:40:00Z' });
    const [sent] = api.requests.map((r) => (r.body as { filter: { occurred: unknown } }).filter);
    expect(sent?.occurred).toEqual({ since: '2026-11-26T01:28:28Z', until: '2026-11-26T01:40:00Z' });
  });
});
