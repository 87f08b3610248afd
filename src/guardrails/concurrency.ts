import { computePeakConcurrency, windowsAbove, type PeakResult, type PeakWindow, type RunHistory } from './peak.js';
import type { Check } from './verdict.js';

/** One limit that applies to the rehearsal's runs, and where it comes from. */
export interface AppliedLimit {
  id: 'concurrency.manifest_limit' | 'concurrency.deployment_limit' | 'concurrency.work_pool_limit' | 'concurrency.global_limit';
  title: string;
  /** undefined when not set or not active: then nothing enforces it. */
  limit: number | undefined;
  why: string;
}

export interface SlotEventLike {
  occurred: string;
  event: string;
  limitName: string;
  flowRunId: string | undefined;
}

const describeWindows = (windows: PeakWindow[], names: Map<string, string>): string =>
  windows.slice(0, 3).map((w) => `${w.start}..${w.end}: ${w.runIds.map((id) => names.get(id) ?? id).join(', ')}`).join('; ');

/**
 * Judge a measured peak against one limit. Submitting no more runs than the limit allows
 * never tests it: that is inconclusive, not a pass.
 */
export function judgeLimit(applied: AppliedLimit, histories: readonly RunHistory[], peak: PeakResult, submitted: number, asOf: string, what = 'runs RUNNING'): Check {
  const base = { id: applied.id, step: 'validate', title: applied.title, expected: applied.limit ?? null, actual: peak.peak };
  if (applied.limit === undefined) return { ...base, verdict: 'inconclusive', reason: `${applied.why}: nothing to measure against (peak ${peak.peak})` };
  const names = new Map(histories.map((h) => [h.runId, h.runName ?? h.runId]));
  if (peak.peak > applied.limit) {
    const over = windowsAbove(histories, applied.limit, asOf);
    return { ...base, verdict: 'fail', actual: { peak: peak.peak, windows: over }, reason: `${peak.peak} ${what} at once, limit ${applied.limit}: ${describeWindows(over, names)}` };
  }
  if (submitted <= applied.limit) {
    return { ...base, verdict: 'inconclusive', reason: `only ${submitted} run(s) were submitted, so the limit of ${applied.limit} was never tested (peak ${peak.peak}); use --burst ${applied.limit + 1}` };
  }
  return { ...base, verdict: 'pass', reason: `peak ${peak.peak} ${what} with ${submitted} submitted, limit ${applied.limit}` };
}

/** Slot holders of one global limit as intervals, from acquired/released events, in the shape the sweep takes. */
export function slotHolderHistories(events: readonly SlotEventLike[], limitName: string): RunHistory[] {
  const byRun = new Map<string, RunHistory>();
  const sorted = events.filter((e) => e.limitName === limitName && e.flowRunId).sort((a, b) => a.occurred.localeCompare(b.occurred));
  for (const e of sorted) {
    const runId = e.flowRunId as string;
    const history = byRun.get(runId) ?? { runId, states: [] };
    history.states.push({ timestamp: e.occurred, type: e.event.endsWith('.acquired') ? 'RUNNING' : 'COMPLETED' });
    byRun.set(runId, history);
  }
  return [...byRun.values()];
}

export function measurePeak(histories: readonly RunHistory[], asOf: string): PeakResult {
  return computePeakConcurrency(histories, asOf);
}
