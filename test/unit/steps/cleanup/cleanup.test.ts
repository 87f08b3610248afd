import { describe, expect, it } from 'vitest';
import { RehearseError } from '../../../../src/errors.js';
import type { ApiRequest } from '../../../../src/prefect/api.js';
import type { ProcessRunner } from '../../../../src/process/command.js';
import { cleanupRehearsal, describeCleanup, warnOtherRehearsals } from '../../../../src/steps/cleanup/cleanup.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, type FakeApi, type FakeResponse, recorded, recordedRoutes } from '../../../support/fake-api.js';
import { createFakeClock } from '../../support/fake-clock.js';

const DEPLOYMENT_ID = '8bcfe518-701e-4ef9-a3b9-c48937f3a579';
const DEPLOYMENT_LIMIT = 'deployment:8bcfe518-701e-4ef9-a3b9-c48937f3a579';
const noRunner: ProcessRunner = { run: () => Promise.reject(new Error('cleanup runs no process')) };

interface Run {
  id: string;
  name: string;
  state_type: string;
  state_name: string;
  tags: string[];
  deployment_id: string;
  parameters: Record<string, unknown>;
}

const run = (id: string, state: string, tags: string[], deployment = DEPLOYMENT_ID): Run => ({
  id,
  name: `run-${id}`,
  state_type: state,
  state_name: state[0] + state.slice(1).toLowerCase(),
  tags,
  deployment_id: deployment,
  parameters: {},
});

type Filter = {
  id?: { any_: string[] };
  tags?: { all_: string[] };
  deployment_id?: { any_: string[] };
  state?: { type: { any_?: string[]; not_any_?: string[] } };
};

/** A server that filters runs, takes forced states and keeps limits' active slots, as Prefect 3.9 does. */
function fakeServer(runs: Run[], slots: Record<string, number>, workers: 'online' | 'none') {
  const limits = Object.fromEntries(
    Object.entries(slots).map(([name, active]) => [
      name,
      { ...JSON.parse(recorded('gcl.json')), id: `id-${name}`, name, active_slots: active },
    ]),
  );
  const matches = (r: Run, f: Filter): boolean =>
    (!f.id || f.id.any_.includes(r.id)) &&
    (!f.tags || f.tags.all_.every((t) => r.tags.includes(t))) &&
    (!f.deployment_id || f.deployment_id.any_.includes(r.deployment_id)) &&
    (!f.state?.type.any_ || f.state.type.any_.includes(r.state_type)) &&
    !f.state?.type.not_any_?.includes(r.state_type);
  const answer = (request: ApiRequest): FakeResponse => {
    const body = request.body as Record<string, unknown> | undefined;
    if (request.path === '/flow_runs/filter') {
      const page = runs.filter((r) => matches(r, (body?.flow_runs ?? {}) as Filter)).slice(Number(body?.offset ?? 0));
      return { status: 200, text: JSON.stringify(page) };
    }
    const setState = /^\/flow_runs\/(.+)\/set_state$/.exec(request.path);
    if (setState) {
      const target = runs.find((r) => r.id === setState[1]);
      const type = (body!.state as { type: string }).type;
      if (target) Object.assign(target, { state_type: type, state_name: type[0] + type.slice(1).toLowerCase() });
      return { status: 201, text: '{"status":"ACCEPT"}' };
    }
    const limit = /^\/v2\/concurrency_limits\/(.+)$/.exec(request.path);
    if (limit?.[1]) {
      const found = Object.values(limits).find(
        (l) => l.name === decodeURIComponent(limit[1] as string) || l.id === limit[1],
      );
      if (!found) return { status: 404, text: '{"detail":"Concurrency Limit not found"}' };
      if (request.method === 'PATCH') Object.assign(found, body);
      return {
        status: request.method === 'PATCH' ? 204 : 200,
        text: request.method === 'PATCH' ? '' : JSON.stringify(found),
      };
    }
    return { status: 404, text: '{"detail":"Not Found"}' };
  };
  const routes = {
    ...recordedRoutes(),
    'POST /work_pools/hotpass-backfill-pool/workers/filter': {
      status: 200,
      text: workers === 'online' ? recorded('workers.json') : '[]',
    },
  };
  delete (routes as Record<string, unknown>)['GET /v2/concurrency_limits/hotpass-backfill'];
  const api = createFakeApi(routes, { fallback: { status: 599, text: '' } });
  const request = api.request.bind(api);
  api.request = (r) => {
    if (routes[`${r.method} ${r.path}` as keyof typeof routes]) return request(r);
    api.requests.push(r);
    return Promise.resolve({ request: r, url: r.path, ...answer(r), startedAt: '', durationMs: 0 });
  };
  return { api, limits };
}

/** A test context whose waits (the pause after a round of cancels, a worker's grace period) pass in simulated time. */
const contextOver = (api: FakeApi) => ({ ...createTestContext({ runner: noRunner, api }), clock: createFakeClock() });

describe('cleanupRehearsal', () => {
  it('forces Cancelled at once when no live worker owns the runs, and frees the slots nobody holds any more', async () => {
    const runs = [
      run('a', 'RUNNING', ['rehearse', 'rehearse-X']),
      run('b', 'SCHEDULED', ['rehearse', 'rehearse-X']),
      run('c', 'COMPLETED', ['rehearse', 'rehearse-X']),
      run('d', 'RUNNING', ['rehearse', 'rehearse-Y']),
    ];
    const { api, limits } = fakeServer(runs, { 'hotpass-backfill': 2, [DEPLOYMENT_LIMIT]: 3 }, 'none');
    const ctx = contextOver(api);
    runs[3]!.deployment_id = 'another-deployment';
    const report = await cleanupRehearsal(ctx, { tag: 'rehearse-X', runIds: [] });
    expect(runs.map((r) => r.state_type)).toEqual(['CANCELLED', 'CANCELLED', 'COMPLETED', 'RUNNING']);
    expect(report.runs.map((r) => [r.id, r.to, r.forced])).toEqual([
      ['a', 'CANCELLED', true],
      ['b', 'CANCELLED', false],
    ]);
    // No grace period without a worker: the started run's Cancelling is forced to Cancelled straight away.
    const setStates = api.requests
      .filter((r) => r.path.endsWith('/set_state'))
      .map((r) => [r.path, (r.body as { state: { type: string }; force: boolean }).force]);
    expect(setStates.every(([, force]) => force === true)).toBe(true);
    // Run d of another deployment does not name the key, so it holds none of these slots.
    expect(limits['hotpass-backfill']?.active_slots).toBe(0);
    expect(limits[DEPLOYMENT_LIMIT]?.active_slots).toBe(0);
    expect(report.slots.map((s) => [s.limit, s.action])).toEqual([
      [DEPLOYMENT_LIMIT, 'freed'],
      ['hotpass-backfill', 'freed'],
    ]);
    expect(describeCleanup(report, false).join('\n')).toContain('forced: no live worker in the pool');
  });

  it('gives a live worker Cancelling first, and leaves the slots of limits a live run may still hold', async () => {
    const runs = [run('a', 'RUNNING', ['rehearse', 'rehearse-X']), run('other', 'RUNNING', ['rehearse', 'rehearse-Y'])];
    const { api, limits } = fakeServer(runs, { 'hotpass-backfill': 2, [DEPLOYMENT_LIMIT]: 2 }, 'online');
    const ctx = contextOver(api);
    const sets: [string, number][] = [];
    const request = api.request;
    api.request = (r) => {
      if (r.path === '/flow_runs/a/set_state')
        sets.push([(r.body as { state: { type: string } }).state.type, ctx.clock.now()]);
      return request(r);
    };
    const report = await cleanupRehearsal(ctx, { tag: 'rehearse-X', runIds: [] }, { graceMs: 1_500 });
    // Nobody stopped it within the grace period (the fake has no worker process): forced after Cancelling.
    expect(sets.map(([state]) => state)).toEqual(['CANCELLING', 'CANCELLED']);
    const [[, cancellingAt], [, forcedAt]] = sets as [[string, number], [string, number]];
    expect(forcedAt - cancellingAt).toBeGreaterThanOrEqual(1_500);
    expect(runs[1]?.state_type).toBe('RUNNING');
    expect(report.slots.map((s) => [s.limit, s.action, s.liveHolders])).toEqual([
      [DEPLOYMENT_LIMIT, 'kept', 1],
      ['hotpass-backfill', 'kept', 1],
    ]);
    expect(limits['hotpass-backfill']?.active_slots).toBe(2);
    expect(api.requests.some((r) => r.method === 'PATCH')).toBe(false);
  });

  it('--all ends every unfinished rehearsal run of the deployment, and never a run rehearse did not make', async () => {
    const runs = [
      run('a', 'RUNNING', ['rehearse', 'rehearse-X']),
      run('b', 'PENDING', ['rehearse', 'rehearse-Y']),
      run('mine', 'RUNNING', ['nightly']),
    ];
    const { api } = fakeServer(runs, {}, 'none');
    const report = await cleanupRehearsal(contextOver(api), { all: true });
    expect(runs.map((r) => r.state_type)).toEqual(['CANCELLED', 'CANCELLED', 'RUNNING']);
    expect(report.runs.map((r) => r.id).sort()).toEqual(['a', 'b']);
  });

  it('a dry run lists what it would do and changes nothing', async () => {
    const runs = [run('a', 'RUNNING', ['rehearse', 'rehearse-X'])];
    const { api, limits } = fakeServer(runs, { 'hotpass-backfill': 1, [DEPLOYMENT_LIMIT]: 0 }, 'none');
    const ctx = createTestContext({ runner: noRunner, api, flags: { dryRun: true } });
    const report = await cleanupRehearsal(ctx, { tag: 'rehearse-X', runIds: [] });
    expect(runs[0]?.state_type).toBe('RUNNING');
    expect(limits['hotpass-backfill']?.active_slots).toBe(1);
    expect(api.requests.filter((r) => !r.readOnly).map((r) => r.path)).toEqual([]);
    expect(describeCleanup(report, true)).toEqual([
      'run-a (a): Running -> would CANCELLED (forced: no live worker in the pool)',
      `limit ${DEPLOYMENT_LIMIT}: no slot held`,
      'limit hotpass-backfill: would free 1 slot(s) no live run holds (active slots -> 0)',
    ]);
  });
});

describe('cleanupRehearsal reads only what it needs, whatever the server has run before', () => {
  const filters = (api: FakeApi): Filter[] =>
    api.requests.filter((r) => r.path === '/flow_runs/filter').map((r) => (r.body as { flow_runs: Filter }).flow_runs);

  it("bounds every read of runs to the rehearsal's tag, its run ids or the deployment's live runs", async () => {
    const history = Array.from({ length: 50 }, (_, i) => run(`old-${i}`, 'COMPLETED', ['nightly'], `dep-${i % 3}`));
    const runs = [run('a', 'RUNNING', ['rehearse', 'rehearse-X']), ...history];
    const { api } = fakeServer(runs, { 'hotpass-backfill': 0, [DEPLOYMENT_LIMIT]: 0 }, 'none');
    await cleanupRehearsal(contextOver(api), { tag: 'rehearse-X', runIds: ['a'] });
    const sent = filters(api);
    expect(sent.length).toBeGreaterThan(0);
    for (const filter of sent) {
      const bounded =
        filter.tags?.all_.includes('rehearse-X') ||
        (filter.id?.any_.length ?? 0) > 0 ||
        (filter.deployment_id?.any_.includes(DEPLOYMENT_ID) && Boolean(filter.state));
      expect(bounded, JSON.stringify(filter)).toBe(true);
    }
    // No slot held: the server's started runs are never listed.
    expect(sent.some((f) => !f.tags && !f.id && !f.deployment_id)).toBe(false);
  });

  it('makes the same requests over a server with 10,000 earlier runs as over one with none', async () => {
    const requestsWith = async (earlier: number): Promise<string[]> => {
      const history = Array.from({ length: earlier }, (_, i) =>
        run(
          `old-${i}`,
          i % 2 ? 'COMPLETED' : 'CANCELLED',
          ['rehearse', `rehearse-old${i % 7}`],
          i % 3 ? 'elsewhere' : DEPLOYMENT_ID,
        ),
      );
      // Earlier rehearsals still open on other deployments: only the bound on the deployment keeps cleanup --all off
      // them (fewer than a page, so the server-wide read of started runs, made for the key's limit, stays one request).
      const open = Array.from({ length: earlier ? 120 : 0 }, (_, i) =>
        run(`open-${i}`, i % 2 ? 'RUNNING' : 'PENDING', ['rehearse', `rehearse-old${i % 7}`], `dep-${i % 4}`),
      );
      const runs = [run('a', 'RUNNING', ['rehearse', 'rehearse-X']), ...history, ...open];
      const { api } = fakeServer(runs, { 'hotpass-backfill': 1, [DEPLOYMENT_LIMIT]: 1 }, 'none');
      await cleanupRehearsal(contextOver(api), { tag: 'rehearse-X', runIds: ['a'] });
      await cleanupRehearsal(contextOver(api), { all: true });
      return api.requests.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.body ?? null)}`);
    };
    expect(await requestsWith(10_000)).toEqual(await requestsWith(0));
  });

  it("lists the server's started runs only for the key's limit when it holds slots no run of the deployment may hold", async () => {
    const elsewhere = {
      ...run('e', 'RUNNING', ['nightly'], 'another-deployment'),
      parameters: { concurrency_key: 'hotpass-backfill' },
    };
    const { api, limits } = fakeServer([elsewhere], { 'hotpass-backfill': 1, [DEPLOYMENT_LIMIT]: 1 }, 'none');
    const report = await cleanupRehearsal(contextOver(api), { tag: 'rehearse-X', runIds: [] });
    expect(report.slots.map((s) => [s.limit, s.action, s.liveHolders])).toEqual([
      [DEPLOYMENT_LIMIT, 'freed', 0],
      ['hotpass-backfill', 'kept', 1],
    ]);
    expect(limits['hotpass-backfill']?.active_slots).toBe(1);
    expect(filters(api).filter((f) => !f.tags && !f.id && !f.deployment_id)).toEqual([
      { state: { type: { any_: ['PENDING', 'RUNNING', 'CANCELLING'] } } },
    ]);
  });
});

describe('warnOtherRehearsals', () => {
  it('warns about live runs of another rehearsal on the deployment, not about our own', async () => {
    const runs = [
      run('a', 'RUNNING', ['rehearse', 'rehearse-20261126T010000Z']),
      run('b', 'SCHEDULED', ['rehearse', 'rehearse-20261126T010000Z']),
      run('c', 'RUNNING', ['rehearse', 'rehearse-OURS']),
    ];
    const { api } = fakeServer(runs, {}, 'online');
    const ctx = createTestContext({ runner: noRunner, api });
    await warnOtherRehearsals(ctx, 'OURS');
    const warnings = ctx.reporter.events.filter((e) => e.type === 'warn');
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0])).toContain('2 unfinished run(s) of another rehearsal (bundle 20261126T010000Z)');
    runs.splice(0, 2);
    const quiet = createTestContext({ runner: noRunner, api });
    await warnOtherRehearsals(quiet, 'OURS');
    expect(quiet.reporter.events).toEqual([]);
  });

  it('leaves an unreachable server to the steps, but lets a bug in the code through', async () => {
    const { api } = fakeServer([], {}, 'online');
    const failing = (error: Error) =>
      createTestContext({ runner: noRunner, api: { ...api, request: () => Promise.reject(error) } });
    const unreachable = failing(new RehearseError('API_UNREACHABLE', 'connection refused'));
    await expect(warnOtherRehearsals(unreachable, 'OURS')).resolves.toBeUndefined();
    expect(unreachable.reporter.events).toEqual([]);
    await expect(
      warnOtherRehearsals(failing(new TypeError('run.tags.find is not a function')), 'OURS'),
    ).rejects.toThrow(TypeError);
  });
});
