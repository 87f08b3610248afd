// One size of the in-process validation bench, in its own node process so sizes do not share a heap:
//   node --expose-gc bench/peak-child.js <runs> <repeats>
// Builds a synthetic state history of <runs> runs (5 states each, Prefect-shaped: ISO timestamps
// with microseconds, state ids), calls computePeakConcurrency once cold, then times it <repeats>
// times, and prints one JSON line (times, peak RSS, heap growth).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { computePeakConcurrency } from '../dist/guardrails/peak.js';

const runs = Number(process.argv[2]);
const repeats = Number(process.argv[3] ?? 5);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(repeats) || repeats < 1) {
  process.stderr.write('usage: node --expose-gc bench/peak-child.js <runs> <repeats>\n');
  process.exit(2);
}

/** A small deterministic PRNG (mulberry32) so every machine benches the same history. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Microseconds since the epoch as Prefect prints them: 2024-01-01T00:00:01.234567Z. */
function iso(us) {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

/**
 * A deployment with a limit of 2 that held: runs arrive every ~4 s; a run that finds both slots
 * taken waits in AwaitingConcurrencySlot, otherwise the worker picks it up a little Late.
 * Scheduled -> (AwaitingConcurrencySlot | Late) -> Pending -> Running -> Completed.
 */
function buildHistories(count) {
  const random = prng(20240101);
  const second = 1_000_000;
  const between = (lo, hi) => Math.round((lo + random() * (hi - lo)) * second);
  const slots = [0, 0];
  let t = Date.UTC(2024, 0, 1) * 1000;
  const histories = new Array(count);
  for (let i = 0; i < count; i += 1) {
    t += between(1, 7);
    const scheduled = t;
    const slot = slots[0] <= slots[1] ? 0 : 1;
    const busy = slots[slot] > scheduled;
    const waitedAt = scheduled + between(0.05, busy ? 0.2 : 0.9);
    const pending = Math.max(waitedAt, slots[slot]) + between(0.05, 0.5);
    const running = pending + between(0.5, 2);
    const completed = running + between(2, 6);
    slots[slot] = completed;
    const state = (type, name, us) => ({ id: randomUUID(), timestamp: iso(us), type, name });
    // Through JSON, as validate gets each run's history from the API: flat strings, no cons strings.
    histories[i] = JSON.parse(
      JSON.stringify({
        runId: randomUUID(),
        runName: `bench-run-${i}`,
        states: [
          state('SCHEDULED', 'Scheduled', scheduled),
          busy ? state('SCHEDULED', 'AwaitingConcurrencySlot', waitedAt) : state('SCHEDULED', 'Late', waitedAt),
          state('PENDING', 'Pending', pending),
          state('RUNNING', 'Running', running),
          state('COMPLETED', 'Completed', completed),
        ],
      }),
    );
  }
  return { histories, asOf: iso(Math.max(...slots) + second) };
}

/** Linux: reset the peak-RSS mark (VmHWM) so the computation's own peak can be read; undefined elsewhere. */
function resetPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
function peakRssKB() {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

const rssAtStart = process.memoryUsage().rss;
const { histories, asOf } = buildHistories(runs);
globalThis.gc?.();
const canReset = resetPeakRss();
const before = process.memoryUsage();
// The first call runs cold (as in `rehearse validate`, which computes once per process); it is reported
// apart, and the timed calls that follow measure the algorithm rather than the JIT warming up.
const coldStarted = performance.now();
let result = computePeakConcurrency(histories, asOf);
const coldMs = performance.now() - coldStarted;
const heapAfterFirst = process.memoryUsage().heapUsed;
const timesMs = [];
for (let i = 0; i < repeats; i += 1) {
  const started = performance.now();
  result = computePeakConcurrency(histories, asOf);
  timesMs.push(performance.now() - started);
}
const computePeakRssKB = canReset ? peakRssKB() : undefined;
const sorted = [...timesMs].sort((a, b) => a - b);
const median =
  sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
process.stdout.write(
  `${JSON.stringify({
    runs,
    states: runs * 5,
    repeats,
    coldMs,
    timesMs,
    medianMs: median,
    peak: result.peak,
    windows: result.windows.length,
    intervals: result.intervals.length,
    gcExposed: typeof globalThis.gc === 'function',
    rssAtStartBytes: rssAtStart,
    rssWithHistoriesBytes: before.rss,
    heapWithHistoriesBytes: before.heapUsed,
    heapUsedDeltaBytes: heapAfterFirst - before.heapUsed,
    // Peak RSS from the moment the histories were in memory (Linux only): node + histories + computation.
    computePeakRssKB: computePeakRssKB ?? null,
    maxRssKB: process.resourceUsage().maxRSS,
  })}\n`,
);
