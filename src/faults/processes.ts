import path from 'node:path';
import fs from 'fs-extra';
import { type ProcStat, readAllProcStats } from '../process/proc.js';
import { defaultStateDir, readSandboxState, sandboxWorkers } from '../sandbox/state.js';

/**
 * The processes a sandbox fault acts on, found through Linux's /proc: the sandbox records its workers' pids,
 * and a flow run's process is the worker's descendant whose environment names the run
 * (`PREFECT__FLOW_RUN_ID`, set by the worker). The topmost such descendant is the process the worker waits
 * for and judges the run by: with Prefect's own start it is the engine itself (the workspace supervisor
 * execs it in place); with the sandbox's warm flow starter it hands the run to a forked engine and ends
 * the way that engine ends, and the starter kills the engine when it is killed.
 */
export interface FlowProcesses {
  /** The pid of a flow run's process under one of the workers, if one lives. */
  findFlowProcess(flowRunId: string): Promise<number | undefined>;
  /** SIGKILL: the process cannot release anything, as when a node dies or the kernel kills it for memory. */
  kill(pid: number): void;
  /** The flow runs whose processes live under one process (a worker): the runs a kill of it touches. */
  runsUnder(pid: number): Promise<string[]>;
}

type ProcEntry = Pick<ProcStat, 'pid' | 'ppid'>;

const readEntries = async (procRoot: string): Promise<ProcEntry[]> => (await readAllProcStats(procRoot)) ?? [];

/** Every descendant of the roots, parents before their children. */
function descendantsOf(entries: readonly ProcEntry[], roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const { pid, ppid } of entries) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const found: number[] = [];
  const queue = [...roots];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The flow processes of the sandbox whose workers have these pids; `procRoot` is /proc but for tests. */
export function sandboxFlowProcesses(
  workerPids: readonly number[],
  options: { procRoot?: string; kill?: (pid: number, signal: NodeJS.Signals) => void } = {},
): FlowProcesses {
  const procRoot = options.procRoot ?? '/proc';
  const kill = options.kill ?? ((pid, signal) => process.kill(pid, signal));
  return {
    async findFlowProcess(flowRunId) {
      const wanted = `PREFECT__FLOW_RUN_ID=${flowRunId}`;
      // Breadth first: the first match is the topmost, the process the worker itself started.
      for (const pid of descendantsOf(await readEntries(procRoot), workerPids)) {
        const environ = await fs.readFile(path.join(procRoot, String(pid), 'environ'), 'utf8').catch(() => '');
        if (environ.split('\0').includes(wanted)) return pid;
      }
      return undefined;
    },
    kill: (pid) => kill(pid, 'SIGKILL'),
    async runsUnder(pid) {
      const found = new Set<string>();
      for (const child of descendantsOf(await readEntries(procRoot), [pid])) {
        const environ = await fs.readFile(path.join(procRoot, String(child), 'environ'), 'utf8').catch(() => '');
        const id = environ
          .split('\0')
          .find((entry) => entry.startsWith('PREFECT__FLOW_RUN_ID='))
          ?.slice('PREFECT__FLOW_RUN_ID='.length);
        if (id) found.add(id);
      }
      return [...found];
    },
  };
}

/** The sandbox's worker pids when rehearsing against it; none anywhere else (rehearse knows no processes there). */
export async function knownWorkerPids(sandbox: boolean, env: NodeJS.ProcessEnv): Promise<number[]> {
  if (!sandbox) return [];
  const state = await readSandboxState(defaultStateDir(env));
  return state ? sandboxWorkers(state).map((worker) => worker.pid) : [];
}
