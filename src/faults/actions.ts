import type { Context } from '../context.js';
import { tailOf } from '../errors.js';
import { cancelFlowRuns } from '../prefect/cancel.js';
import type { FlowRun } from '../prefect/schemas.js';
import type { FaultSpec } from './catalogue.js';
import type { FlowProcesses } from './processes.js';
import type { FaultRecord } from './record.js';

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
    pending.record.reason = `SIGKILL to pid ${pid} failed: ${(caught as Error).message}`;
    pending.record.action = { killedPid: pid, durationMs: durationMs() };
  }
}
