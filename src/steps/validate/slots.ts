import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { judgeSlotsReleased } from '../../guardrails/slots-released.js';
import type { Check } from '../../guardrails/verdict.js';
import { filterFlowRuns } from '../../prefect/runs.js';
import { type HeldSlots, readHeldSlots, readLeaseSeconds } from '../../prefect/slots.js';

const POLL_MS = 2_000;
const TELL_EVERY_MS = 15_000;
/**
 * After a fault restarted the sandbox's server, slots held across the restart have no lease left (the sandbox
 * keeps Prefect's default in-memory lease storage): none can expire, so only releases in flight are waited for.
 */
const AFTER_RESTART_SECONDS = 15;
/** Prefect's own default deployment lease, for a server that does not say what it uses. */
const DEFAULT_LEASE_SECONDS = 300;

const above = (now: readonly HeldSlots[], before: readonly HeldSlots[]): HeldSlots[] =>
  now.filter((n) => n.activeSlots > (before.find((b) => b.limit === n.limit)?.activeSlots ?? 0));

/**
 * slots.released: waits (polling, on the injected clock) for the limits to hold no more than before the burst,
 * up to the bound (`timeouts.slotReleaseSeconds`, else the server's lease duration plus a minute), then judges.
 * No check for a bundle whose run step recorded nothing before its burst (older bundles, --flow-run).
 */
export async function checkSlotsReleased(
  ctx: Context,
  before: readonly HeldSlots[] | undefined,
  deploymentId: string,
  unfinished: number,
  serverRestartedAt?: string,
): Promise<Check | undefined> {
  if (!before?.length) return undefined;
  const names = before.map((b) => b.limit);
  const lease = ctx.config.timeouts.slotReleaseSeconds === undefined ? await readLeaseSeconds(ctx.api) : undefined;
  const boundSeconds =
    ctx.config.timeouts.slotReleaseSeconds ??
    (serverRestartedAt ? AFTER_RESTART_SECONDS : (lease ?? DEFAULT_LEASE_SECONDS) + 60);
  const started = ctx.clock.now();
  let told = started;
  let now = await readHeldSlots(ctx.api, names);
  while (unfinished === 0 && above(now, before).length && ctx.clock.now() - started < boundSeconds * 1000) {
    if (ctx.clock.now() - told >= TELL_EVERY_MS) {
      told = ctx.clock.now();
      const held = above(now, before).map((h) => `${h.limit} ${h.activeSlots}`);
      const waited = Math.round((told - started) / 1000);
      ctx.reporter.emit({
        type: 'waiting',
        step: ctx.currentStep,
        message: `waiting for held slots to come back (${held.join(', ')}): ${waited} s of at most ${boundSeconds} s`,
      });
    }
    await ctx.clock.sleep(POLL_MS, ctx.signal);
    if (ctx.signal.aborted)
      throw new RehearseError('INTERRUPTED', 'interrupted while waiting for held slots to come back');
    now = await readHeldSlots(ctx.api, names);
  }
  // Unfinished runs hold what they hold by right: nothing to name.
  const stillHeld = unfinished === 0 && above(now, before).length > 0;
  const live = stillHeld
    ? await filterFlowRuns(ctx.api, {
        deployment_id: { any_: [deploymentId] },
        state: { type: { any_: ['PENDING', 'RUNNING', 'CANCELLING'] } },
      })
    : [];
  return judgeSlotsReleased({
    limits: before.map((b) => ({
      limit: b.limit,
      before: b.activeSlots,
      after: now.find((n) => n.limit === b.limit)?.activeSlots ?? 0,
    })),
    waitedSeconds: (ctx.clock.now() - started) / 1000,
    boundSeconds,
    liveRuns: live.map((r) => r.name),
    unfinished,
    ...(serverRestartedAt ? { serverRestartedAt } : {}),
  });
}
