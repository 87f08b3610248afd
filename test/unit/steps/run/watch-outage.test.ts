import { describe, expect, it } from 'vitest';
import type { RunLedger, RunPlan } from '../../../../src/steps/run/burst.js';
import { watchRuns } from '../../../../src/steps/run/watch.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi, type FakeResponse, UNREACHABLE } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { flowRun as run } from '../../../support/flow-run.js';
import { createFakeClock } from '../../support/fake-clock.js';

/** A server that answers `down` polls with nothing (stopped), then the run Completed. */
function outage(down: number) {
  let polls = 0;
  const api = createFakeApi({
    'POST /flow_runs/filter': (): FakeResponse => {
      polls += 1;
      if (polls > 1 && polls <= 1 + down) return UNREACHABLE;
      const state = polls === 1 ? 'RUNNING' : 'COMPLETED';
      return { status: 200, text: JSON.stringify([run('a', state)]) };
    },
  });
  const clock = createFakeClock(0);
  const ctx = { ...createTestContext({ api, runner: createFakeRunner([]) }), clock, now: () => new Date(clock.now()) };
  const ledger: RunLedger = { ids: ['a'], has: (id) => id === 'a', add: async () => undefined };
  const input = { plan: { tag: 'rehearse:x' } as RunPlan, ledger, command: undefined, primaryId: 'a' };
  // Down on purpose from the first poll on, until the poll that finds it again.
  const serverDown = () => polls >= 1 && polls < 1 + down;
  return { ctx, input, deadline: 3_600_000, serverDown };
}

describe('the watch through an API a fault stopped', () => {
  it('rides out polls nobody answers while a fault has the server down, and ends when the runs are final', async () => {
    const { ctx, input, deadline, serverDown } = outage(20);
    const watch = await watchRuns(ctx, { ...input, deadline, apiExcused: serverDown });
    expect(watch.end).toBe('all-final');
    expect(watch.runs.map((r) => r.state_type)).toEqual(['COMPLETED']);
  });

  it('gives up after three missed polls when no fault has the server down', async () => {
    const { ctx, input, deadline } = outage(20);
    const watch = await watchRuns(ctx, { ...input, deadline, apiExcused: () => false });
    expect(watch.end).toBe('api-lost');
  });
});
