import os from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFaultFlags, refuseSandboxFaults } from '../../../src/config/faults.js';
import { RehearseError } from '../../../src/errors.js';
import { type FlowProcesses, sandboxFlowProcesses } from '../../../src/faults/processes.js';
import { faultScheduler } from '../../../src/faults/scheduler.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { flowRun as run } from '../../support/flow-run.js';
import { createFakeClock } from '../support/fake-clock.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.remove(dir);
});

/** A /proc of our own: pid -> [ppid, environment, command name]. */
async function fakeProc(table: Record<number, [number, string[], string?]>): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rehearse-proc-'));
  dirs.push(root);
  for (const [pid, [ppid, env, name]] of Object.entries(table)) {
    await fs.outputFile(path.join(root, pid, 'stat'), `${pid} (${name ?? 'python'}) S ${ppid} ${pid} ${pid} 0`);
    await fs.outputFile(path.join(root, pid, 'environ'), `${env.join('\0')}\0`);
  }
  await fs.outputFile(path.join(root, 'self', 'stat'), 'not a pid');
  return root;
}

const RUN_B = 'PREFECT__FLOW_RUN_ID=b';

describe('sandboxFlowProcesses: a flow run’s process among the workers’ descendants', () => {
  it('finds the topmost descendant of a worker whose environment names the run, not a stranger’s', async () => {
    const procRoot = await fakeProc({
      // The worker's `uv run`, its Python, the process it started for run b, and what that started in turn.
      10: [1, []],
      11: [10, []],
      12: [11, ['PATH=/bin', RUN_B], 'python -m prefect.runner._workspace_supervisor'],
      13: [12, [RUN_B]],
      // Run b's forked engine under the warm starter: no worker's descendant. And another worker's run.
      30: [1, [RUN_B]],
      20: [1, []],
      21: [20, ['PREFECT__FLOW_RUN_ID=c']],
    });
    const killed: [number, string][] = [];
    const processes = sandboxFlowProcesses([10, 20], { procRoot, kill: (pid, sig) => killed.push([pid, sig]) });
    expect(await processes.findFlowProcess('b')).toBe(12);
    expect(await processes.findFlowProcess('c')).toBe(21);
    expect(await processes.findFlowProcess('gone')).toBeUndefined();
    processes.kill(12);
    expect(killed).toEqual([[12, 'SIGKILL']]);
    // What a kill of each worker touches: the runs under it, once each, and none of the other's.
    expect(await processes.runsUnder(10)).toEqual(['b']);
    expect(await processes.runsUnder(20)).toEqual(['c']);
  });
});

function killContext() {
  const clock = createFakeClock(Date.parse('2026-11-26T01:20:00Z'));
  const api = createFakeApi({}, { fallback: { status: 404, text: '{}' } });
  const base = createTestContext({ api, runner: createFakeRunner([]) });
  return { ctx: { ...base, clock, now: () => new Date(clock.now()) }, api, clock };
}

function fakeProcesses(pids: Record<string, number>): FlowProcesses & { killed: number[] } {
  const killed: number[] = [];
  return {
    killed,
    findFlowProcess: async (id) => pids[id],
    kill: (pid) => killed.push(pid),
    runsUnder: async () => [],
  };
}

describe('kill-flow in the scheduler', () => {
  it('SIGKILLs the process of one RUNNING run (not the CLI’s) at limit-reached, and follows it to Crashed', async () => {
    const { ctx, api, clock } = killContext();
    const processes = fakeProcesses({ p: 101, b: 102 });
    const scheduler = faultScheduler(ctx, [{ kind: 'kill-flow', at: 'limit-reached' }], 2, undefined, { processes });
    const runs = [run('p', 'RUNNING'), run('b', 'RUNNING'), run('c', 'SCHEDULED')];
    scheduler.onRuns(runs, 'p');
    scheduler.onRuns(runs, 'p');
    await clock.sleep(2_000);
    scheduler.onRuns([run('p', 'RUNNING'), run('b', 'CRASHED'), run('c', 'RUNNING')], 'p');
    const [record] = await scheduler.settled([run('p', 'COMPLETED'), run('b', 'CRASHED'), run('c', 'COMPLETED')]);
    expect(processes.killed).toEqual([102]);
    // Nothing asked of the API: the state is the worker's to report.
    expect(api.requests).toEqual([]);
    expect(record).toMatchObject({
      kind: 'kill-flow',
      status: 'injected',
      target: { id: 'b', name: 'run-b' },
      action: { killedPid: 102 },
      recovery: { hitRunFinalState: 'Crashed', secondsToFinal: 2, queuedWaits: [{ run: 'run-c', waitedSeconds: 2 }] },
    });
    expect([...scheduler.hitRunIds()]).toEqual(['b']);
  });

  it('records a run whose process is not found as failed, saying so, and kills nothing', async () => {
    const { ctx } = killContext();
    const processes = fakeProcesses({});
    const scheduler = faultScheduler(ctx, [{ kind: 'kill-flow', at: 'first-running' }], 2, undefined, { processes });
    scheduler.onRuns([run('b', 'RUNNING')], undefined);
    const [record] = await scheduler.settled([run('b', 'COMPLETED')]);
    expect(processes.killed).toEqual([]);
    expect(record).toMatchObject({
      status: 'failed',
      reason: "no process of run-b was found under the sandbox's workers",
    });
  });
  it('records a kill that threw something other than an Error with what was thrown, not "undefined"', async () => {
    const { ctx } = killContext();
    const processes = {
      ...fakeProcesses({ b: 102 }),
      kill: () => {
        throw 'EPERM from the kernel';
      },
    };
    const scheduler = faultScheduler(ctx, [{ kind: 'kill-flow', at: 'first-running' }], 2, undefined, { processes });
    scheduler.onRuns([run('b', 'RUNNING')], undefined);
    const [record] = await scheduler.settled([run('b', 'COMPLETED')]);
    expect(record).toMatchObject({ status: 'failed', reason: 'SIGKILL to pid 102 failed: EPERM from the kernel' });
  });
});

describe('kill-flow needs the sandbox', () => {
  it('reads --fault kill-flow[@MOMENT]', () => {
    expect(parseFaultFlags({ fault: ['kill-flow', 'kill-flow@first-running'] })).toEqual([
      { kind: 'kill-flow', at: 'limit-reached' },
      { kind: 'kill-flow', at: 'first-running' },
    ]);
  });

  it('is refused up front (exit 2, pointing at --fault-command) where no worker process is known', () => {
    const error = (() => {
      try {
        refuseSandboxFaults([{ kind: 'kill-flow', at: 'limit-reached' }], []);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(RehearseError);
    expect(error).toMatchObject({ code: 'USAGE', exitCode: 2, hint: expect.stringContaining('--fault-command') });
    expect((error as RehearseError).message).toContain('--fault kill-flow needs the sandbox');
    // With the sandbox's workers known, or with faults that need none, nothing is refused.
    expect(() => refuseSandboxFaults([{ kind: 'kill-flow', at: 'limit-reached' }], [10])).not.toThrow();
    expect(() => refuseSandboxFaults([{ kind: 'cancel-run', at: 'limit-reached' }], [])).not.toThrow();
  });
});
