import { describe, expect, it } from 'vitest';
import {
  afterSettleExitCode,
  bundleVerdict,
  commandExitCode,
  DRY_RUN_VERDICT,
  ledgerVerdict,
  stepVerdict,
} from '../../../src/guardrails/rollup.js';
import type { Verdict } from '../../../src/guardrails/verdict.js';

const checks = (...verdicts: Verdict[]) => verdicts.map((verdict) => ({ verdict }));
const step = (name: string, status: string, ...verdicts: Verdict[]) => ({ name, status, checks: checks(...verdicts) });
const summaryOf = (...steps: ReturnType<typeof step>[]) => ({ steps, checks: steps.flatMap((s) => s.checks) });
const EVIDENCE = ['run', 'validate'];

describe('how verdicts roll up', () => {
  it('a step: skipped, else its worst check, and a step that judges nothing passes', () => {
    expect(stepVerdict(checks('fail'), true)).toBe('skipped');
    expect(stepVerdict(checks('pass', 'inconclusive'), false)).toBe('inconclusive');
    expect(stepVerdict(checks('inconclusive', 'fail', 'pass'), false)).toBe('fail');
    expect(stepVerdict([], false)).toBe('pass');
  });

  it("a command: a failed guardrail is 1 over an error or an interruption, then the error's own code", () => {
    expect(commandExitCode({ exitCode: 3 }, true, checks('fail'))).toBe(1);
    expect(commandExitCode({ exitCode: 2 }, false, checks('inconclusive'))).toBe(2);
    expect(commandExitCode(undefined, true, checks('pass'))).toBe(3);
    expect(commandExitCode(undefined, false, checks('pass', 'inconclusive'))).toBe(4);
    expect(commandExitCode(undefined, false, [])).toBe(0);
    expect(afterSettleExitCode(0, { exitCode: 3 }, false)).toBe(3);
    expect(afterSettleExitCode(1, { exitCode: 3 }, false)).toBe(1);
    expect(afterSettleExitCode(0, { exitCode: 3 }, true)).toBe(0);
  });

  it('a bundle: only a complete one passes, a failed check fails any, a stopped step decides an unfinished one', () => {
    expect(bundleVerdict(summaryOf(step('run', 'ok', 'pass')), 'complete')).toEqual({ verdict: 'pass', exitCode: 0 });
    expect(bundleVerdict(summaryOf(step('run', 'ok', 'pass')), 'partial')).toEqual({
      verdict: 'incomplete',
      exitCode: 0,
    });
    expect(bundleVerdict(summaryOf(step('run', 'ok', 'fail')), 'interrupted')).toEqual({
      verdict: 'fail',
      exitCode: 1,
    });
    expect(bundleVerdict(summaryOf(step('run', 'ok', 'pass')), 'interrupted')).toEqual({
      verdict: 'incomplete',
      exitCode: 3,
    });
    const failedToRun = { ...step('capture', 'error'), error: { code: 'USAGE' } };
    expect(bundleVerdict(summaryOf(step('run', 'ok', 'inconclusive'), failedToRun), 'partial').verdict).toBe(
      'incomplete',
    );
    expect(bundleVerdict(summaryOf(step('run', 'ok', 'inconclusive')), 'partial')).toEqual({
      verdict: 'incomplete',
      exitCode: 4,
    });
  });

  it('the ledgers: a pass needs every evidence step, a failure needs none', () => {
    expect(ledgerVerdict(summaryOf(step('run', 'ok', 'pass')), EVIDENCE)).toBe('incomplete');
    expect(ledgerVerdict(summaryOf(step('run', 'ok', 'fail')), EVIDENCE)).toBe('fail');
    expect(ledgerVerdict(summaryOf(step('run', 'ok', 'pass'), step('validate', 'ok', 'pass')), EVIDENCE)).toBe('pass');
    expect(ledgerVerdict(summaryOf(), EVIDENCE)).toBe('incomplete');
  });

  it('a dry run is never a verdict', () => {
    expect(DRY_RUN_VERDICT).toEqual({ status: 'partial', verdict: 'incomplete', sealed: false });
  });
});
