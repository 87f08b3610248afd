// @ts-check
// The synthetic state history the bench's peak and write rows share: Prefect-shaped runs of a deployment
// with a limit of 2 that held, deterministic on every machine.
import { randomUUID } from 'node:crypto';

/** A small deterministic PRNG (mulberry32) so every machine benches the same history. */
/** @param {number} seed */
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
/** @param {number} us */
function iso(us) {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

/**
 * A deployment with a limit of 2 that held: runs arrive every ~4 s; a run that finds both slots
 * taken waits in AwaitingConcurrencySlot, otherwise the worker picks it up a little Late.
 * Scheduled -> (AwaitingConcurrencySlot | Late) -> Pending -> Running -> Completed.
 * Yields one run at a time; the last value returned is the instant after every run ended.
 * @param {number} count
 */
export function* synthetic(count) {
  const random = prng(20240101);
  const second = 1_000_000;
  /** @param {number} lo @param {number} hi seconds */
  const between = (lo, hi) => Math.round((lo + random() * (hi - lo)) * second);
  /** @type {[number, number]} when each of the two slots frees */
  const slots = [0, 0];
  let t = Date.UTC(2024, 0, 1) * 1000;
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
    /** @param {string} type @param {string} name @param {number} us */
    const state = (type, name, us) => ({ id: randomUUID(), timestamp: iso(us), type, name });
    yield {
      runId: randomUUID(),
      runName: `bench-run-${i}`,
      rehearsal: true,
      states: [
        state('SCHEDULED', 'Scheduled', scheduled),
        busy ? state('SCHEDULED', 'AwaitingConcurrencySlot', waitedAt) : state('SCHEDULED', 'Late', waitedAt),
        state('PENDING', 'Pending', pending),
        state('RUNNING', 'Running', running),
        state('COMPLETED', 'Completed', completed),
      ],
    };
  }
  return iso(Math.max(...slots) + second);
}

/** The instant after the last run ended, from a pass that keeps nothing (the header needs it first). */
/** @param {number} count */
export function lastInstant(count) {
  const walk = synthetic(count);
  for (let next = walk.next(); ; next = walk.next()) if (next.done) return next.value;
}
