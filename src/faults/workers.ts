import { isAlive } from '../process/daemon.js';
import { DEFAULT_POOL, startWorker, waitForWorkers } from '../sandbox/project-setup.js';
import { defaultStateDir, requireSandboxState, sandboxWorkers, writeSandboxState } from '../sandbox/state.js';
import type { Clock } from '../util/clock.js';

/**
 * kill-worker's hands on the sandbox's workers: kill one outright (its whole process group: `uv run` and the
 * Python worker under it; the flow runs it started live on, in sessions of their own, as they would when a
 * worker's node loses the worker alone), start it again as up started it, and wait until the server hears
 * from it. The sandbox's state file is rewritten with the new pid, so `sandbox down` stops it.
 */
export interface WorkerControl {
  /**
   * SIGKILL the first live worker; which one (1-based) and its pid, or undefined when none lives. `before` runs
   * with its pid just before the kill (to see what the worker supervises while it still does).
   */
  kill(before?: (pid: number) => Promise<void>): Promise<{ n: number; pid: number } | undefined>;
  /** Start worker `n` again; its new pid. */
  restart(n: number): Promise<number>;
  /** Whether the server hears from every sandbox worker since `since` (the restart), within `timeoutMs`. */
  liveAgain(since: Date, timeoutMs: number, clock: Clock): Promise<boolean>;
}

const killGroup = (pid: number): void => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
};

export function sandboxWorkerControl(env: NodeJS.ProcessEnv, uv?: string): WorkerControl {
  const stateDir = defaultStateDir(env);
  const read = () => requireSandboxState(stateDir);
  return {
    async kill(before) {
      const workers = sandboxWorkers(await read());
      const index = workers.findIndex((worker) => isAlive(worker.pid));
      const worker = workers[index];
      if (!worker) return undefined;
      await before?.(worker.pid).catch(() => undefined);
      killGroup(worker.pid);
      return { n: index + 1, pid: worker.pid };
    },
    async restart(n) {
      const state = await read();
      const workers = [...sandboxWorkers(state)];
      const started = await startWorker(state, state.workPool ?? DEFAULT_POOL, { n, count: workers.length }, uv);
      workers[n - 1] = started;
      await writeSandboxState({ ...state, worker: workers[0], workers });
      return started.pid;
    },
    async liveAgain(since, timeoutMs, clock) {
      const state = await read();
      const pool = state.workPool ?? DEFAULT_POOL;
      const count = sandboxWorkers(state).length;
      const wait = await waitForWorkers(state, pool, count, { since, timeoutMs, clock, intervalMs: 1_000 });
      return wait.outcome === 'live';
    },
  };
}
