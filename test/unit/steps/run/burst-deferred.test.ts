import { describe, expect, it } from 'vitest';
import { burstMaker, type RunLedger, type RunPlan } from '../../../../src/steps/run/burst.js';
import { watchRuns } from '../../../../src/steps/run/watch.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, type FakeResponse } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { flowRun as run } from '../../../support/flow-run.js';
import { createFakeClock } from '../../support/fake-clock.js';

const plan = {
  burst: 3,
  parameters: {},
  tags: ['rehearse'],
  tag: 'rehearse-x',
  keyPrefix: 'k',
  deployment: { id: 'd' },
};

function ledger(): RunLedger & { added: string[] } {
  const added: string[] = ['cli'];
  return { added, ids: added, has: (id) => added.includes(id), add: async (r) => void added.push(r.id) };
}

/** A server that makes runs on POST /deployments/d/create_flow_run and reports every run Completed. */
function server(made: string[], refuse = false) {
  const api = createFakeApi({
    'POST /deployments/d/create_flow_run': (): FakeResponse => {
      if (refuse) return { status: 422, text: '{"detail":"no"}' };
      made.push(`api-${made.length + 1}`);
      return { status: 201, text: JSON.stringify(run(made.at(-1) as string, 'SCHEDULED')) };
    },
    'POST /flow_runs/filter': (): FakeResponse => ({
      status: 200,
      text: JSON.stringify(['cli', ...made].map((id) => run(id, 'COMPLETED'))),
    }),
  });
  const clock = createFakeClock(0);
  return { ...createTestContext({ api, runner: createFakeRunner([]) }), clock, now: () => new Date(clock.now()) };
}

describe("a burst made once the CLI's own run exists (rehearsals that stop the server)", () => {
  it('makes no run before the watch, then the rest of the burst once the primary is known', async () => {
    const made: string[] = [];
    const ctx = server(made);
    const runs = ledger();
    const burst = burstMaker(ctx, plan as unknown as RunPlan, runs, true);
    expect(await burst.first()).toEqual([]);
    burst.onPrimary(undefined);
    expect([made, burst.pending()]).toEqual([[], true]);
    burst.onPrimary('cli');
    await burst.settled();
    expect([made, runs.added, burst.pending()]).toEqual([['api-1', 'api-2'], ['cli', 'api-1', 'api-2'], false]);
  });

  it('keeps the watch open until the deferred burst is made, though the CLI run is already final', async () => {
    const made: string[] = [];
    const ctx = server(made);
    const runs = ledger();
    // A burst of 2, one run by the API: made without a pause, which this CLI-less watch would never let pass.
    const two = { ...plan, burst: 2 } as unknown as RunPlan;
    const burst = burstMaker(ctx, two, runs, true);
    const watch = await watchRuns(ctx, {
      plan: two,
      ledger: runs,
      command: undefined,
      primaryId: 'cli',
      deadline: 3_600_000,
      holdOpen: burst.pending,
      onRuns: (_runs, id) => burst.onPrimary(id),
    });
    await burst.settled();
    expect(watch.end).toBe('all-final');
    expect(watch.runs.map((r) => r.id).sort()).toEqual(['api-1', 'cli']);
  });

  it('throws what the deferred creation threw once the watch is over', async () => {
    const ctx = server([], true);
    const burst = burstMaker(ctx, plan as unknown as RunPlan, ledger(), true);
    burst.onPrimary('cli');
    await expect(burst.settled()).rejects.toThrow();
    expect(burst.pending()).toBe(false);
  });

  it('makes the burst first, as always, without a server fault or with a work queue', async () => {
    const made: string[] = [];
    const burst = burstMaker(server(made), plan as unknown as RunPlan, ledger(), false);
    expect((await burst.first()).map((r) => r.id)).toEqual(['api-1', 'api-2']);
    expect(burst.pending()).toBe(false);
    const queued = burstMaker(server([]), { ...plan, workQueue: 'q' } as unknown as RunPlan, ledger(), true);
    expect((await queued.first()).map((r) => r.id)).toEqual(['api-1', 'api-2', 'api-3']);
  });
});
