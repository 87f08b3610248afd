import { randomUUID } from 'node:crypto';
import fs from 'fs-extra';
import { expect } from 'vitest';
import { isAlive, processesWithEnv } from '../../src/process/daemon.js';
import { readProcStat } from '../../src/process/proc.js';
import { type SandboxState, sandboxWorkers } from '../../src/sandbox/state.js';
import { waitFor } from '../support/wait.js';
import { rehearse, sandbox } from './support.js';

export const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];

/** One fault of faults.json, as far as the e2e tests read it. */
export interface Fault {
  kind: string;
  slotsAtInjection?: { limit: string; active: number; of: number };
  touchedRuns?: { id: string; name: string }[];
  status: string;
  target?: { id: string; name: string };
  action?: { exitCode?: number | null; apiStatus?: number; killedPid?: number };
  recovery?: {
    hitRunFinalState?: string;
    secondsToFinal?: number;
    queuedWaits: unknown[];
    touchedRunsEnded?: { run: string; state: string; message?: string }[];
  };
}

interface ServerAction {
  stoppedPid: number;
  stoppedAt: string;
  restartedPid: number;
  backAt: string;
  downSeconds: number;
}

/**
 * restart-api and api-outage: the server `sandbox up` started was stopped; the state file names the new one,
 * on the same port, and it answered again after the stop.
 */
export async function expectServerRestarted(fault: Fault | undefined, before: SandboxState): Promise<ServerAction> {
  const action = fault?.action as unknown as ServerAction;
  expect(action.stoppedPid).toBe(before.server.pid);
  const after = await sandbox();
  expect(after.server.pid).toBe(action.restartedPid);
  expect(after.port).toBe(before.port);
  expect(isAlive(action.restartedPid)).toBe(true);
  expect(isAlive(action.stoppedPid)).toBe(false);
  expect(Date.parse(action.backAt)).toBeGreaterThan(Date.parse(action.stoppedAt));
  return action;
}

/**
 * `rehearse verify` on a fault rehearsal's bundle: the same exit code as the rehearsal, and the bundle holds up
 * (exit 1 is also a consistent failed bundle, so the exit code alone cannot tell).
 */
export async function expectVerified(dir: string, cwd: string, exitCode: number): Promise<void> {
  const verify = await rehearse(['verify', dir], { cwd });
  expect(verify.exitCode, verify.stdout).toBe(exitCode);
  expect(verify.stdout).toMatch(/^verified: /m);
}

/** An environment variable of one rehearse call: every process it starts inherits it (their envs extend its own). */
export const callMark = (): { REHEARSE_E2E_CALL: string } => ({ REHEARSE_E2E_CALL: randomUUID() });

/** The session a process belongs to (the sandbox starts each daemon as a session leader), from /proc. */
const sessionOf = async (pid: number): Promise<number | undefined> => (await readProcStat(pid))?.session;

/**
 * Once a fault rehearsal and its rollback are over: no flow process of its runs lives, and no process the call
 * started lives but the sandbox's own daemons a fault started again (a worker, the server) and what runs in
 * their sessions. Bounded, for the moment a final run's process takes to exit. Returns the daemons' processes
 * that carry the call's mark, so a test can show the scan sees what rehearse started.
 */
export async function expectNothingOfOursLeft(
  mark: ReturnType<typeof callMark>,
  runIds: readonly string[],
  waitMs = 60_000,
): Promise<number[]> {
  const state = await sandbox();
  const daemons = new Set([state.server.pid, ...sandboxWorkers(state).map((w) => w.pid)]);
  if (state.flowStarter) daemons.add(state.flowStarter.pid);
  let left: string[] = [];
  let kept: number[] = [];
  const clear = await waitFor("the rehearsal's processes to end", waitMs, async () => {
    left = [];
    kept = [];
    for (const id of runIds)
      for (const pid of await processesWithEnv('PREFECT__FLOW_RUN_ID', id)) left.push(`pid ${pid}: flow run ${id}`);
    for (const pid of await processesWithEnv('REHEARSE_E2E_CALL', mark.REHEARSE_E2E_CALL)) {
      const session = await sessionOf(pid);
      if (session !== undefined && daemons.has(session)) kept.push(pid);
      else if (isAlive(pid)) {
        const args = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        left.push(`pid ${pid}: ${args.replaceAll('\0', ' ').trim()}`);
      }
    }
    return left.length === 0 ? true : undefined;
  }).catch(() => false);
  expect(clear ? [] : left, 'processes of the rehearsal still alive').toEqual([]);
  return kept;
}
