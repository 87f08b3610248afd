import { parseInstant, type RunHistory, type StateRecord } from './peak.js';

/**
 * Whose runs a rehearsal is judged on. Its checks rest on its own runs: the burst it submitted is what
 * has to exercise a limit. Other runs of the deployment hold slots of the same limits, so they count
 * towards the peak, but only while one of the rehearsal's own runs existed: what ran before or after it
 * (another rehearsal's burst, read back later) is not this rehearsal's evidence.
 */

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);

export interface RehearsalWindow {
  from: string;
  to: string;
}

type Marked = RunHistory & { rehearsal?: boolean };

/**
 * From the first state of any own run to the last own run's final state, or `asOf` while one is unfinished;
 * undefined when no run is marked the rehearsal's (validate --all-runs: every run is judged). Takes runs one at
 * a time, so verify can find it in a first pass over a large state-history.json.
 */
export function rehearsalWindowCollector(asOf: string): {
  add(run: Marked): void;
  finish(): RehearsalWindow | undefined;
} {
  let from: StateRecord | undefined;
  let to: StateRecord | undefined;
  let open = false;
  return {
    add(run) {
      if (!run.rehearsal || run.states.length === 0) return;
      const sorted = [...run.states].sort((a, b) => parseInstant(a.timestamp) - parseInstant(b.timestamp));
      const first = sorted[0] as StateRecord;
      const last = sorted.at(-1) as StateRecord;
      if (!from || parseInstant(first.timestamp) < parseInstant(from.timestamp)) from = first;
      if (!FINAL.has(last.type)) open = true;
      else if (!to || parseInstant(last.timestamp) > parseInstant(to.timestamp)) to = last;
    },
    finish: () => (from ? { from: from.timestamp, to: open || !to ? asOf : to.timestamp } : undefined),
  };
}

export function rehearsalWindow(runs: readonly Marked[], asOf: string): RehearsalWindow | undefined {
  const collector = rehearsalWindowCollector(asOf);
  for (const run of runs) collector.add(run);
  return collector.finish();
}

/** One other run's states as they stood within the window, closed at its end; undefined if it had none there. */
export function clipRun(run: RunHistory, window: RehearsalWindow, asOf: string): RunHistory | undefined {
  const from = parseInstant(window.from);
  const to = parseInstant(window.to);
  const sorted = [...run.states].sort((a, b) => parseInstant(a.timestamp) - parseInstant(b.timestamp));
  const before = sorted.filter((s) => parseInstant(s.timestamp) <= from).at(-1);
  const inside = sorted.filter((s) => parseInstant(s.timestamp) > from && parseInstant(s.timestamp) < to);
  const states: StateRecord[] = [
    ...(before && !FINAL.has(before.type) ? [{ ...before, timestamp: window.from }] : []),
    ...inside,
  ];
  if (states.length === 0) return undefined;
  // Still RUNNING when the rehearsal's last run ended: it stops counting there.
  if (states.at(-1)?.type === 'RUNNING' && parseInstant(window.to) < parseInstant(asOf))
    states.push({ timestamp: window.to, type: 'SCHEDULED', name: 'outside this rehearsal' });
  return { ...run, states };
}

export interface CountedRuns {
  /** Own runs whole, other runs clipped to the window: what every peak of the rehearsal is measured over. */
  counted: RunHistory[];
  /** Names (or ids) of other runs that were RUNNING beside the rehearsal's own. */
  others: string[];
}

/** The histories a rehearsal's peaks are measured over: `own` whole, every other run within `window` only. */
export function countedRuns(
  histories: readonly RunHistory[],
  own: ReadonlySet<string>,
  window: RehearsalWindow | undefined,
  asOf: string,
): CountedRuns {
  if (!window) return { counted: [...histories], others: [] };
  const counted: RunHistory[] = [];
  const others = new Set<string>();
  for (const run of histories) {
    if (own.has(run.runId)) {
      counted.push(run);
      continue;
    }
    const clipped = clipRun(run, window, asOf);
    if (!clipped) continue;
    counted.push(clipped);
    if (clipped.states.some((s) => s.type === 'RUNNING')) others.add(run.runName ?? run.runId);
  }
  return { counted, others: [...others] };
}
