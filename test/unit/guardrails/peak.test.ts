import { describe, expect, it } from 'vitest';
import {
  computePeakConcurrency,
  type RunHistory,
  runningIntervals,
  windowsAbove,
} from '../../../src/guardrails/peak.js';

const typeOf: Record<string, string> = {
  Scheduled: 'SCHEDULED',
  Late: 'SCHEDULED',
  AwaitingConcurrencySlot: 'SCHEDULED',
  AwaitingRetry: 'SCHEDULED',
  Pending: 'PENDING',
  Running: 'RUNNING',
  Retrying: 'RUNNING',
  Completed: 'COMPLETED',
  Failed: 'FAILED',
  Cancelled: 'CANCELLED',
};

/** `at` is the time of day after 10:00 on a fixed date, e.g. '00:05' or '00:05.000500'. */
const ts = (at: string): string => `2025-03-01T10:${at}Z`;

function run(runId: string, states: [at: string, name: string][]): RunHistory {
  return {
    runId,
    states: states.map(([at, name], i) => ({ id: `${runId}-s${i}`, timestamp: ts(at), type: typeOf[name]!, name })),
  };
}

const asOf = ts('59:59');

describe('computePeakConcurrency', () => {
  it('counts two overlapping runs once each, in the window where both ran', () => {
    const result = computePeakConcurrency(
      [
        run('a', [
          ['00:00', 'Running'],
          ['00:10', 'Completed'],
        ]),
        run('b', [
          ['00:05', 'Running'],
          ['00:15', 'Completed'],
        ]),
      ],
      asOf,
    );
    expect(result.peak).toBe(2);
    expect(result.windows).toEqual([{ start: ts('00:05'), end: ts('00:10'), runIds: ['a', 'b'] }]);
    expect(result.runsThatRan).toBe(2);
  });

  it('does not count intervals that only touch as overlapping', () => {
    const result = computePeakConcurrency(
      [
        run('a', [
          ['00:00.000', 'Running'],
          ['00:05.000', 'Completed'],
        ]),
        run('b', [
          ['00:05.000', 'Running'],
          ['00:09.000', 'Completed'],
        ]),
      ],
      asOf,
    );
    expect(result.peak).toBe(1);
    expect(result.windows.map((w) => w.runIds)).toEqual([['a'], ['b']]);
  });

  it('keeps microsecond precision, so a 300 µs overlap still counts', () => {
    const result = computePeakConcurrency(
      [
        run('a', [
          ['00:00', 'Running'],
          ['00:05.000500', 'Completed'],
        ]),
        run('b', [
          ['00:05.000200', 'Running'],
          ['00:09', 'Completed'],
        ]),
      ],
      asOf,
    );
    expect(result.peak).toBe(2);
    expect(result.windows).toEqual([{ start: ts('00:05.000200'), end: ts('00:05.000500'), runIds: ['a', 'b'] }]);
  });

  it('counts three runs starting at the identical instant', () => {
    const result = computePeakConcurrency(
      ['c', 'a', 'b'].map((id, i) =>
        run(id, [
          ['00:00', 'Running'],
          [`00:1${i}`, 'Completed'],
        ]),
      ),
      asOf,
    );
    expect(result.peak).toBe(3);
    expect(result.windows).toEqual([{ start: ts('00:00'), end: ts('00:10'), runIds: ['a', 'b', 'c'] }]);
  });

  it('lists runs that never reached RUNNING and does not count them', () => {
    const result = computePeakConcurrency(
      [
        run('waited', [
          ['00:00', 'Scheduled'],
          ['00:01', 'AwaitingConcurrencySlot'],
          ['00:30', 'Cancelled'],
        ]),
        run('ran', [
          ['00:00', 'Running'],
          ['00:20', 'Completed'],
        ]),
      ],
      asOf,
    );
    expect(result.peak).toBe(1);
    expect(result.runsThatRan).toBe(1);
    expect(result.runsThatNeverRan).toEqual(['waited']);
    expect(result.intervals).toEqual([{ runId: 'ran', start: ts('00:00'), end: ts('00:20'), open: false }]);
  });

  it('gives a retried run one interval per attempt and counts the overlap only in the second attempt', () => {
    const retried = run('retried', [
      ['00:00', 'Running'],
      ['00:10', 'AwaitingRetry'],
      ['00:20', 'Running'],
      ['00:30', 'Completed'],
    ]);
    const other = run('other', [
      ['00:12', 'Running'],
      ['00:25', 'Completed'],
    ]);
    expect(runningIntervals(retried, asOf)).toEqual([
      { runId: 'retried', start: ts('00:00'), end: ts('00:10'), open: false },
      { runId: 'retried', start: ts('00:20'), end: ts('00:30'), open: false },
    ]);
    const result = computePeakConcurrency([retried, other], asOf);
    expect(result.peak).toBe(2);
    expect(result.windows).toEqual([{ start: ts('00:20'), end: ts('00:25'), runIds: ['other', 'retried'] }]);
    expect(result.intervals.map((i) => [i.runId, i.start])).toEqual([
      ['retried', ts('00:00')],
      ['other', ts('00:12')],
      ['retried', ts('00:20')],
    ]);
  });

  it("merges a run's consecutive Running/Retrying states and zero-gap retries so it never counts against itself", () => {
    const retrying = run('r', [
      ['00:00', 'Running'],
      ['00:05', 'Retrying'],
      ['00:10', 'Completed'],
    ]);
    const instantRetry = run('i', [
      ['01:00', 'Running'],
      ['01:05', 'AwaitingRetry'],
      ['01:05', 'Running'],
      ['01:10', 'Completed'],
    ]);
    expect(runningIntervals(retrying, asOf)).toEqual([
      { runId: 'r', start: ts('00:00'), end: ts('00:10'), open: false },
    ]);
    expect(runningIntervals(instantRetry, asOf)).toEqual([
      { runId: 'i', start: ts('01:00'), end: ts('01:10'), open: false },
    ]);
    const result = computePeakConcurrency([retrying, instantRetry], asOf);
    expect(result.peak).toBe(1);
    expect(result.windows.map((w) => [w.start, w.end])).toEqual([
      [ts('00:00'), ts('00:10')],
      [ts('01:00'), ts('01:10')],
    ]);
  });

  it('sorts states given out of order by timestamp', () => {
    const shuffled = run('a', [
      ['00:30', 'Completed'],
      ['00:10', 'AwaitingRetry'],
      ['00:00', 'Running'],
      ['00:20', 'Running'],
    ]);
    expect(runningIntervals(shuffled, asOf)).toEqual([
      { runId: 'a', start: ts('00:00'), end: ts('00:10'), open: false },
      { runId: 'a', start: ts('00:20'), end: ts('00:30'), open: false },
    ]);
    const other = run('b', [
      ['00:25', 'Completed'],
      ['00:05', 'Running'],
    ]);
    const result = computePeakConcurrency([shuffled, other], asOf);
    expect(result.peak).toBe(2);
    expect(result.windows).toEqual([
      { start: ts('00:05'), end: ts('00:10'), runIds: ['a', 'b'] },
      { start: ts('00:20'), end: ts('00:25'), runIds: ['a', 'b'] },
    ]);
  });

  it('runs a still-RUNNING run until asOf and marks its interval open', () => {
    const capturedAt = ts('02:00');
    const running = run('still', [
      ['00:00', 'Pending'],
      ['01:00', 'Running'],
    ]);
    const done = run('done', [
      ['01:30', 'Running'],
      ['01:45', 'Completed'],
    ]);
    expect(runningIntervals(running, capturedAt)).toEqual([
      { runId: 'still', start: ts('01:00'), end: capturedAt, open: true },
    ]);
    const result = computePeakConcurrency([running, done], capturedAt);
    expect(result.peak).toBe(2);
    expect(result.windows).toEqual([{ start: ts('01:30'), end: ts('01:45'), runIds: ['done', 'still'] }]);
    expect(computePeakConcurrency([running], capturedAt).windows).toEqual([
      { start: ts('01:00'), end: capturedAt, runIds: ['still'] },
    ]);
  });

  it('reads +00:00, Z and other UTC offsets as the same instants', () => {
    const result = computePeakConcurrency(
      [
        {
          runId: 'a',
          states: [
            { timestamp: '2025-03-01T10:00:00.000100+00:00', type: 'RUNNING' },
            { timestamp: '2025-03-01T12:00:05.000300+02:00', type: 'COMPLETED' },
          ],
        },
        {
          runId: 'b',
          states: [
            { timestamp: '2025-03-01T10:00:05.000200Z', type: 'RUNNING' },
            { timestamp: '2025-03-01T10:00:09Z', type: 'COMPLETED' },
          ],
        },
      ],
      asOf,
    );
    expect(result.peak).toBe(2);
    expect(result.windows).toEqual([
      { start: '2025-03-01T10:00:05.000200Z', end: '2025-03-01T12:00:05.000300+02:00', runIds: ['a', 'b'] },
    ]);
  });

  it('refuses an unreadable timestamp instead of guessing', () => {
    const broken: RunHistory = { runId: 'x', states: [{ timestamp: 'yesterday', type: 'RUNNING' }] };
    expect(() => computePeakConcurrency([broken], asOf)).toThrow(
      expect.objectContaining({ code: 'UNEXPECTED_OUTPUT' }),
    );
  });

  it('returns peak 0 and nothing else for empty input', () => {
    expect(computePeakConcurrency([], asOf)).toEqual({
      peak: 0,
      windows: [],
      intervals: [],
      runsThatRan: 0,
      runsThatNeverRan: [],
    });
    expect(windowsAbove([], 0, asOf)).toEqual([]);
  });
});

describe('ENQUEUE guardrail with limit 2', () => {
  const first = run('r1', [
    ['00:00', 'Scheduled'],
    ['00:01', 'Pending'],
    ['00:02', 'Running'],
    ['00:31', 'Completed'],
  ]);
  const second = run('r2', [
    ['00:00', 'Scheduled'],
    ['00:01.5', 'Pending'],
    ['00:03', 'Running'],
    ['00:40', 'Completed'],
  ]);

  it('holds when the third run waits for a slot until the first finishes', () => {
    const third = run('r3', [
      ['00:00', 'Scheduled'],
      ['00:02', 'AwaitingConcurrencySlot'],
      ['00:12', 'AwaitingConcurrencySlot'],
      ['00:22', 'AwaitingConcurrencySlot'],
      ['00:31', 'Pending'],
      ['00:31.5', 'Running'],
      ['00:55', 'Completed'],
    ]);
    const histories = [first, second, third];
    const result = computePeakConcurrency(histories, asOf);
    expect(result.peak).toBe(2);
    expect(result.windows.map((w) => w.runIds)).toEqual([
      ['r1', 'r2'],
      ['r2', 'r3'],
    ]);
    expect(windowsAbove(histories, 2, asOf)).toEqual([]);
    expect(windowsAbove(histories, 1, asOf)).toEqual(result.windows);
  });

  it('reports the window in which three runs ran at once', () => {
    const third = run('r3', [
      ['00:00', 'Scheduled'],
      ['00:19', 'Pending'],
      ['00:20', 'Running'],
      ['00:50', 'Completed'],
    ]);
    const histories = [third, first, second];
    expect(computePeakConcurrency(histories, asOf).peak).toBe(3);
    expect(windowsAbove(histories, 2, asOf)).toEqual([
      { start: ts('00:20'), end: ts('00:31'), runIds: ['r1', 'r2', 'r3'] },
    ]);
  });
});

describe('scale', () => {
  it('computes 100k runs of 5 states each', () => {
    // Run i runs for 3.5 s from second i, so 4 consecutive runs overlap at each whole second; every 10th run never runs.
    const base = Date.parse('2025-03-01T00:00:00Z');
    const iso = (ms: number): string => new Date(base + ms).toISOString();
    const histories: RunHistory[] = [];
    for (let i = 0; i < 100_000; i++) {
      const at = i * 1000;
      const runId = `run-${String(i).padStart(6, '0')}`;
      const states =
        i % 10 === 0
          ? ([
              [at - 5000, 'Scheduled'],
              [at - 4000, 'AwaitingConcurrencySlot'],
              [at - 3000, 'AwaitingConcurrencySlot'],
              [at - 2000, 'Late'],
              [at, 'Cancelled'],
            ] as const)
          : ([
              [at - 5000, 'Scheduled'],
              [at - 1000, 'Pending'],
              [at, 'Running'],
              [at + 1000, 'Retrying'],
              [at + 3500, 'Completed'],
            ] as const);
      histories.push({
        runId,
        states: states.map(([ms, name]) => ({ timestamp: iso(ms), type: typeOf[name]!, name })),
      });
    }
    const result = computePeakConcurrency(histories, iso(200_000_000));
    expect(result.peak).toBe(4);
    expect(result.runsThatRan).toBe(90_000);
    expect(result.runsThatNeverRan).toHaveLength(10_000);
    expect(result.intervals).toHaveLength(90_000);
    expect(result.windows).toHaveLength(20);
    expect(result.windows[0]).toEqual({
      start: iso(4000),
      end: iso(4500),
      runIds: ['run-000001', 'run-000002', 'run-000003', 'run-000004'],
    });
    expect(windowsAbove(histories, 4, iso(200_000_000))).toEqual([]);
  });
});
