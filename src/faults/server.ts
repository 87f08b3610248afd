import { checkHealth } from '../prefect/queries.js';
import { isAlive, stopGroup } from '../process/daemon.js';
import { spawnServer } from '../sandbox/lifecycle.js';
import { sandboxApi } from '../sandbox/project-setup.js';
import { defaultStateDir, requireSandboxState, writeSandboxState } from '../sandbox/state.js';
import { waitForServerStart } from '../sandbox/wait.js';
import type { Clock } from '../util/clock.js';
import type { OutageGate } from './outage.js';

/**
 * restart-api's and api-outage's hands on the sandbox's API server: stop it as `sandbox down` does (its whole
 * process group, SIGTERM then SIGKILL), and start it again as `sandbox up` did (same port, database and
 * settings). The state file is rewritten with the new pid, so `sandbox status` and `sandbox down` find it.
 */
export interface ServerControl {
  /** Stop the server; the pid stopped, or undefined when none was alive. */
  stop(): Promise<number | undefined>;
  /**
   * Start it again and wait (never aborted: it is a rollback) until /health answers, the new process
   * exits, or `timeoutMs` passed.
   */
  start(timeoutMs: number, clock: Clock): Promise<{ pid: number; healthy: boolean; exited?: boolean }>;
}

/** How long a stopped server gets to end on SIGTERM before its group is killed. */
const STOP_GRACE_MS = 10_000;

/** The sandbox's server; `gate` holds the rehearsal's API calls from the stop until the server is started again. */
export function sandboxServerControl(env: NodeJS.ProcessEnv, gate?: OutageGate, uv?: string): ServerControl {
  const stateDir = defaultStateDir(env);
  const read = () => requireSandboxState(stateDir);
  return {
    async stop() {
      const state = await read();
      if (!isAlive(state.server.pid)) return undefined;
      gate?.begin();
      await stopGroup(state.server.pid, STOP_GRACE_MS);
      return state.server.pid;
    },
    async start(timeoutMs, clock) {
      try {
        const state = await read();
        const pid = await spawnServer(state, uv);
        const started = { ...state, server: { ...state.server, pid } };
        await writeSandboxState(started);
        const healthy = async () => (await checkHealth(sandboxApi(started))).ok;
        const outcome = await waitForServerStart(() => isAlive(pid), healthy, { timeoutMs, clock, intervalMs: 250 });
        return { pid, healthy: outcome === 'healthy', ...(outcome === 'exited' ? { exited: true } : {}) };
      } finally {
        gate?.end();
      }
    },
  };
}
