import type { Bundle } from '../../bundle/bundle.js';
import type { Context } from '../../context.js';
import { writeFaults } from '../../faults/evidence.js';
import { knownWorkerPids, sandboxFlowProcesses } from '../../faults/processes.js';
import { faultScheduler, type KeySlots, type SandboxHands } from '../../faults/scheduler.js';
import { sandboxServerControl } from '../../faults/server.js';
import { sandboxWorkerControl, type WorkerControl } from '../../faults/workers.js';
import type { FaultRecord } from '../../guardrails/fault-record.js';
import { judgeInjections, judgeUntouched, judgeWorkerBack } from '../../guardrails/faults.js';
import type { Check } from '../../guardrails/verdict.js';
import type { CancelledRun } from '../../prefect/cancel.js';
import { INVALID_LIMIT_NAME } from '../../prefect/fixes.js';
import { readGlobalLimit } from '../../prefect/queries.js';
import type { FlowRun } from '../../prefect/schemas.js';
import { defaultStateDir, readSandboxState, sandboxProcessEnv } from '../../sandbox/state.js';
import { freeHeldSlots } from '../cleanup/cleanup.js';
import { type RunPlan, runKeyOf } from './burst.js';

/** The run step's faults: injected from its watch, judged and written once its runs are final (or it failed). */
export interface RunFaults {
  onRuns(runs: readonly FlowRun[], primaryId: string | undefined): void;
  /** Runs a fault cancelled on purpose. */
  hit(): ReadonlySet<string>;
  /** A fault has the API server down on purpose: the watch waits for it instead of giving up. */
  serverDown(): boolean;
  /** Every run final: faults.json, the notes, one check per fault and faults.untouched_completed. */
  record(
    bundle: Bundle,
    runs: readonly FlowRun[],
    primaryId: string | undefined,
  ): Promise<{ checks: Check[]; files: string[] }>;
  /** The step failed or was interrupted: validate will not run, so held slots are given back here. */
  rollBack(bundle: Bundle, runs: readonly FlowRun[], cancelled: readonly CancelledRun[]): Promise<string[]>;
}

/** Settings that decide how long a dead holder's slot stays held and how soon a queued run retries. */
const FAULT_SETTINGS = /LEASE|REPOSSESSOR|SLOT_WAIT|HEARTBEAT/;

/** The context's API without its abort signal: the rollback runs also after Ctrl-C. */
function unstoppable(ctx: Context): Context {
  return {
    ...ctx,
    api: { ...ctx.api, request: (request, options) => ctx.api.request(request, { ...options, signal: undefined }) },
  };
}

/** The global limit the runs' concurrency key names, read for limit-reached (none when no key names one). */
function keySlots(ctx: Context, plan: RunPlan): KeySlots | undefined {
  const name = runKeyOf(plan);
  if (typeof name !== 'string' || name === '' || INVALID_LIMIT_NAME.test(name)) return undefined;
  return {
    name,
    async read() {
      const limit = await readGlobalLimit(ctx.api, name);
      return limit?.active ? { active: limit.active_slots, limit: limit.limit } : undefined;
    },
  };
}

/** The sandbox's settings that shape how a fault plays out (its timing, the key's lease): faults.json keeps them. */
async function faultSettings(env: NodeJS.ProcessEnv): Promise<Record<string, string> | undefined> {
  const state = await readSandboxState(defaultStateDir(env));
  if (!state) return undefined;
  const shaping = Object.entries(sandboxProcessEnv(state)).filter(([name]) => FAULT_SETTINGS.test(name));
  return { timing: state.timing ?? 'quick', ...Object.fromEntries(shaping) };
}

/** How long a restarted worker has to be heard from: its first heartbeat comes within seconds. */
const WORKER_BACK_MS = 90_000;

/** faults.worker_back, for a rehearsal that killed a worker: every sandbox worker heard from since its restart. */
async function workerBack(ctx: Context, faults: readonly FaultRecord[], workers: WorkerControl | undefined) {
  const restarts = faults.flatMap((f) =>
    f.kind === 'kill-worker' && f.action?.restartedAt ? [f.action.restartedAt] : [],
  );
  if (restarts.length === 0 || !workers) return undefined;
  const since = new Date(Math.max(...restarts.map((at) => Date.parse(at))));
  const live = await workers.liveAgain(since, WORKER_BACK_MS, ctx.clock).catch(() => false);
  return judgeWorkerBack(live, since.toISOString(), WORKER_BACK_MS / 1000);
}

export async function runFaults(ctx: Context, plan: RunPlan): Promise<RunFaults | undefined> {
  if (ctx.config.faults.length === 0) return undefined;
  const workers = await knownWorkerPids(ctx.prefect.sandbox, ctx.env);
  const hands: SandboxHands =
    workers.length > 0
      ? {
          processes: sandboxFlowProcesses(workers),
          workers: sandboxWorkerControl(ctx.env),
          server: sandboxServerControl(ctx.env, ctx.outage),
        }
      : {};
  const settings = ctx.prefect.sandbox ? await faultSettings(ctx.env) : undefined;
  const limit = plan.strictest ?? plan.burst;
  const scheduler = faultScheduler(ctx, ctx.config.faults, limit, keySlots(ctx, plan), hands);
  return {
    onRuns: (runs, primaryId) => scheduler.onRuns(runs, primaryId),
    hit: () => scheduler.hitRunIds(),
    serverDown: () => scheduler.serverDown(),
    async record(bundle, runs, primaryId) {
      const faults = await scheduler.settled(runs);
      const rollback = {
        at: ctx.now().toISOString(),
        runsCancelled: [],
        slots: [],
        pending: 'every run was final; validate gives back slots still held once slots.released has judged them',
      };
      const files = await writeFaults(ctx, bundle, { faults, rollback, ...(settings ? { settings } : {}) });
      const checks = [...judgeInjections(faults), judgeUntouched(runs, scheduler.hitRunIds(), primaryId)];
      const back = await workerBack(ctx, faults, hands.workers);
      return { checks: back ? [...checks, back] : checks, files };
    },
    async rollBack(bundle, runs, cancelled) {
      const faults = await scheduler.settled(runs);
      const slots = await freeHeldSlots(unstoppable(ctx), plan.deployment, new Set()).catch(() => []);
      const rollback = {
        at: ctx.now().toISOString(),
        runsCancelled: cancelled.map((r) => ({ id: r.id, name: r.name, from: r.from, to: r.state })),
        slots: slots.map(({ limit, activeSlots, action }) => ({ limit, activeSlots, action })),
      };
      return writeFaults(ctx, bundle, { faults, rollback, ...(settings ? { settings } : {}) });
    },
  };
}
