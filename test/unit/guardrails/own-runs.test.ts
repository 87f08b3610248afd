import { describe, expect, it } from 'vitest';
import { countedRuns, rehearsalWindow } from '../../../src/guardrails/own-runs.js';
import { computePeakConcurrency, type RunHistory } from '../../../src/guardrails/peak.js';

const at = (second: number): string => new Date(Date.UTC(2026, 11, 6, 8, 0, second)).toISOString();
/** A run Scheduled at `created`, RUNNING from `start`, Completed at `end` (unfinished with no end). */
const run = (id: string, created: number, start: number, end: number | undefined, rehearsal: boolean) => ({
  runId: id,
  runName: id,
  rehearsal,
  states: [
    { timestamp: at(created), type: 'SCHEDULED' },
    { timestamp: at(start), type: 'RUNNING' },
    ...(end === undefined ? [] : [{ timestamp: at(end), type: 'COMPLETED' }]),
  ],
});
const AS_OF = at(59);

describe("a rehearsal's peak counts other runs only while one of its own was live", () => {
  // Ours: 0..10 s and 2..12 s. Another rehearsal's burst of 3, read back later: all RUNNING at 20..30 s.
  const ours = [run('a', 0, 1, 10, true), run('b', 0, 2, 12, true)];
  const later = [run('x', 15, 20, 30, false), run('y', 15, 20, 30, false), run('z', 15, 21, 30, false)];
  // A run already RUNNING before ours began, still RUNNING after they ended.
  const around = run('w', 0, 0, 40, false);

  it('spans from the first state of its own runs to the last of them, or as of now while one runs', () => {
    expect(rehearsalWindow([...ours, ...later], AS_OF)).toEqual({ from: at(0), to: at(12) });
    expect(rehearsalWindow([run('a', 0, 1, undefined, true)], AS_OF)).toEqual({ from: at(0), to: AS_OF });
    expect(rehearsalWindow(later, AS_OF)).toBeUndefined();
  });

  it('leaves out a burst that ran after its own runs ended, which alone peaks at 3', () => {
    const all = [...ours, ...later];
    expect(computePeakConcurrency(all, AS_OF).peak).toBe(3);
    const { counted, others } = countedRuns(all, new Set(['a', 'b']), rehearsalWindow(all, AS_OF), AS_OF);
    expect(computePeakConcurrency(counted, AS_OF).peak).toBe(2);
    expect(others).toEqual([]);
  });

  it('counts a run RUNNING beside its own, from before to after them, only within the window, and names it', () => {
    const all: RunHistory[] = [...ours, around, ...later];
    const window = rehearsalWindow([...ours, around, ...later], AS_OF);
    const { counted, others } = countedRuns(all, new Set(['a', 'b']), window, AS_OF);
    expect(computePeakConcurrency(counted, AS_OF).peak).toBe(3);
    expect(others).toEqual(['w']);
    const clipped = counted.find((r) => r.runId === 'w');
    expect(clipped?.states.map((s) => [s.timestamp, s.type])).toEqual([
      [at(0), 'RUNNING'],
      [at(12), 'SCHEDULED'],
    ]);
  });

  it('judges every run whole when none is marked its own (validate --all-runs)', () => {
    const { counted } = countedRuns(later, new Set(), rehearsalWindow(later, AS_OF), AS_OF);
    expect(computePeakConcurrency(counted, AS_OF).peak).toBe(3);
  });
});
