import { RehearseError } from '../errors.js';

export interface StateRecord {
  id?: string;
  timestamp: string;
  type: string;
  name?: string | null;
}
export interface RunHistory {
  runId: string;
  runName?: string;
  states: StateRecord[];
}
export interface RunningInterval {
  runId: string;
  start: string;
  end: string;
  open: boolean;
}
/** A maximal window during which a constant set of runs was RUNNING at once. */
export interface PeakWindow {
  start: string;
  end: string;
  runIds: string[];
}
export interface PeakResult {
  peak: number;
  windows: PeakWindow[];
  intervals: RunningInterval[];
  runsThatRan: number;
  runsThatNeverRan: string[];
}

/** Reports stay readable and the per-window run-set scans stay bounded. */
const MAX_WINDOWS = 20;

/** A merged RUNNING interval with its instants in microseconds, half-open: [from, to). */
interface Span {
  interval: RunningInterval;
  from: number;
  to: number;
}

/** NaN unless `count` decimal digits start at `at`. */
function readDigits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return NaN;
    value = value * 10 + digit;
  }
  return value;
}

/** Microseconds of the fraction after `dot`; Prefect stamps microseconds, which Date.parse would drop. */
function readFractionMicros(text: string, dot: number): number {
  let micros = 0;
  for (let i = dot + 1, scale = 100_000; scale >= 1; i++, scale /= 10) {
    const digit = text.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) break;
    micros += digit * scale;
  }
  return micros;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function countDaysFromEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return (
    era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468
  );
}

/** Prefect's UTC shape, YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00), read by hand: Date.parse dominates the cost at 100k runs. */
function readUtcMicros(text: string): number {
  const zone = text.endsWith('Z') ? text.length - 1 : text.endsWith('+00:00') ? text.length - 6 : -1;
  if (zone < 19 || text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':')
    return NaN;
  if (zone > 19 && (zone === 20 || text[19] !== '.' || Number.isNaN(readDigits(text, 20, zone - 20)))) return NaN;
  const days = countDaysFromEpoch(readDigits(text, 0, 4), readDigits(text, 5, 2), readDigits(text, 8, 2));
  const seconds = ((days * 24 + readDigits(text, 11, 2)) * 60 + readDigits(text, 14, 2)) * 60 + readDigits(text, 17, 2);
  return seconds * 1_000_000 + (zone > 19 ? readFractionMicros(text, 19) : 0);
}

/** Microseconds since the epoch. */
export function parseInstant(timestamp: string): number {
  const utc = readUtcMicros(timestamp);
  if (!Number.isNaN(utc)) return utc;
  const ms = Date.parse(timestamp);
  if (Number.isNaN(ms)) {
    throw new RehearseError(
      'UNEXPECTED_OUTPUT',
      `Prefect returned a state with an unreadable timestamp: ${JSON.stringify(timestamp)}`,
    );
  }
  const dot = timestamp.indexOf('.');
  return Math.floor(ms / 1000) * 1_000_000 + (dot < 0 ? 0 : readFractionMicros(timestamp, dot));
}

function collectSpans(history: RunHistory, asOf: string, asOfAt: number, into: Span[]): void {
  const states = history.states;
  const times = states.map((state) => parseInstant(state.timestamp));
  let order: number[] | undefined;
  for (let i = 1; i < times.length; i++) {
    if (times[i]! < times[i - 1]!) {
      order = times.map((_, index) => index).sort((a, b) => times[a]! - times[b]!);
      break;
    }
  }

  let current: Span | undefined;
  for (let k = 0; k < states.length; k++) {
    const index = order === undefined ? k : order[k]!;
    if (states[index]!.type !== 'RUNNING') continue;
    const next = k + 1 === states.length ? undefined : order === undefined ? k + 1 : order[k + 1]!;
    const from = times[index]!;
    const open = next === undefined;
    const to = open ? Math.max(asOfAt, from) : times[next]!;
    const end = open ? (to === asOfAt ? asOf : states[index]!.timestamp) : states[next]!.timestamp;
    // Intervals that touch or overlap are one stretch of work: a run must never count against itself.
    if (current !== undefined && from <= current.to) {
      current.to = to;
      current.interval.end = end;
      current.interval.open = open;
      continue;
    }
    current = { interval: { runId: history.runId, start: states[index]!.timestamp, end, open }, from, to };
    into.push(current);
  }
}

/** The merged RUNNING intervals of one run; a run still RUNNING at `asOf` gets an open interval ending there. */
export function runningIntervals(history: RunHistory, asOf: string): RunningInterval[] {
  const spans: Span[] = [];
  collectSpans(history, asOf, parseInstant(asOf), spans);
  return spans.map((span) => span.interval);
}

/**
 * The merged RUNNING stretches of a set of runs, in start order: all the sweep needs, a few numbers and strings a
 * run. Collected one run at a time, so a reader can hand runs over as it parses them and keep none.
 */
export interface RunningSpans {
  spans: Span[];
  neverRan: string[];
  runs: number;
}

function collectRunningSpans(histories: Iterable<RunHistory>, asOf: string): RunningSpans {
  const collector = runningSpanCollector(asOf);
  for (const history of histories) collector.add(history);
  return collector.finish();
}

/** Takes runs one at a time (as a streaming reader hands them over) and keeps only their RUNNING stretches. */
export function runningSpanCollector(asOf: string): { add(history: RunHistory): void; finish(): RunningSpans } {
  const asOfAt = parseInstant(asOf);
  const spans: Span[] = [];
  const neverRan: string[] = [];
  let runs = 0;
  return {
    add(history) {
      const before = spans.length;
      collectSpans(history, asOf, asOfAt, spans);
      if (spans.length === before) neverRan.push(history.runId);
      runs += 1;
    },
    finish() {
      spans.sort((a, b) => a.from - b.from);
      return { spans, neverRan, runs };
    },
  };
}

/**
 * Sweep events, one number each: instant * 2, plus 1 for a start, so a numeric sort puts ENDs before STARTs
 * at the same instant and touching intervals never overlap. Microsecond instants * 2 stay exact until ~2112.
 * Zero-length intervals overlap nothing, so they make no events.
 */
function buildSweepEvents(spans: readonly Span[]): Float64Array {
  const events = new Float64Array(spans.length * 2);
  let n = 0;
  for (const span of spans) {
    if (span.to <= span.from) continue;
    events[n++] = span.from * 2 + 1;
    events[n++] = span.to * 2;
  }
  return events.subarray(0, n).sort();
}

function findPeak(events: Float64Array): number {
  let count = 0;
  let peak = 0;
  for (const event of events) {
    count += event % 2 === 0 ? -1 : 1;
    if (count > peak) peak = count;
  }
  return peak;
}

/** Segments [from, to) between consecutive event instants whose constant count satisfies `qualifies`, in time order. */
function* sweepSegments(
  events: Float64Array,
  qualifies: (count: number) => boolean,
): Generator<{ from: number; to: number; count: number }> {
  let count = 0;
  for (let i = 0; i < events.length; ) {
    const at = Math.floor(events[i]! / 2);
    while (i < events.length && Math.floor(events[i]! / 2) === at) count += events[i++]! % 2 === 0 ? -1 : 1;
    if (i < events.length && qualifies(count)) yield { from: at, to: Math.floor(events[i]! / 2), count };
  }
}

/** Run sets are computed only for reported windows, by scanning the spans that can overlap them. */
function describeWindow(spans: readonly Span[], from: number, to: number): PeakWindow {
  const runIds: string[] = [];
  let start = '';
  let end = '';
  for (const span of spans) {
    if (span.from > to) break;
    if (span.from < to && span.to > from && span.to > span.from) runIds.push(span.interval.runId);
    if (span.from === from) start = span.interval.start;
    else if (span.to === from) start = span.interval.end;
    if (span.to === to) end = span.interval.end;
    else if (span.from === to) end = span.interval.start;
  }
  return { start, end, runIds: runIds.sort() };
}

function collectWindows(
  spans: readonly Span[],
  events: Float64Array,
  qualifies: (count: number) => boolean,
): PeakWindow[] {
  const windows: PeakWindow[] = [];
  let last: { to: number; count: number; key: string } | undefined;
  for (const segment of sweepSegments(events, qualifies)) {
    const window = describeWindow(spans, segment.from, segment.to);
    const key = window.runIds.join('\u0000');
    if (last !== undefined && last.to === segment.from && last.count === segment.count && last.key === key) {
      windows[windows.length - 1]!.end = window.end;
      last.to = segment.to;
      continue;
    }
    if (windows.length === MAX_WINDOWS) break;
    windows.push(window);
    last = { to: segment.to, count: segment.count, key };
  }
  return windows;
}

/** The true peak of simultaneously RUNNING runs, with the (first MAX_WINDOWS) windows at which it was reached. */
export function computePeakConcurrency(histories: Iterable<RunHistory>, asOf: string): PeakResult {
  return peakOf(collectRunningSpans(histories, asOf));
}

export function peakOf({ spans, neverRan, runs }: RunningSpans): PeakResult {
  const events = buildSweepEvents(spans);
  const peak = findPeak(events);
  return {
    peak,
    windows: peak === 0 ? [] : collectWindows(spans, events, (count) => count === peak),
    intervals: spans.map((span) => span.interval),
    runsThatRan: runs - neverRan.length,
    runsThatNeverRan: neverRan,
  };
}

/** Peak count over time bounded by a given limit: the windows in which more than `limit` runs were RUNNING at once (first MAX_WINDOWS). */
export function windowsAbove(histories: Iterable<RunHistory>, limit: number, asOf: string): PeakWindow[] {
  const { spans } = collectRunningSpans(histories, asOf);
  return collectWindows(spans, buildSweepEvents(spans), (count) => count > limit);
}
