import type { FaultSpec } from '../config/faults.js';
import type { Context } from '../context.js';
import { messageOf, tailOf } from '../errors.js';
import type { FaultRecord } from '../guardrails/fault-record.js';
import { cancelFlowRuns } from '../prefect/cancel.js';
import type { FlowRun } from '../prefect/schemas.js';
import type { FlowProcesses } from './processes.js';
import type { ServerControl } from './server.js';
import type { WorkerControl } from './workers.js';

/** What each fault does once its moment has come; each fills in its record: status, action, reason. */

export interface Pending {
  spec: FaultSpec;
  record: FaultRecord;
  startedMs?: number;
  queued: Map<string, { name: string; waitedSeconds: number | null; endedAs?: string }>;
  /** Every run seen since the injection. */
  seen: Set<string>;
  /** When the runs first reached the moment, while the key's slots were still being waited for. */
  reachedMs?: number;
  /** restart-api, api-outage: the server is down on purpose, from its stop until /health answers again. */
  serverDown?: boolean;
}

export async function cancelOne(ctx: Context, pending: Pending, target: FlowRun): Promise<void> {
  const outcome = await cancelFlowRuns(ctx.api, [target.id], undefined, {
    reason: `Cancelled by rehearse: fault cancel-run injected at ${pending.spec.at}`,
    graceMs: 20_000,
    clock: ctx.clock,
  });
  const done = outcome.cancelled.find((r) => r.id === target.id);
  const ok = done !== undefined && done.status >= 200 && done.status < 300 && outcome.leftOver.length === 0;
  pending.record.status = ok ? 'injected' : 'failed';
  pending.record.action = {
    ...(done ? { apiStatus: done.status, state: done.state, ...(done.forced ? { forced: true } : {}) } : {}),
    durationMs: ctx.clock.now() - (pending.startedMs ?? ctx.clock.now()),
  };
  if (!ok) pending.record.reason = done ? `the server answered ${done.status}` : 'the run was final before the cancel';
}

export async function runCommand(ctx: Context, pending: Pending, spec: Extract<FaultSpec, { kind: 'command' }>) {
  const result = await ctx.runner.run({
    file: 'sh',
    args: ['-c', spec.command],
    cwd: ctx.cwd,
    readOnly: false,
    timeoutMs: spec.timeoutSeconds * 1000,
    group: true,
  });
  const ok = result.exitCode === 0 && !result.timedOut && !result.spawnError;
  pending.record.status = ok ? 'injected' : 'failed';
  pending.record.action = {
    exitCode: result.exitCode,
    timedOut: result.timedOut,
    outputTail: tailOf(ctx.redact(`${result.stdout}\n${result.stderr}`)),
    durationMs: result.durationMs,
  };
  if (!ok)
    pending.record.reason = result.timedOut
      ? `the command did not end within its deadline of ${spec.timeoutSeconds} s`
      : `the command exited ${result.exitCode ?? result.spawnError ?? 'by a signal'}`;
}

/**
 * kill-flow: SIGKILL the hit run's process, as a node that dies or the kernel's OOM killer would. Nothing in
 * it can release a slot or report a state: what follows is the worker's and the server's doing.
 */
export async function killOne(
  ctx: Context,
  pending: Pending,
  target: FlowRun,
  processes: FlowProcesses | undefined,
): Promise<void> {
  const pid = await processes?.findFlowProcess(target.id);
  const durationMs = () => ctx.clock.now() - (pending.startedMs ?? ctx.clock.now());
  if (pid === undefined) {
    pending.record.status = 'failed';
    pending.record.reason = processes
      ? `no process of ${target.name} was found under the sandbox's workers`
      : "the sandbox's workers are not known";
    pending.record.action = { durationMs: durationMs() };
    return;
  }
  try {
    processes?.kill(pid);
    pending.record.status = 'injected';
    pending.record.action = { killedPid: pid, durationMs: durationMs() };
  } catch (caught) {
    pending.record.status = 'failed';
    pending.record.reason = `SIGKILL to pid ${pid} failed: ${messageOf(caught)}`;
    pending.record.action = { killedPid: pid, durationMs: durationMs() };
  }
}

/**
 * kill-worker: SIGKILL a worker of the pool, keep it down for its seconds, then start it again. The restart is
 * in `finally`: an interrupted rehearsal (the signal cuts the wait short) or a failed wait still restarts it.
 */
export async function killWorker(
  ctx: Context,
  pending: Pending,
  spec: Extract<FaultSpec, { kind: 'kill-worker' }>,
  workers: WorkerControl | undefined,
  touched?: { processes: FlowProcesses | undefined; runs: readonly FlowRun[]; hit: Set<string> },
): Promise<void> {
  // The runs the worker supervises die or live with it: they are the fault's, not the untouched ones.
  const before = async (pid: number) => {
    const ids = (await touched?.processes?.runsUnder(pid)) ?? [];
    const runs = ids.map((id) => ({ id, name: touched?.runs.find((r) => r.id === id)?.name ?? id }));
    for (const run of runs) touched?.hit.add(run.id);
    if (runs.length > 0) pending.record.touchedRuns = runs;
  };
  const killed = await workers?.kill(before);
  if (!workers || !killed) {
    pending.record.status = 'failed';
    pending.record.reason = workers ? 'no sandbox worker was alive to kill' : "the sandbox's workers are not known";
    return;
  }
  const downAt = ctx.clock.now();
  pending.record.status = 'injected';
  pending.record.target = { id: String(killed.pid), name: `sandbox worker ${killed.n}` };
  pending.record.action = { killedPid: killed.pid, durationMs: 0 };
  try {
    await ctx.clock.sleep(spec.downSeconds * 1000, ctx.signal);
  } finally {
    const restartedAt = ctx.now().toISOString();
    const restartedPid = await workers.restart(killed.n);
    pending.record.action = {
      killedPid: killed.pid,
      restartedPid,
      restartedAt,
      downSeconds: Math.round((ctx.clock.now() - downAt) / 1000),
      durationMs: ctx.clock.now() - (pending.startedMs ?? downAt),
    };
  }
}

/** How long a restarted server has to answer /health, as `sandbox up` gives it. */
const SERVER_BACK_MS = 180_000;

/**
 * restart-api and api-outage: stop the sandbox's API server, keep it down for api-outage's seconds (none for
 * restart-api), start it again as up did and wait until /health answers. The start is in `finally`: an
 * interrupted rehearsal or a failed wait still brings the server back. While it is down, `serverDown` tells
 * the watch that a poll nobody answers is the fault's doing.
 */
export async function stopServer(
  ctx: Context,
  pending: Pending,
  spec: Extract<FaultSpec, { kind: 'restart-api' | 'api-outage' }>,
  server: ServerControl | undefined,
): Promise<void> {
  if (!server) {
    pending.record.status = 'failed';
    pending.record.reason = "the sandbox's server is not known";
    return;
  }
  const downAt = ctx.clock.now();
  const stoppedAt = ctx.now().toISOString();
  pending.serverDown = true;
  try {
    const stoppedPid = await server.stop();
    if (stoppedPid === undefined) {
      pending.record.status = 'failed';
      pending.record.reason = 'no sandbox server was alive to stop';
      return;
    }
    pending.record.status = 'injected';
    pending.record.target = { id: String(stoppedPid), name: 'sandbox API server' };
    pending.record.action = { stoppedPid, stoppedAt, durationMs: ctx.clock.now() - downAt };
    if (spec.kind === 'api-outage') await ctx.clock.sleep(spec.downSeconds * 1000, ctx.signal);
  } finally {
    await restartServer(ctx, pending, server, downAt);
  }
}

/** The rollback half: start the server again (also when the stop failed half way) and record when it answered. */
async function restartServer(ctx: Context, pending: Pending, server: ServerControl, downAt: number): Promise<void> {
  const restartedAt = ctx.now().toISOString();
  const back = await server.start(SERVER_BACK_MS, ctx.clock).finally(() => {
    pending.serverDown = false;
  });
  const seconds = Math.round((ctx.clock.now() - downAt) / 100) / 10;
  pending.record.action = {
    ...pending.record.action,
    restartedPid: back.pid,
    restartedAt,
    ...(back.healthy ? { backAt: ctx.now().toISOString() } : {}),
    downSeconds: seconds,
    durationMs: ctx.clock.now() - (pending.startedMs ?? downAt),
  };
  if (back.healthy) return;
  pending.record.status = 'failed';
  const why = back.exited
    ? 'exited before it answered /health'
    : `did not answer /health within ${SERVER_BACK_MS / 1000} s`;
  pending.record.reason = `the restarted server (pid ${back.pid}) ${why}; see the sandbox's server.log, \`rehearse sandbox up\` starts it again`;
}
