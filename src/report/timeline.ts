import type { DrawnHistory, SlotHistoryFile as SlotHistory } from '../bundle/state-history.js';
import {
  computePeakConcurrency,
  type PeakWindow,
  type RunHistory,
  type StateRecord,
  windowsAbove,
} from '../guardrails/peak.js';

/** What the timeline draws of slot-history.json (its schema: `SlotHistoryFileSchema`). */
export type SlotHistoryFile = Pick<SlotHistory, 'asOf' | 'limit' | 'runs'>;

/** state-history.json as the report reads it (`DrawnHistorySchema`). */
export type HistoryFile = DrawnHistory;
/** One state of one run, [from, to) in milliseconds since the epoch. */
interface Segment {
  kind: string;
  name: string;
  from: number;
  to: number;
  /** The run's last state: a final state is drawn as a mark, an open one runs to asOf. */
  last: boolean;
}
interface TimelineRow {
  runId: string;
  runName: string;
  rehearsal: boolean;
  segments: Segment[];
}
interface LimitLine {
  value: number;
  /** The checks (or settings) that put a limit at this value. */
  labels: string[];
}
interface OverflowWindow {
  from: number;
  to: number;
  limit: number;
  runIds: string[];
  runNames: string[];
}
/** A fault injected into the burst, drawn where it struck (faults.json). */
export interface FaultMark {
  at: number;
  label: string;
  runId?: string;
}
export interface TimelineModel {
  start: number;
  end: number;
  asOf: string;
  rows: TimelineRow[];
  /** The count of RUNNING runs after each change, in time order. */
  running: { at: number; count: number }[];
  peak: number;
  /** Occupied slots of the global limit after each change (slot-history.json), when the bundle has them. */
  slots?: { limit: string; steps: { at: number; count: number }[]; peak: number };
  limits: LimitLine[];
  overflows: OverflowWindow[];
  faults: FaultMark[];
}

const AWAITING = 'AwaitingConcurrencySlot';
const FINAL_TYPES = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED']);

/** What a state is coloured as: Prefect's type, except the ENQUEUE wait, which is a SCHEDULED state by name. */
const stateKind = (state: StateRecord): string => (state.name === AWAITING ? AWAITING : state.type);

const timeOf = (timestamp: string): number => Date.parse(timestamp);

function buildRow(run: HistoryFile['runs'][number], rehearsal: boolean, asOfAt: number): TimelineRow {
  const states = [...run.states].sort((a, b) => timeOf(a.timestamp) - timeOf(b.timestamp));
  const segments = states.map((state, i): Segment => {
    const from = timeOf(state.timestamp);
    const next = states[i + 1];
    // A run that ended is drawn ending there; one still in a state at asOf is drawn up to asOf.
    const end = FINAL_TYPES.has(state.type) ? from : Math.max(from, asOfAt);
    return {
      kind: stateKind(state),
      name: state.name ?? state.type,
      from,
      to: next ? timeOf(next.timestamp) : end,
      last: next === undefined,
    };
  });
  return { runId: run.runId, runName: run.runName ?? run.runId, rehearsal, segments };
}

/** Rehearsal runs first, in the order they were created; then the deployment's other runs by first state. */
function orderRuns(file: HistoryFile): { run: HistoryFile['runs'][number]; rehearsal: boolean }[] {
  const ids = file.rehearsalRunIds ?? [];
  const rank = new Map(ids.map((id, i) => [id, i]));
  const first = (run: RunHistory): number =>
    run.states.reduce((min, s) => Math.min(min, timeOf(s.timestamp)), Number.POSITIVE_INFINITY);
  const tagged = file.runs.map((run) => ({ run, rehearsal: rank.has(run.runId) || run.rehearsal === true }));
  return tagged.sort((a, b) => {
    if (a.rehearsal !== b.rehearsal) return a.rehearsal ? -1 : 1;
    const byRank = (rank.get(a.run.runId) ?? Infinity) - (rank.get(b.run.runId) ?? Infinity);
    if (byRank !== 0 && Number.isFinite(byRank)) return byRank;
    return first(a.run) - first(b.run) || a.run.runId.localeCompare(b.run.runId);
  });
}

/** The RUNNING count as a step function, from peak.ts's merged intervals (ends before starts at one instant). */
function countRunning(intervals: { start: string; end: string }[]): { at: number; count: number }[] {
  const events = intervals
    .flatMap((i) => [
      { at: timeOf(i.start), delta: 1 },
      { at: timeOf(i.end), delta: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  const steps: { at: number; count: number }[] = [];
  let count = 0;
  for (const event of events) {
    count += event.delta;
    const last = steps[steps.length - 1];
    if (last && last.at === event.at) last.count = count;
    else steps.push({ at: event.at, count });
  }
  return steps;
}

function countSlots(file: SlotHistoryFile): NonNullable<TimelineModel['slots']> {
  const held = computePeakConcurrency(file.runs, file.asOf);
  return { limit: file.limit, steps: countRunning(held.intervals), peak: held.peak };
}

/** One stretch above a limit is one shaded window, even when the set of runs in it changes (3, then 4, then 3). */
function mergeTouching(windows: readonly PeakWindow[]): PeakWindow[] {
  const merged: PeakWindow[] = [];
  for (const window of windows) {
    const last = merged[merged.length - 1];
    if (last && timeOf(last.end) === timeOf(window.start)) {
      merged[merged.length - 1] = {
        start: last.start,
        end: window.end,
        runIds: [...new Set([...last.runIds, ...window.runIds])].sort(),
      };
    } else merged.push(window);
  }
  return merged;
}

/** One line per limit value; the lowest is the one that binds. */
function groupLimits(limits: Record<string, number>): LimitLine[] {
  const byValue = new Map<number, string[]>();
  for (const [label, value] of Object.entries(limits)) byValue.set(value, [...(byValue.get(value) ?? []), label]);
  return [...byValue].sort(([a], [b]) => a - b).map(([value, labels]) => ({ value, labels: labels.sort() }));
}

/**
 * The timeline of a bundle, from its state histories and the limits its checks judged against. Limits on
 * RUNNING runs shade the windows above them; slot limits (a global limit bounds occupied slots, and a run
 * can be RUNNING while it waits for one) are drawn but shade nothing.
 */
export function buildTimeline(
  file: HistoryFile,
  limits: Record<string, number>,
  slotLimits: Record<string, number> = {},
  slotFile?: SlotHistoryFile,
  faults: readonly FaultMark[] = [],
): TimelineModel {
  const asOfAt = timeOf(file.asOf);
  const rows = orderRuns(file).map(({ run, rehearsal }) => buildRow(run, rehearsal, asOfAt));
  const peak = computePeakConcurrency(file.runs, file.asOf);
  const names = new Map(rows.map((row) => [row.runId, row.runName]));
  const lines = groupLimits({ ...limits, ...slotLimits });
  const overflows = groupLimits(limits).flatMap((line) =>
    mergeTouching(windowsAbove(file.runs, line.value, file.asOf)).map((w) => ({
      from: timeOf(w.start),
      to: timeOf(w.end),
      limit: line.value,
      runIds: w.runIds,
      runNames: w.runIds.map((id) => names.get(id) ?? id),
    })),
  );
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const segment of rows.flatMap((row) => row.segments)) {
    start = Math.min(start, segment.from);
    end = Math.max(end, segment.to);
  }
  if (!Number.isFinite(start)) start = end = asOfAt;
  for (const fault of faults) {
    if (!Number.isFinite(fault.at)) continue;
    start = Math.min(start, fault.at);
    end = Math.max(end, fault.at);
  }
  return {
    start,
    end: Math.max(end, start + 1),
    asOf: file.asOf,
    rows,
    running: countRunning(peak.intervals),
    peak: peak.peak,
    ...(slotFile ? { slots: countSlots(slotFile) } : {}),
    limits: lines,
    overflows,
    faults: faults.filter((f) => Number.isFinite(f.at)),
  };
}
