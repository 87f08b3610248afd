import { type FaultMoment, type FaultSpec, stopsServer } from '../config/faults.js';
import type { Context } from '../context.js';
import { messageOf } from '../errors.js';
import type { FaultRecord } from '../guardrails/fault-record.js';
import type { FlowRun } from '../prefect/schemas.js';
import { TERMINAL } from '../prefect/schemas.js';
import { cancelOne, killOne, killWorker, type Pending, runCommand, stopServer } from './actions.js';
import type { FlowProcesses } from './processes.js';
import type { ServerControl } from './server.js';
import { strandedWatch } from './stranded.js';
import type { WorkerControl } from './workers.js';

/**
 * The concurrency key's global limit, read while a fault waits for limit-reached: the moment also waits for
 * its slots to be held (`need` of them), so a fault hits a run inside the guarded block, not one still
 * starting. `read` answers the active slots and the limit, or undefined when the limit does not exist.
 */
export interface KeySlots {
  name: string;
  read(): Promise<{ active: number; limit: number } | undefined>;
}

/** How long limit-reached waits for the key's slots once the runs are RUNNING: a flow may never take the key. */
export const KEY_SLOTS_GRACE_MS = 20_000;

export interface FaultScheduler {
  /** Each poll's runs of the rehearsal: injects the faults whose moment has come, and follows their effect. */
  onRuns(runs: readonly FlowRun[], primaryId: string | undefined): void;
  /** Waits for injections under way; the records, every fault listed whether or not its moment came. */
  settled(finalRuns: readonly FlowRun[]): Promise<FaultRecord[]>;
  /** Runs a fault cancelled on purpose: their Cancelled is the fault's doing, not a failure. */
  hitRunIds(): Set<string>;
  /** Whether a fault has the API server down right now: the watch's unanswered polls are its doing. */
  serverDown(): boolean;
}

const running = (runs: readonly FlowRun[]): FlowRun[] => runs.filter((r) => r.state_type === 'RUNNING');

/** Whether the moment has come in this poll's runs; `limit` is the strictest limit (the burst when none). */
export function momentReached(moment: FaultMoment, runs: readonly FlowRun[], limit: number): boolean {
  const count = running(runs).length;
  return moment === 'first-running' ? count >= 1 : count >= Math.max(1, limit);
}

const stateOf = (run: FlowRun | undefined): string => run?.state_name ?? run?.state_type ?? '?';

/** One RUNNING run no fault has hit yet, preferring one the CLI does not watch (its log stays whole). */
function pickTarget(runs: readonly FlowRun[], hit: ReadonlySet<string>, primaryId: string | undefined) {
  const free = running(runs).filter((r) => !hit.has(r.id));
  return free.find((r) => r.id !== primaryId) ?? free[0];
}

/** The runs a fault is injected into, those already hit, the CLI's own, and the sandbox's processes if known. */
interface Scene {
  runs: readonly FlowRun[];
  hit: Set<string>;
  primaryId: string | undefined;
  hands: SandboxHands;
}

/** What faults that act on the sandbox's processes act with; absent anywhere else. */
export interface SandboxHands {
  processes?: FlowProcesses;
  workers?: WorkerControl;
  server?: ServerControl;
}

function inject(ctx: Context, pending: Pending, scene: Scene, held?: Held) {
  const { spec, record } = pending;
  const { runs, hit, primaryId } = scene;
  pending.startedMs = ctx.clock.now();
  record.injectedAt = ctx.now().toISOString();
  if (held) record.slotsAtInjection = held;
  for (const run of runs) {
    pending.seen.add(run.id);
    if (run.state_type !== 'RUNNING' && !TERMINAL.has(run.state_type ?? ''))
      pending.queued.set(run.id, { name: run.name, waitedSeconds: null });
  }
  if (spec.kind === 'command') return runCommand(ctx, pending, spec);
  if (spec.kind === 'restart-api' || spec.kind === 'api-outage')
    return stopServer(ctx, pending, spec, scene.hands.server);
  if (spec.kind === 'kill-worker')
    return killWorker(ctx, pending, spec, scene.hands.workers, { processes: scene.hands.processes, runs, hit });
  const target = pickTarget(runs, hit, primaryId);
  if (!target) return Promise.resolve();
  hit.add(target.id);
  record.target = { id: target.id, name: target.name };
  pending.queued.delete(target.id);
  return spec.kind === 'kill-flow'
    ? killOne(ctx, pending, target, scene.hands.processes)
    : cancelOne(ctx, pending, target);
}

/** Follows the fault's effect poll by poll: when the hit run is final, when each queued run starts. */
function follow(ctx: Context, pending: Pending, runs: readonly FlowRun[]): void {
  if (pending.startedMs === undefined) return;
  const seconds = Math.round((ctx.clock.now() - pending.startedMs) / 1000);
  const hit = runs.find((r) => r.id === pending.record.target?.id);
  pending.record.recovery ??= { queuedWaits: [] };
  const recovery = pending.record.recovery;
  if (hit && TERMINAL.has(hit.state_type ?? '') && recovery.secondsToFinal === undefined)
    recovery.secondsToFinal = seconds;
  for (const run of runs) {
    // A run first seen after the fault (the CLI's, found by its tag) waits from the fault on as well.
    const fresh = !pending.queued.has(run.id) && run.id !== pending.record.target?.id && !pending.seen.has(run.id);
    if (fresh && run.state_type !== 'RUNNING' && !TERMINAL.has(run.state_type ?? ''))
      pending.queued.set(run.id, { name: run.name, waitedSeconds: null });
    pending.seen.add(run.id);
    const queued = pending.queued.get(run.id);
    if (!queued || queued.waitedSeconds !== null || queued.endedAs) continue;
    if (run.state_type === 'RUNNING') queued.waitedSeconds = seconds;
    else if (TERMINAL.has(run.state_type ?? '')) queued.endedAs = stateOf(run);
  }
}

type Held = { limit: string; active: number; of: number };

/**
 * limit-reached with a concurrency key: one read of the key at a time; the waiting faults start once `need`
 * of its slots are held (or the limit is gone), or once their grace has passed without them.
 */
function keyGate(
  ctx: Context,
  key: KeySlots,
  need: number,
  start: (fault: Pending, held?: Held) => void,
  underWay: Promise<void>[],
): (waiting: Pending[]) => void {
  let probing = false;
  const graceOver = (f: Pending) => ctx.clock.now() - (f.reachedMs ?? ctx.clock.now()) >= KEY_SLOTS_GRACE_MS;
  return (waiting) => {
    if (probing) return;
    probing = true;
    const done = key
      .read()
      .catch(() => undefined)
      .then((slots) => {
        probing = false;
        const full = slots === undefined || slots.active >= Math.min(need, slots.limit);
        for (const fault of waiting) {
          if (fault.startedMs !== undefined || !(full || graceOver(fault))) continue;
          start(fault, slots && { limit: key.name, active: slots.active, of: slots.limit });
        }
      });
    underWay.push(done);
  };
}

const notReached = (spec: FaultSpec): Pending => ({
  spec,
  record: {
    kind: spec.kind,
    moment: spec.at,
    ...(spec.kind === 'command' ? { command: spec.command } : {}),
    status: 'not-reached',
  },
  queued: new Map(),
  seen: new Set(),
});

/** A fault's record once every run is final: the hit run's final state, the runs that waited, or why it never came. */
function closeRecord(ctx: Context, fault: Pending, finalRuns: readonly FlowRun[]): void {
  follow(ctx, fault, finalRuns);
  const target = finalRuns.find((r) => r.id === fault.record.target?.id);
  if (target && fault.record.recovery) fault.record.recovery.hitRunFinalState = stateOf(target);
  const touchedEnded = fault.record.touchedRuns?.map((t) => {
    const run = finalRuns.find((r) => r.id === t.id);
    return { run: t.name, state: stateOf(run), ...(run?.state?.message ? { message: run.state.message } : {}) };
  });
  if (touchedEnded?.length && fault.record.recovery) fault.record.recovery.touchedRunsEnded = touchedEnded;
  if (fault.record.recovery)
    fault.record.recovery.queuedWaits = [...fault.queued.values()].map(({ name, ...rest }) => ({
      run: name,
      ...rest,
    }));
  if (fault.record.status === 'not-reached')
    fault.record.reason = `the moment ${fault.spec.at} never came before every run was final`;
}

/** The last server fault's return, once it answered again: runs may be stranded behind the slots it forgot. */
const serverBack = (pending: readonly Pending[]): string | undefined =>
  pending.filter((f) => stopsServer(f.spec.kind) && f.serverDown === false).at(-1)?.record.action?.backAt;

/** Runs cancelled as stranded join the record of the server fault they followed. */
function keepStranded(pending: readonly Pending[], found: FaultRecord['strandedRuns']): void {
  const backAt = serverBack(pending);
  const back = backAt === undefined ? undefined : pending.find((f) => f.record.action?.backAt === backAt);
  if (found && back) back.record.strandedRuns = found;
}

/**
 * The faults of one run step, injected from its watch's polls (no loop of their own): each once, when its
 * moment is first observed. Injections run beside the watch; `settled` waits for them.
 */
export function faultScheduler(
  ctx: Context,
  specs: readonly FaultSpec[],
  limit: number,
  key?: KeySlots,
  hands: SandboxHands = {},
): FaultScheduler {
  const pending = specs.map(notReached);
  const hit = new Set<string>();
  const underWay: Promise<void>[] = [];
  let latest: { runs: readonly FlowRun[]; primaryId: string | undefined } = { runs: [], primaryId: undefined };

  const start = (fault: Pending, held?: Held) => {
    fault.startedMs = ctx.clock.now();
    const { runs, primaryId } = latest;
    underWay.push(
      inject(ctx, fault, { runs, hit, primaryId, hands }, held).catch((caught: unknown) => {
        fault.record.status = 'failed';
        fault.record.reason = ctx.redact(messageOf(caught));
      }),
    );
  };

  const probe = key && keyGate(ctx, key, Math.max(1, limit), start, underWay);
  const stranded = strandedWatch(ctx, key, hit, underWay);

  return {
    onRuns(runs, primaryId) {
      latest = { runs, primaryId };
      const waiting: Pending[] = [];
      for (const fault of pending) {
        follow(ctx, fault, runs);
        if (fault.startedMs !== undefined || !momentReached(fault.spec.at, runs, limit)) continue;
        // The server is stopped only once the CLI's own run exists: stopped earlier, the CLI would fail to create it.
        if (stopsServer(fault.spec.kind) && primaryId === undefined) continue;
        if (fault.spec.at !== 'limit-reached' || !key) {
          start(fault);
          continue;
        }
        fault.reachedMs ??= ctx.clock.now();
        waiting.push(fault);
      }
      if (waiting.length > 0) probe?.(waiting);
      stranded.onRuns(runs, serverBack(pending));
    },
    async settled(finalRuns) {
      // A key probe under way may start an injection of its own: wait until nothing new was started.
      for (let seen = -1; seen !== underWay.length; ) {
        seen = underWay.length;
        await Promise.all(underWay);
      }
      for (const fault of pending) closeRecord(ctx, fault, finalRuns);
      keepStranded(pending, stranded.found());
      return pending.map((fault) => fault.record);
    },
    hitRunIds: () => new Set(hit),
    serverDown: () => pending.some((fault) => fault.serverDown === true),
  };
}
