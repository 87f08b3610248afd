import type { Context } from '../context.js';
import type { Bundle } from '../evidence/bundle.js';
import { writeFaults } from '../faults/evidence.js';
import { faultScheduler, type KeySlots } from '../faults/scheduler.js';
import { judgeInjections, judgeUntouched } from '../guardrails/faults.js';
import type { Check } from '../guardrails/verdict.js';
import type { CancelledRun } from '../prefect/cancel.js';
import { INVALID_LIMIT_NAME } from '../prefect/fixes.js';
import { readGlobalLimit } from '../prefect/queries.js';
import type { FlowRun } from '../prefect/schemas.js';
import { freeHeldSlots } from './cleanup.js';
import type { RunPlan } from './run-burst.js';

/** The run step's faults: injected from its watch, judged and written once its runs are final (or it failed). */
export interface RunFaults {
  onRuns(runs: readonly FlowRun[], primaryId: string | undefined): void;
  /** Runs a fault cancelled on purpose. */
  hit(): ReadonlySet<string>;
  /** Every run final: faults.json, the notes, one check per fault and faults.untouched_completed. */
  record(
    bundle: Bundle,
    runs: readonly FlowRun[],
    primaryId: string | undefined,
  ): Promise<{ checks: Check[]; files: string[] }>;
  /** The step failed or was interrupted: validate will not run, so held slots are given back here. */
  rollBack(bundle: Bundle, runs: readonly FlowRun[], cancelled: readonly CancelledRun[]): Promise<string[]>;
}

/** The context's API without its abort signal: the rollback runs also after Ctrl-C. */
function unstoppable(ctx: Context): Context {
  return {
    ...ctx,
    api: { ...ctx.api, request: (request, options) => ctx.api.request(request, { ...options, signal: undefined }) },
  };
}

/** The global limit the runs' concurrency key names, read for limit-reached (none when no key names one). */
function keySlots(ctx: Context, plan: RunPlan): KeySlots | undefined {
  const name = plan.parameters.concurrency_key ?? plan.deployment.parameters.concurrency_key;
  if (typeof name !== 'string' || name === '' || INVALID_LIMIT_NAME.test(name)) return undefined;
  return {
    name,
    async read() {
      const limit = await readGlobalLimit(ctx.api, name);
      return limit?.active ? { active: limit.active_slots, limit: limit.limit } : undefined;
    },
  };
}

export function runFaults(ctx: Context, plan: RunPlan): RunFaults | undefined {
  if (ctx.config.faults.length === 0) return undefined;
  const scheduler = faultScheduler(ctx, ctx.config.faults, plan.strictest ?? plan.burst, keySlots(ctx, plan));
  return {
    onRuns: (runs, primaryId) => scheduler.onRuns(runs, primaryId),
    hit: () => scheduler.hitRunIds(),
    async record(bundle, runs, primaryId) {
      const faults = await scheduler.settled(runs);
      const rollback = {
        at: ctx.now().toISOString(),
        runsCancelled: [],
        slots: [],
        pending: 'every run was final; validate gives back slots still held once slots.released has judged them',
      };
      const files = await writeFaults(ctx, bundle, { faults, rollback });
      const checks = [...judgeInjections(faults), judgeUntouched(runs, scheduler.hitRunIds(), primaryId)];
      return { checks, files };
    },
    async rollBack(bundle, runs, cancelled) {
      const faults = await scheduler.settled(runs);
      const slots = await freeHeldSlots(unstoppable(ctx), plan.deployment, new Set()).catch(() => []);
      const rollback = {
        at: ctx.now().toISOString(),
        runsCancelled: cancelled.map((r) => ({ id: r.id, name: r.name, from: r.from, to: r.state })),
        slots: slots.map(({ limit, activeSlots, action }) => ({ limit, activeSlots, action })),
      };
      return writeFaults(ctx, bundle, { faults, rollback });
    },
  };
}
