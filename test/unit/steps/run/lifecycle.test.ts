import { getEventListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import type { ConfigInput } from '../../../../src/config/schema.js';
import type { ApiRequest } from '../../../../src/prefect/api.js';
import type { Command, ProcessResult, ProcessRunner, RunOptions } from '../../../../src/process/command.js';
import { type RunStepOptions, runStep } from '../../../../src/steps/run/run.js';
import { runSteps } from '../../../../src/steps/runner.js';
import { disk } from '../../../../src/util/atomic-write.js';
import { sleep } from '../../../../src/util/sleep.js';
import { createTestContext } from '../../../support/context.js';
import {
  createFakeApi,
  type FakeResponse,
  type FakeRoutes,
  recordedDeployment,
  recordedRoutes,
  UNREACHABLE,
} from '../../../support/fake-api.js';
import { createFakeClock, type FakeClock } from '../../support/fake-clock.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T01:20:00Z');
const DEPLOYMENT_ID = recordedDeployment().id as string;
const CREATE_PATH = `/deployments/${DEPLOYMENT_ID}/create_flow_run`;
const runId = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const CLI_RUN = runId(99);

interface ServerRun {
  id: string;
  name: string;
  state_type: string;
  state_name: string;
  tags: string[];
  parameters: Record<string, unknown>;
}

/**
 * A server with state: create_flow_run makes Scheduled runs (503 from the `failAt`-th on),
 * /flow_runs/filter answers by id or by tag, set_state moves a run. Every run completes after
 * `finalAfterPolls` filters, or once the test's clock reads `finalAt`.
 */
function fakeServer(options: { failAt?: number; finalAfterPolls?: number; finalAt?: number } = {}) {
  const runs = new Map<string, ServerRun>();
  let creates = 0;
  let polls = 0;
  const add = (id: string, tags: string[]): void => {
    runs.set(id, {
      id,
      name: `run-${id.slice(-2)}`,
      state_type: 'SCHEDULED',
      state_name: 'Scheduled',
      tags,
      parameters: {},
    });
  };
  const create = (request: ApiRequest): FakeResponse => {
    creates += 1;
    if (options.failAt !== undefined && creates >= options.failAt)
      return { status: 503, text: '{"exception_message":"Service Unavailable"}' };
    const id = runId(creates);
    add(id, (request.body as { tags: string[] }).tags);
    return { status: 201, text: JSON.stringify(runs.get(id)) };
  };
  const filter = (request: ApiRequest): FakeResponse => {
    const where = (request.body as { flow_runs: { id?: { any_: string[] }; tags?: { all_: string[] } } }).flow_runs;
    polls += 1;
    const finalNow = options.finalAt !== undefined && clock.now() >= options.finalAt;
    if ((options.finalAfterPolls !== undefined && polls > options.finalAfterPolls) || finalNow) {
      for (const run of runs.values()) Object.assign(run, { state_type: 'COMPLETED', state_name: 'Completed' });
    }
    const found = [...runs.values()].filter(
      (r) =>
        (!where.id || where.id.any_.includes(r.id)) &&
        (!where.tags || where.tags.all_.every((t) => r.tags.includes(t))),
    );
    return { status: 200, text: JSON.stringify(found) };
  };
  const setState =
    (id: string) =>
    (request: ApiRequest): FakeResponse => {
      const type = (request.body as { state: { type: string } }).state.type;
      Object.assign(runs.get(id) ?? {}, {
        state_type: type,
        state_name: type === 'CANCELLED' ? 'Cancelled' : 'Cancelling',
      });
      return { status: 201, text: '{"status":"ACCEPT"}' };
    };
  const routes: FakeRoutes = {
    ...recordedRoutes(),
    [`POST ${CREATE_PATH}`]: create,
    'POST /flow_runs/filter': filter,
    ...Object.fromEntries(
      [...Array.from({ length: 20 }, (_, i) => runId(i + 1)), CLI_RUN].map((id) => [
        `POST /flow_runs/${id}/set_state`,
        setState(id),
      ]),
    ),
  };
  return { runs, routes, add };
}

/**
 * `prefect deployment run --watch` as it behaves under CANCEL_NEW: it creates its run, prints
 * its id, then watches until something stops it.
 */
function watchingCli(
  server: ReturnType<typeof fakeServer>,
  options: { hang: boolean; finalLineAt?: number; fails?: { exitCode: number; stderr: string } },
): ProcessRunner & { calls: Command[]; stopped: boolean } {
  const self = {
    calls: [] as Command[],
    stopped: false,
    async run(command: Command, runOptions: RunOptions = {}): Promise<ProcessResult> {
      self.calls.push(command);
      const tags = command.args.flatMap((arg, i) => (command.args[i - 1] === '--tag' ? [arg] : []));
      server.add(CLI_RUN, tags);
      const stdout = `Created flow run 'run-99'.\n└── UUID: ${CLI_RUN}\n`;
      runOptions.onStdoutLine?.(`└── UUID: ${CLI_RUN}`);
      const signal = runOptions.signal;
      if (options.finalLineAt !== undefined) {
        await clock.sleep(options.finalLineAt - clock.now(), signal);
        runOptions.onStdoutLine?.(`● 12:00:02.500 ${CLI_RUN.slice(-12)} prefect.flow-run.Completed * run-99`);
      }
      if (options.hang && signal) {
        await new Promise<void>((resolve) =>
          signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        self.stopped = true;
      }
      const stderr = options.fails?.stderr ?? '';
      const base = { command, stdout, stderr, startedAt: NOW.toISOString(), durationMs: 0, timedOut: false };
      if (self.stopped) return { ...base, exitCode: null, cancelled: true };
      return { ...base, exitCode: options.fails?.exitCode ?? 0, cancelled: false };
    },
  };
  return self;
}

const temp = useTempBundle('rehearse-run-life-', NOW);
/** The watch's polls and the pauses of cancelling pass in simulated time. */
let clock: FakeClock;
beforeEach(() => {
  clock = createFakeClock(NOW.getTime());
});

async function rehearse(
  server: ReturnType<typeof fakeServer>,
  runner: ProcessRunner,
  options: {
    config?: ConfigInput;
    leaveRuns?: boolean;
    signal?: AbortSignal;
    onRequest?: (r: ApiRequest) => void;
    openPage?: RunStepOptions['openPage'];
  } = {},
) {
  const fake = createFakeApi(server.routes);
  const api: typeof fake = {
    ...fake,
    request: async (request, requestOptions) => {
      options.onRequest?.(request);
      return fake.request(request, requestOptions);
    },
  };
  const base = createTestContext({
    runner,
    api,
    now: () => NOW,
    config: options.config ?? { run: { burst: 4 } },
    flags: { leaveRuns: options.leaveRuns ?? false },
  });
  const ctx = { ...base, clock, ...(options.signal ? { signal: options.signal } : {}) };
  const outcome = await runSteps(
    ctx,
    temp.bundle,
    [runStep({ defaultBurst: 'one', openPage: options.openPage ?? (async () => undefined) })],
    newSummary(temp.bundle, NOW, {}),
    { wholeRehearsal: false },
  );
  const step = outcome.summary.steps.find((s) => s.name === 'run');
  const creates = api.requests.filter((r) => r.path === CREATE_PATH);
  const cancels = api.requests.filter((r) => r.path.endsWith('/set_state'));
  return { outcome, step, creates, cancels, reporter: base.reporter };
}

const file = (rel: string) => readFile(path.join(temp.bundle.dir, rel), 'utf8');

describe('the run step never leaves its runs behind', () => {
  it('cancels the runs already created when the server fails mid-burst, and records each of them', async () => {
    const server = fakeServer({ failAt: 3 });
    const cli = watchingCli(server, { hang: false });
    const { outcome, step, creates, cancels, reporter } = await rehearse(server, cli, {
      config: { run: { burst: 5 } },
    });

    expect(outcome.exitCode).toBe(3);
    expect(outcome.error?.code).toBe('API_ERROR');
    expect(outcome.error?.message).toContain('2 unfinished run(s) cancelled on the server');
    expect(creates).toHaveLength(3);
    expect(cli.calls).toEqual([]);
    expect(cancels.map((r) => [r.path, (r.body as { state: { type: string } }).state.type])).toEqual([
      [`/flow_runs/${runId(1)}/set_state`, 'CANCELLED'],
      [`/flow_runs/${runId(2)}/set_state`, 'CANCELLED'],
    ]);
    expect([...server.runs.values()].map((r) => r.state_type)).toEqual(['CANCELLED', 'CANCELLED']);
    expect(step?.status).toBe('error');
    expect(step?.data?.flowRunIds).toEqual([runId(1), runId(2)]);
    expect(step?.files).toEqual(['hotpass-e2e-staging.log', 'created-runs.txt']);
    const created = await file('created-runs.txt');
    expect(created).toContain(`${runId(1)} run-01 api`);
    expect(created).toContain(`${runId(2)} run-02 api`);
    expect(await file('hotpass-e2e-staging.log')).toContain('2 unfinished run(s) cancelled on the server');
    expect(reporter.events.some((e) => e.type === 'info' && e.message.includes('cancelled on the server'))).toBe(true);
  });

  it('with --leave-runs, cancels nothing and says so', async () => {
    const server = fakeServer({ failAt: 3 });
    const { outcome, cancels } = await rehearse(server, watchingCli(server, { hang: false }), {
      config: { run: { burst: 5 } },
      leaveRuns: true,
    });
    expect(outcome.exitCode).toBe(3);
    expect(cancels).toEqual([]);
    expect(outcome.error?.message).toContain('2 run(s) left as they were (--leave-runs)');
    expect([...server.runs.values()].map((r) => r.state_type)).toEqual(['SCHEDULED', 'SCHEDULED']);
  });

  it('sends one stable idempotency key per run of the burst, and marks the creation safe to resend', async () => {
    const server = fakeServer({ finalAfterPolls: 0 });
    const { creates } = await rehearse(server, watchingCli(server, { hang: false }));
    const keys = creates.map((r) => (r.body as { idempotency_key: string }).idempotency_key);
    expect(keys).toHaveLength(3);
    expect(keys.map((k) => k.replace(/.*-/, ''))).toEqual(['0', '1', '2']);
    expect(new Set(keys.map((k) => k.replace(/-\d+$/, '')))).toEqual(new Set([keys[0]?.replace(/-\d+$/, '')]));
    expect(keys[0]).toMatch(new RegExp(`^rehearse-${temp.bundle.name}-`));
    expect(creates.every((r) => r.retrySafe === true)).toBe(true);
  });

  it('ends the watch as soon as every run is final, stopping a CLI that would watch forever', async () => {
    const server = fakeServer({ finalAfterPolls: 2 });
    const cli = watchingCli(server, { hang: true });
    const { outcome, step } = await rehearse(server, cli);
    // The third poll finds every run final; the CLI alone would have watched until the 900 s timeout.
    expect(clock.now() - NOW.getTime()).toBeLessThan(8000);
    expect(outcome.error).toBeUndefined();
    expect(cli.stopped).toBe(true);
    expect(step?.status).toBe('ok');
    expect(step?.data?.primaryRunId).toBe(CLI_RUN);
    expect(step?.data?.flowRunIds).toEqual([CLI_RUN, runId(1), runId(2), runId(3)]);
    expect(await file('hotpass-e2e-staging.log')).toContain(
      "rehearse stopped the CLI's watch: every run of the rehearsal was final",
    );
  });

  it("says so when the CLI's watch fails on its own (its websocket refused by a proxy) while the runs finish", async () => {
    const server = fakeServer({ finalAfterPolls: 2 });
    // What websockets prints when a proxy answers the watch's upgrade with 401, as the last line of the traceback.
    const stderr = 'websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 401\n';
    const cli = watchingCli(server, { hang: false, fails: { exitCode: 1, stderr } });
    const { outcome, step, reporter } = await rehearse(server, cli);
    expect(outcome.error).toBeUndefined();
    expect(step?.status).toBe('ok');
    const warned = reporter.events.flatMap((e) => (e.type === 'warn' ? [e.message] : []));
    expect(warned).toEqual([
      "the Prefect CLI's watch ended with exit 1 before the runs did (websockets.exceptions.InvalidStatus: server " +
        'rejected WebSocket connection: HTTP 401); its connection was refused with HTTP 401 (a proxy in front of ' +
        'the API that demands basic auth on the websocket too): rehearse followed the runs over the REST API to ' +
        'the end, so this does not change the verdict',
    ]);
    expect(await file('notes.md')).toContain("the Prefect CLI's watch ended with exit 1 before the runs did");
    expect(await file('hotpass-e2e-staging.log')).toContain('# the Prefect CLI');
  });

  it('polls at once when the CLI prints the final state of its run, not at the next interval', async () => {
    const finalAt = NOW.getTime() + 2500;
    const server = fakeServer({ finalAt });
    const cli = watchingCli(server, { hang: true, finalLineAt: finalAt });
    const polls: number[] = [];
    const onRequest = (r: ApiRequest): void => {
      if (r.path === '/flow_runs/filter') polls.push(clock.now());
    };
    const { outcome, step } = await rehearse(server, cli, { onRequest });
    expect(outcome.error).toBeUndefined();
    expect(step?.status).toBe('ok');
    expect(cli.stopped).toBe(true);
    // The interval alone would have found the runs final at the poll of 3 s.
    expect(polls.at(-1)).toBe(finalAt);
  });

  it('polls once a second after the CLI has ended on its own, never in a tight loop', async () => {
    const server = fakeServer({ finalAt: NOW.getTime() + 3000 });
    const polls: number[] = [];
    const cli = watchingCli(server, { hang: false });
    const onRequest = (r: ApiRequest): void => {
      if (r.path === '/flow_runs/filter') polls.push(clock.now());
    };
    const { outcome, step } = await rehearse(server, cli, { onRequest });
    expect(outcome.error).toBeUndefined();
    expect(step?.status).toBe('ok');
    // About 3 s of waiting: a poll when the CLI ends, then one a second.
    expect(polls.length).toBeLessThanOrEqual(10);
    const gaps = polls.slice(1).map((at, i) => at - (polls[i] as number));
    expect(gaps.filter((gap) => gap > 0 && gap !== 1000)).toEqual([]);
    expect(gaps.filter((gap) => gap === 0).length).toBeLessThanOrEqual(1);
    expect(polls.at(-1)).toBeLessThanOrEqual(NOW.getTime() + 3000 + 1000);
  });

  it("cancels every run, the CLI's included, when the watch times out", async () => {
    const server = fakeServer();
    const cli = watchingCli(server, { hang: true });
    const { outcome, step, cancels } = await rehearse(server, cli, {
      config: { run: { burst: 2 }, timeouts: { watchSeconds: 1 } },
    });
    expect(outcome.error?.code).toBe('TIMEOUT');
    expect(outcome.exitCode).toBe(3);
    expect(cli.stopped).toBe(true);
    expect(cancels.map((r) => r.path).sort()).toEqual(
      [`/flow_runs/${CLI_RUN}/set_state`, `/flow_runs/${runId(1)}/set_state`].sort(),
    );
    expect([...server.runs.values()].every((r) => r.state_type === 'CANCELLED')).toBe(true);
    expect(step?.data?.cancelled).toHaveLength(2);
  });

  it('says how many runs it could not cancel, never a negative count, when the API dies mid-watch', async () => {
    const server = fakeServer();
    const cli = watchingCli(server, { hang: true });
    // The server goes away once the watch has polled twice; nothing answers after that.
    let polls = 0;
    const onRequest = (r: ApiRequest): void => {
      if (r.path === '/flow_runs/filter') polls += 1;
    };
    const dying: FakeRoutes = Object.fromEntries(
      Object.entries(server.routes).map(([key, route]) => [
        key,
        (request: ApiRequest): FakeResponse => {
          if (polls > 2) return UNREACHABLE;
          const answer = typeof route === 'function' ? route(request) : route;
          return Array.isArray(answer) ? (answer[0] as FakeResponse) : (answer as FakeResponse);
        },
      ]),
    );
    const { outcome, step, reporter } = await rehearse({ ...server, routes: dying }, cli, {
      config: { run: { burst: 2 } },
      onRequest,
    });
    expect(outcome.error?.code).toBe('API_UNREACHABLE');
    expect(outcome.exitCode).toBe(3);
    const said = outcome.error?.message ?? '';
    expect(said).not.toMatch(/-\d+ unfinished/);
    expect(said).toContain('the server did not answer, so 2 run(s) could not be cancelled');
    expect(said).toContain('rehearse cleanup');
    expect(step?.data?.leftOver).toHaveLength(2);
    expect(await file('hotpass-e2e-staging.log')).toContain('2 run(s) could not be cancelled');
    expect(reporter.events.some((e) => 'message' in e && /-\d+ unfinished/.test(String(e.message)))).toBe(false);
  });

  it('cancels the runs on an interrupt during the watch and records the step as interrupted', async () => {
    const server = fakeServer();
    const controller = new AbortController();
    const cli = watchingCli(server, { hang: true });
    // Ctrl-C once the watch has started polling.
    const onRequest = (r: ApiRequest): void => {
      if (r.path === '/flow_runs/filter') controller.abort();
    };
    const { outcome, step, cancels } = await rehearse(server, cli, { signal: controller.signal, onRequest });
    expect(outcome.interrupted).toBe(true);
    expect(outcome.error?.message).toContain('interrupted while watching the rehearsal runs');
    expect(outcome.exitCode).toBe(3);
    expect(step?.status).toBe('interrupted');
    expect(cancels).toHaveLength(4);
    expect([...server.runs.values()].every((r) => r.state_type === 'CANCELLED')).toBe(true);
    expect(step?.data?.interrupted).toBe(true);
  });
});

describe('a disk that fills up as the run page is shot', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('marks the step failed, keeps no partial screenshot, and the bundle says it failed', async () => {
    const server = fakeServer({ finalAfterPolls: 2 });
    const pending = path.join(temp.bundle.dir, '.hotpass-e2e-staging.png.pending');
    // The shot fills the disk: while it is there, no other file can be written (ENOSPC).
    const open = disk.open;
    vi.spyOn(disk, 'open').mockImplementation((...args: Parameters<typeof open>) => {
      if (!existsSync(pending)) return open(...args);
      return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    });
    const openPage: RunStepOptions['openPage'] = async ({ url }) => ({
      url,
      close: async () => undefined,
      capture: async ({ outFile }) => {
        await writeFile(outFile, Buffer.alloc(64, 1));
        return { status: 'captured', file: outFile, width: 1, height: 1, bytes: 64, url, durationMs: 0 };
      },
    });
    const { outcome, step } = await rehearse(server, watchingCli(server, { hang: true }), { openPage });
    expect(outcome.error?.code).toBe('EVIDENCE_ROOT_UNWRITABLE');
    expect(outcome.error?.message).toContain('ENOSPC');
    expect(outcome.exitCode).toBe(3);
    expect(step?.status).toBe('error');
    const saved = JSON.parse(await file('summary.json')) as { status: string; exitCode: number };
    expect([saved.status, saved.exitCode]).toEqual(['failed-to-run', 3]);
    const left = (await readdir(temp.bundle.dir)).filter((name) => name.startsWith('.'));
    expect(left).toEqual([]);
  });
});

describe('sleep', () => {
  it('leaves no abort listener behind once it has slept (MaxListenersExceededWarning on long watches)', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 15; i += 1) await sleep(1, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
