import type { Bundle } from '../../bundle/bundle.js';
import { NOTES_FILE } from '../../bundle/notes.js';
import type { Context } from '../../context.js';
import { readFaultsFile, writeFaults } from '../../faults/evidence.js';
import type { Check } from '../../guardrails/verdict.js';
import type { Deployment } from '../../prefect/schemas.js';
import { freeHeldSlots } from '../cleanup/cleanup.js';

/**
 * A fault rehearsal's recovery once validate has judged the slots: when they were seen back, then the
 * rollback gives back what no live run holds (as cleanup does), after the check, so it never hides a slot
 * the fault left held. Nothing for a rehearsal without faults.
 */
export async function settleFaults(
  ctx: Context,
  bundle: Bundle,
  deployment: Deployment,
  released: Check | undefined,
  askedAt: number,
): Promise<string[]> {
  const file = await readFaultsFile(bundle.dir);
  if (!file) return [];
  const seenAt = ctx.clock.now();
  const injected = file.faults.map((f) => (f.injectedAt ? Date.parse(f.injectedAt) : Number.NaN));
  const first = Math.min(...injected.filter((t) => !Number.isNaN(t)));
  if (released) {
    file.slotsReleased = {
      verdict: released.verdict,
      reason: released.reason,
      validateWaitedSeconds: Math.round((seenAt - askedAt) / 1000),
      ...(released.verdict === 'pass' && Number.isFinite(first)
        ? { backWithinSeconds: Math.max(0, Math.round((ctx.now().getTime() - first) / 1000)) }
        : {}),
    };
  }
  const slots = await freeHeldSlots(ctx, deployment, new Set());
  file.rollback = {
    at: ctx.now().toISOString(),
    runsCancelled: file.rollback.runsCancelled,
    slots: slots.map(({ limit, activeSlots, action }) => ({ limit, activeSlots, action })),
  };
  // validate writes its own notes section after this: notes.md is listed once, by it.
  return (await writeFaults(ctx, bundle, file)).filter((rel) => rel !== NOTES_FILE);
}

/** When the last fault of the rehearsal restarted the sandbox's server (restart-api, api-outage), if one did. */
export async function serverRestartedAt(dir: string): Promise<string | undefined> {
  const file = await readFaultsFile(dir).catch(() => undefined);
  const restarts = (file?.faults ?? []).flatMap((f) =>
    f.action?.stoppedPid && f.action.restartedAt ? [f.action.restartedAt] : [],
  );
  return restarts.sort().at(-1);
}
