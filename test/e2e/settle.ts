import { afterAll } from 'vitest';
import { api, claimSandbox, releaseSandbox } from './support.js';

/**
 * Each test file claims a sandbox of its own for as long as it runs (files run side by side, one per
 * sandbox), but the next file on that sandbox finds what this one left: a file that leaves runs or
 * held slots behind (a failing case stops before its own clean-up) would make the next fail for its
 * own reasons. After each file, every unfinished run is ended and every held slot freed; then, the
 * sandbox clean for the next file, the file fails if it had left any (its own clean-up is part of it).
 */
const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];

interface Run {
  id: string;
  name: string;
  state_type: string;
  state?: { timestamp?: string } | null;
}

/** A run cancelled while its worker was starting it can come back: its flow process sets it Running late. */
const COMEBACK_MS = 20_000;

const unfinished = () =>
  api<Run[]>('POST', '/flow_runs/filter', { flow_runs: { state: { type: { not_any_: FINAL } } }, limit: 200 });

const setState = (run: Run, type: string) =>
  api('POST', `/flow_runs/${run.id}/set_state`, {
    state: { type, message: 'ended by the end-to-end suite between test files' },
    force: true,
  });

async function endRuns(): Promise<Run[]> {
  const open = await unfinished();
  for (const run of open)
    await setState(run, ['RUNNING', 'CANCELLING', 'PENDING'].includes(run.state_type) ? 'CANCELLING' : 'CANCELLED');
  // A worker stops a Cancelling run's process within a few seconds; one it does not is forced.
  for (let i = 0; i < 20 && (await unfinished()).length > 0; i += 1) await new Promise((r) => setTimeout(r, 1000));
  for (const run of await unfinished()) await setState(run, 'CANCELLED');
  return open;
}

const named = (runs: Run[]) => runs.map((run) => `${run.name} (${run.state_type})`);

async function freeSlots(): Promise<string[]> {
  const limits = await api<{ id: string; name: string; active_slots: number }[]>(
    'POST',
    '/v2/concurrency_limits/filter',
    { limit: 200 },
  );
  const held = limits.filter((limit) => limit.active_slots > 0);
  for (const limit of held) await api('PATCH', `/v2/concurrency_limits/${limit.id}`, { active_slots: 0 });
  return held.map((limit) => `${limit.name} (${limit.active_slots})`);
}

/** Waits out the window in which a recently cancelled run may still be set Running by its flow process. */
async function waitForComebacks(): Promise<string[]> {
  const cancelled = await api<Run[]>('POST', '/flow_runs/filter', {
    flow_runs: { state: { type: { any_: ['CANCELLED'] } } },
    limit: 200,
  });
  const latest = Math.max(0, ...cancelled.map((run) => Date.parse(run.state?.timestamp ?? '') || 0));
  const back: string[] = [];
  while (Date.now() < latest + COMEBACK_MS) {
    await new Promise((r) => setTimeout(r, 2000));
    if ((await unfinished()).length > 0) back.push(...named(await endRuns()));
  }
  return back;
}

await claimSandbox();

afterAll(async () => {
  let left: string[];
  try {
    const open = await endRuns();
    const slots = await freeSlots();
    // A run already Cancelling is being ended by the file's own clean-up (its worker takes seconds), and
    // a slot may be left by forcing such a run Cancelled: only what a quiet sandbox still held is the file's.
    const runs = open.filter((run) => run.state_type !== 'CANCELLING');
    left = [...named(runs).map((run) => `run ${run}`), ...(open.length ? [] : slots).map((s) => `slots of ${s}`)];
    // A run the file cancelled may be set Running late by Prefect itself: ended and said, not the file's fault.
    const late = [...(open.length ? slots : []), ...(await waitForComebacks()), ...(await freeSlots())];
    if (late.length) console.warn(`ended or freed after the file's own clean-up: ${late.join(', ')}`);
  } finally {
    await releaseSandbox();
  }
  if (left.length) {
    throw new Error(`this test file left the sandbox busy (now cleaned for the next file): ${left.join(', ')}`);
  }
});
