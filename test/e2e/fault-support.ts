import { expect } from 'vitest';
import { isAlive } from '../../src/process/daemon.js';
import type { SandboxState } from '../../src/sandbox/state.js';
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
