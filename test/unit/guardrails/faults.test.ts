import { describe, expect, it } from 'vitest';
import type { FaultRecord } from '../../../src/guardrails/fault-record.js';
import { judgeInjections, judgeUntouched } from '../../../src/guardrails/faults.js';
import { runsCheck } from '../../../src/steps/run/run.js';
import { flowRun as run } from '../../support/flow-run.js';

describe('the verdict of a fault rehearsal', () => {
  it('excuses the run the fault cancelled, also when it is the CLI’s own run', () => {
    const runs = [run('p', 'CANCELLED'), run('b', 'COMPLETED')];
    expect(runsCheck(runs, 'p', new Set(['p']))).toMatchObject({
      verdict: 'pass',
      reason: expect.stringContaining('ended by an injected fault, on purpose: run-p Cancelled'),
    });
    expect(judgeUntouched(runs, new Set(['p']), 'p')).toMatchObject({ verdict: 'pass' });
    // Without the fault, the same Cancelled primary is a failure.
    expect(runsCheck(runs, 'p', new Set())).toMatchObject({ verdict: 'fail' });
  });

  it('excuses the run kill-flow crashed, and only that one', () => {
    const runs = [run('p', 'COMPLETED'), run('b', 'CRASHED'), run('c', 'COMPLETED')];
    expect(runsCheck(runs, 'p', new Set(['b']))).toMatchObject({
      verdict: 'pass',
      reason: expect.stringContaining('ended by an injected fault, on purpose: run-b Crashed'),
    });
    // The same Crashed run no fault hit is a failure.
    expect(runsCheck(runs, 'p', new Set(['c']))).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/^1 run\(s\) ended badly: run-b Crashed/),
    });
  });

  it('fails any other run that did not complete', () => {
    const runs = [run('p', 'COMPLETED'), run('b', 'CANCELLED'), run('c', 'CRASHED')];
    expect(runsCheck(runs, 'p', new Set(['b']))).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/^1 run\(s\) ended badly: run-c Crashed/),
    });
    expect(judgeUntouched(runs, new Set(['b']), 'p')).toMatchObject({
      verdict: 'fail',
      reason: 'run(s) the fault did not touch did not complete: run-c Crashed',
    });
    // The CLI's own run cancelled by someone else is no fault of ours.
    expect(judgeUntouched([run('p', 'CANCELLED'), run('b', 'CANCELLED')], new Set(['b']), 'p')).toMatchObject({
      verdict: 'fail',
    });
  });

  it('leaves a run not yet final inconclusive, and a turned-away run excused', () => {
    expect(judgeUntouched([run('p', 'RUNNING')], new Set(), 'p').verdict).toBe('inconclusive');
    expect(judgeUntouched([run('p', 'COMPLETED'), run('x', 'CANCELLED')], new Set(), 'p').verdict).toBe('pass');
  });

  it('passes a fault that did what was asked, and leaves one that did not inconclusive (never a failure)', () => {
    const records: FaultRecord[] = [
      {
        kind: 'cancel-run',
        moment: 'limit-reached',
        status: 'injected',
        target: { id: 'b', name: 'run-b' },
        injectedAt: '2026-11-26T01:20:00.000Z',
        action: { apiStatus: 201, state: 'CANCELLING', durationMs: 1000 },
        recovery: { hitRunFinalState: 'Cancelled', queuedWaits: [] },
      },
      { kind: 'command', command: 'false', moment: 'first-running', status: 'failed', reason: 'the command exited 1' },
    ];
    const [cancel, command] = judgeInjections(records);
    expect(cancel).toMatchObject({ id: 'faults.1.cancel-run', verdict: 'pass' });
    expect(cancel?.reason).toContain('on run-b');
    expect(command).toMatchObject({
      id: 'faults.2.command',
      verdict: 'inconclusive',
      reason: 'not injected: the command exited 1',
    });
  });
});
