import { describe, expect, it } from 'vitest';
import { newSummary } from '../../../../src/bundle/summary-io.js';
import { runStepData } from '../../../../src/steps/run/data.js';

const summaryWith = (data: Record<string, unknown> | undefined) => {
  const base = newSummary({ dir: '/tmp/b', name: '20261128T030448Z' } as never, new Date('2026-11-28T03:04:48Z'), {
    deployment: 'hotpass-backfill',
  });
  if (!data) return base;
  const step = { name: 'run', title: 'run', status: 'ok', verdict: 'pass', startedAt: '', durationMs: 1 };
  return { ...base, steps: [{ ...step, files: [], commands: [], checks: [], data }] } as typeof base;
};

describe("the run step's hand-off", () => {
  it('is read as the run step wrote it, typed', () => {
    const data = runStepData(
      summaryWith({
        fullName: 'hotpass-backfill/hotpass-backfill',
        deploymentId: 'bf78a42b',
        flowRunIds: ['b7a34e75', 'e1f3af28'],
        startedAt: '2026-11-28T03:05:00Z',
        screenshot: { status: 'missing', url: 'http://127.0.0.1:4200/runs/flow-run/b7a34e75', reason: 'no Chromium' },
      }),
    );
    expect(data?.flowRunIds).toEqual(['b7a34e75', 'e1f3af28']);
    expect(data?.screenshot?.status).toBe('missing');
  });

  it('is absent before the run step ran', () => {
    expect(runStepData(summaryWith(undefined))).toBeUndefined();
  });

  it('is refused, naming the field, when summary.json was edited into something else', () => {
    expect(() => runStepData(summaryWith({ flowRunIds: 'b7a34e75' }))).toThrow(
      expect.objectContaining({ code: 'BUNDLE_INVALID', message: expect.stringContaining('flowRunIds') }),
    );
  });
});
