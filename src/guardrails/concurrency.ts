import { computePeakConcurrency, type PeakResult, type PeakWindow, type RunHistory, windowsAbove } from './peak.js';
import type { Check } from './verdict.js';

type LimitId =
  | 'concurrency.manifest_limit'
  | 'concurrency.deployment_limit'
  | 'concurrency.work_pool_limit'
  | 'concurrency.global_limit';

/** What a limit bounds: runs RUNNING (deployment and work-pool limits) or occupied slots (a global limit). */
type Measure = 'running' | 'slots';

/** One limit that applies to the rehearsal's runs, and where it comes from. */
export interface AppliedLimit {
  id: LimitId;
  title: string;
  /** How the limit is named in reasons, e.g. "deployment limit". */
  label: string;
  measure: Measure;
  /** undefined when not set or not active: then nothing enforces it. */
  limit: number | undefined;
  why: string;
}

export interface SlotEventLike {
  occurred: string;
  event: string;
  limitName: string;
  flowRunId: string | undefined;
  /** Slots the acquisition took or the release gave back (the flow's `occupy`); 1 when the event does not say. */
  slots?: number;
}

interface Measured {
  histories: readonly RunHistory[];
  peak: PeakResult;
}

/** What the rehearsal showed, in both measures, for judging every limit. */
export interface LimitEvidence {
  running: Measured;
  slots: Measured;
  /** The most slots one acquisition took; undefined when no acquisition was seen. */
  occupy: number | undefined;
  /** Runs the rehearsal itself submitted: only these can show that it exercised a limit. */
  submitted: number;
  /** Other runs of the deployment RUNNING beside the rehearsal's: counted in the peak, never credited with a pass. */
  others: readonly string[];
  /** Names of runs that waited in AwaitingConcurrencySlot: the deployment limit was full then. */
  waited: readonly string[];
  asOf: string;
}

const UNIT: Record<Measure, string> = { running: 'runs RUNNING', slots: 'slots occupied' };

function describeWindows(windows: readonly PeakWindow[], names: Map<string, string>): string {
  const one = (w: PeakWindow): string => {
    const counts = new Map<string, number>();
    for (const id of w.runIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    const runs = [...counts].map(([id, n]) => `${names.get(id) ?? id}${n > 1 ? ` ×${n}` : ''}`);
    return `${w.start}..${w.end}: ${runs.join(', ')}`;
  };
  return windows.slice(0, 3).map(one).join('; ') + (windows.length > 3 ? `; ${windows.length - 3} more` : '');
}

interface Shield {
  by: AppliedLimit;
  capacity: number;
}

/** The tightest other limit that keeps `applied` from ever being reached, with the most it lets through. */
function findShield(
  applied: AppliedLimit,
  others: readonly AppliedLimit[],
  occupy: number | undefined,
): Shield | undefined {
  if (applied.limit === undefined) return undefined;
  let best: Shield | undefined;
  for (const other of others) {
    if (other === applied || other.limit === undefined || other.id === 'concurrency.manifest_limit') continue;
    // A run RUNNING may still wait for a slot, so a slot limit never caps RUNNING runs.
    if (applied.measure === 'running' && other.measure === 'slots') continue;
    const perRun = applied.measure === 'slots' && other.measure === 'running' ? (occupy ?? 1) : 1;
    const capacity = other.limit * perRun;
    if (capacity < applied.limit && (!best || capacity < best.capacity)) best = { by: other, capacity };
  }
  return best;
}

function explainOccupy(applied: AppliedLimit, evidence: LimitEvidence): string {
  if (applied.measure !== 'slots' || evidence.occupy === undefined || applied.limit === undefined) return '';
  const all = evidence.occupy >= applied.limit ? ', so one run holds them all and runs take turns' : '';
  return `; each run occupies ${evidence.occupy} of the ${applied.limit} slot(s)${all}`;
}

/**
 * Judge one limit against what it bounds. A pass needs evidence the limit was reached and held;
 * a limit a tighter one keeps out of reach passes only when that tighter one was reached (and is named).
 */
export function judgeLimit(
  applied: AppliedLimit,
  evidence: LimitEvidence,
  others: readonly AppliedLimit[] = [],
): Check {
  const measured = evidence[applied.measure];
  const peak = measured.peak.peak;
  const unit = UNIT[applied.measure];
  const base = {
    id: applied.id,
    step: 'validate',
    title: applied.title,
    expected: applied.limit ?? null,
    actual: peak,
  };
  if (applied.limit === undefined) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `${applied.why}: nothing to measure against (peak ${peak} ${unit})`,
    };
  }
  const limit = applied.limit;
  const names = new Map(measured.histories.map((h) => [h.runId, h.runName ?? h.runId]));
  const occupy = explainOccupy(applied, evidence);
  if (peak > limit) {
    const over = windowsAbove(measured.histories, limit, evidence.asOf);
    const span = over.length
      ? `; above the limit in ${over.length} window(s), ${over[0]?.start}..${over.at(-1)?.end}`
      : '';
    const atPeak = describeWindows(measured.peak.windows, names);
    const reason = `${peak} ${unit} at once, ${applied.label} ${limit}; at the peak: ${atPeak}${span}${occupy}`;
    return { ...base, verdict: 'fail', actual: { peak, windows: over }, reason };
  }
  return { ...base, ...judgeWithinLimit(applied, evidence, others, limit, occupy) };
}

/** A peak within the limit: a pass only when the rehearsal's own runs filled it (or a tighter limit) and were held. */
function judgeWithinLimit(
  applied: AppliedLimit,
  evidence: LimitEvidence,
  others: readonly AppliedLimit[],
  limit: number,
  occupy: string,
): Pick<Check, 'verdict' | 'reason'> {
  const peak = evidence[applied.measure].peak.peak;
  const unit = UNIT[applied.measure];
  const perRun = applied.measure === 'slots' ? (evidence.occupy ?? 1) : 1;
  const beside = describeOthers(evidence.others);
  const own = evidence.submitted * perRun;
  // Only the rehearsal's own runs earn a pass: a limit filled with other runs' help proves nothing of it.
  const notOwn = (filled: number, how: string): Pick<Check, 'verdict' | 'reason'> => ({
    verdict: 'inconclusive',
    reason:
      `${how}, but this rehearsal's own ${evidence.submitted} run(s) could not fill ${filled} alone` +
      `${beside}; rerun it alone with --burst ${Math.floor(filled / perRun) + 1}${occupy}`,
  });
  if (peak === limit) {
    if (own < limit) return notOwn(limit, `peak ${peak} ${unit} reached the ${applied.label} of ${limit}`);
    const held = `and never exceeded it (${evidence.submitted} submitted${beside})`;
    return {
      verdict: 'pass',
      reason: `peak ${peak} ${unit} reached the ${applied.label} of ${limit} ${held}${occupy}`,
    };
  }
  if (applied.id === 'concurrency.deployment_limit' && evidence.waited.length) {
    const who = evidence.waited.slice(0, 5).join(', ');
    const waited = `${evidence.waited.length} run(s) waited for a slot of the ${applied.label} of ${limit}`;
    if (own <= limit) return notOwn(limit, `${waited} (AwaitingConcurrencySlot: ${who})`);
    return {
      verdict: 'pass',
      reason: `${waited} (AwaitingConcurrencySlot: ${who}), so it was full and held; peak ${peak} ${unit}${beside}`,
    };
  }
  const shield = findShield(applied, others, evidence.occupy);
  if (shield && peak === shield.capacity && own < shield.capacity)
    return notOwn(shield.capacity, `peak ${peak} ${unit} reached what the ${shield.by.label} lets through`);
  if (shield) return judgeShielded(applied, shield, peak, unit, occupy);
  const target = `the ${applied.label} of ${limit}`;
  if (evidence.submitted * perRun <= limit) {
    const few = `only ${evidence.submitted} run(s) were submitted, so ${target} could not be reached (peak ${peak} ${unit})`;
    return {
      verdict: 'inconclusive',
      reason: `${few}; use --burst ${Math.floor(limit / perRun) + 1}${occupy}`,
    };
  }
  const none =
    applied.measure === 'slots' && peak === 0
      ? 'no run acquired a slot of it'
      : 'the runs never overlapped enough to fill it';
  const under = `peak ${peak} ${unit} under ${target} although ${evidence.submitted} run(s) were submitted`;
  return { verdict: 'inconclusive', reason: `${under}: ${none}, so nothing showed it throttling${occupy}` };
}

/** Other runs that counted towards the peak, named so a reader sees the rehearsal was not alone. */
function describeOthers(others: readonly string[]): string {
  if (others.length === 0) return '';
  const named = others.slice(0, 5).join(', ') + (others.length > 5 ? `, ${others.length - 5} more` : '');
  return `; ${others.length} other run(s) of the deployment ran beside them and count towards the peak: ${named}`;
}

/** A limit kept out of reach: proven only through the tighter limit that shields it, which is named; never a burst advice. */
function judgeShielded(
  applied: AppliedLimit,
  shield: Shield,
  peak: number,
  unit: string,
  occupy: string,
): Pick<Check, 'verdict' | 'reason'> {
  const tighter = `the ${shield.by.label} of ${String(shield.by.limit)}`;
  const most = `shielded: at most ${shield.capacity} ${unit} can happen under ${tighter}`;
  const target = `the ${applied.label} of ${String(applied.limit)}`;
  return peak === shield.capacity
    ? {
        verdict: 'pass',
        reason: `${most}, which the runs reached (peak ${peak}) and held, so ${target} cannot be reached while ${tighter} stands${occupy}`,
      }
    : {
        verdict: 'inconclusive',
        reason: `${most}, and even that was not reached (peak ${peak}), so ${target} was never tested${occupy}`,
      };
}

/**
 * The manifest's promise, judged through what each promised limit bounds: its deployment limit
 * against runs RUNNING, its key's limit against occupied slots, the live limits as possible shields.
 */
export interface ManifestPromise {
  deploymentLimit: number | undefined;
  keyLimit: number | undefined;
  source: string;
}

export function judgeManifest(promise: ManifestPromise, evidence: LimitEvidence, live: readonly AppliedLimit[]): Check {
  const title = "peak concurrency within the manifest's limits";
  const id = 'concurrency.manifest_limit';
  const parts: AppliedLimit[] = [
    { id, title, label: "manifest's deployment limit", measure: 'running', limit: promise.deploymentLimit, why: '' },
    { id, title, label: "manifest's key limit", measure: 'slots', limit: promise.keyLimit, why: '' },
  ].filter((p) => p.limit !== undefined) as AppliedLimit[];
  const base = { id, step: 'validate', title };
  if (parts.length === 0) {
    const reason = `${promise.source} promises no limit: nothing to measure against`;
    return { ...base, verdict: 'inconclusive', expected: null, actual: evidence.running.peak.peak, reason };
  }
  const judged = parts.map((p) => judgeLimit(p, evidence, live));
  const rank = { fail: 0, inconclusive: 1, pass: 2 } as const;
  judged.sort((a, b) => rank[a.verdict] - rank[b.verdict]);
  const verdict = judged[0]?.verdict ?? 'inconclusive';
  const failing = judged.find((c) => c.verdict === 'fail');
  return {
    ...base,
    verdict,
    expected: {
      ...(promise.deploymentLimit !== undefined ? { runsRunning: promise.deploymentLimit } : {}),
      ...(promise.keyLimit !== undefined ? { slotsOccupied: promise.keyLimit } : {}),
    },
    actual: {
      runsRunning: evidence.running.peak.peak,
      slotsOccupied: evidence.slots.peak.peak,
      ...(failing ? { windows: (failing.actual as { windows: unknown }).windows } : {}),
    },
    reason: judged.map((c) => c.reason).join(' | '),
  };
}

/**
 * Occupied slots of one global limit as intervals, one history per slot, in the shape the sweep takes:
 * an acquisition of n slots opens n intervals of that run, so one run with occupy 2 counts 2.
 */
export function slotHolderHistories(events: readonly SlotEventLike[], limitName: string): RunHistory[] {
  const bySlot = new Map<string, RunHistory>();
  const held = new Map<string, number>();
  const order: string[] = [];
  const sorted = events
    .filter((e) => e.limitName === limitName && e.flowRunId)
    .sort((a, b) => a.occurred.localeCompare(b.occurred));
  for (const e of sorted) {
    const runId = e.flowRunId as string;
    const n = Math.max(1, e.slots ?? 1);
    const acquired = e.event.endsWith('.acquired');
    const before = held.get(runId) ?? 0;
    const first = acquired ? before : Math.max(0, before - n);
    for (let slot = first; slot < first + n; slot += 1) {
      const key = `${runId}#${slot}`;
      if (!bySlot.has(key)) {
        bySlot.set(key, { runId, states: [] });
        order.push(key);
      }
      bySlot.get(key)?.states.push({ timestamp: e.occurred, type: acquired ? 'RUNNING' : 'COMPLETED' });
    }
    held.set(runId, acquired ? before + n : first);
  }
  return order.map((key) => bySlot.get(key) as RunHistory);
}

/** The most slots one acquisition of the limit took. */
export function findOccupy(events: readonly SlotEventLike[], limitName: string): number | undefined {
  const taken = events
    .filter((e) => e.limitName === limitName && e.event.endsWith('.acquired'))
    .map((e) => e.slots ?? 1);
  return taken.length ? Math.max(...taken) : undefined;
}

export function measurePeak(histories: readonly RunHistory[], asOf: string): PeakResult {
  return computePeakConcurrency(histories, asOf);
}
